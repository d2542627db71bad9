/**
 * Memory over many loads: `npm run memory -- [--cycles 100] [--json]`. Runs N load → generate → dispose cycles
 * of stories260K, then N loads that fail half way (after GPU buffers were made), with a full GC after
 * each, and prints process RSS and JS heap at cycle 10 and at the end, their growth, and the live GPU
 * object counts (buffers, bind groups, pipelines) against the first cycle's. Needs --expose-gc (the npm
 * script passes it). The goal (issue 9): under 20 MB RSS and 2 MB heap growth from cycle 10 to 100.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import '../src/node/host.ts'; // paths, folders and Dawn, as the 'emberlm/node' entry installs them
import { Engine } from '../src/engine.ts';
import { writeGGUF } from '../src/gguf/writer.ts';
import { liveGpuObjects } from '../src/gpu/buffers.ts';
import { livePipelines } from '../src/gpu/pipelines.ts';
import { randomModelFile } from '../models/generate.ts';

const gc = (globalThis as { gc?: () => void }).gc;

export interface Sample {
  readonly rssMB: number;
  readonly heapMB: number;
  readonly buffers: number;
  readonly bindGroups: number;
  readonly pipelines: number;
}

async function sample(): Promise<Sample> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 5)); // let finalizers and Dawn's callbacks run between collections
  }
  const m = process.memoryUsage();
  const o = liveGpuObjects();
  return { rssMB: m.rss / 2 ** 20, heapMB: m.heapUsed / 2 ** 20, buffers: o.buffers, bindGroups: o.bindGroups, pipelines: livePipelines() };
}

/** A model that fails to load after its first layer's buffers are made (layer 1 lacks ffn_up). */
export function halfBrokenModel(): Uint8Array {
  const f = randomModelFile({ nEmbd: 64, nLayer: 2, nFf: 96, vocab: 300, seed: 9 });
  return writeGGUF({ ...f, tensors: f.tensors.filter((t) => t.name !== 'blk.1.ffn_up.weight') });
}

export async function measure(cycles: number, modelPath: string, log?: (line: string) => void): Promise<{ good: Sample[]; failed: Sample[] }> {
  if (!gc) throw new Error('run with node --expose-gc');
  const good: Sample[] = [];
  for (let i = 0; i < cycles; i++) {
    const e = await Engine.load(modelPath, { contextLength: 128 });
    await e.complete('Once upon a time', { temperature: 0, topK: 0, topP: 1, maxTokens: 16 });
    await e.embed(['Once upon a time', 'Lily wanted to']);
    e.dispose();
    good.push(await sample());
    if ((i + 1) % 10 === 0) log?.(`load/generate/embed/dispose ${i + 1}: ${fmt(good[i])}`);
  }
  const broken = halfBrokenModel();
  const failed: Sample[] = [];
  for (let i = 0; i < cycles; i++) {
    await Engine.load(broken, { contextLength: 128 }).then(
      (e) => {
        e.dispose();
        throw new Error('the broken model loaded');
      },
      () => undefined,
    );
    failed.push(await sample());
    if ((i + 1) % 10 === 0) log?.(`failed load ${i + 1}: ${fmt(failed[i])}`);
  }
  return { good, failed };
}

const fmt = (s: Sample) =>
  `RSS ${s.rssMB.toFixed(1)} MB, heap ${s.heapMB.toFixed(2)} MB, buffers ${s.buffers}, bind groups ${s.bindGroups}, pipelines ${s.pipelines}`;

function growth(label: string, xs: Sample[]): string {
  const a = xs[Math.min(9, xs.length - 1)], z = xs[xs.length - 1];
  return `${label}: cycle ${Math.min(10, xs.length)} -> ${xs.length}: RSS ${(z.rssMB - a.rssMB).toFixed(1)} MB (${a.rssMB.toFixed(1)} -> ${z.rssMB.toFixed(1)}), ` +
    `heap ${(z.heapMB - a.heapMB).toFixed(2)} MB (${a.heapMB.toFixed(2)} -> ${z.heapMB.toFixed(2)}); live at the end: buffers ${z.buffers}, bind groups ${z.bindGroups}, pipelines ${z.pipelines}`;
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--cycles');
  const cycles = i >= 0 ? Number(argv[i + 1]) : 100;
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const model = resolve(process.env.EMBERLM_MODELS ?? resolve(repo, '../shared/models'), 'stories260K/stories260K.gguf');
  readFileSync(model); // fail early and loudly when the fixture is missing
  const json = argv.includes('--json');
  const { good, failed } = await measure(cycles, model, json ? undefined : (s) => console.log(s));
  if (json) {
    const from = Math.min(9, cycles - 1);
    const delta = (xs: Sample[]) => ({ rssMB: xs[cycles - 1].rssMB - xs[from].rssMB, heapMB: xs[cycles - 1].heapMB - xs[from].heapMB, first: xs[0], last: xs[cycles - 1] });
    console.log(JSON.stringify({ cycles, from: from + 1, good: delta(good), failed: delta(failed) }));
    return;
  }
  console.log(growth('load -> generate -> embed -> dispose', good));
  console.log(growth('failed loads', failed));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main(process.argv.slice(2));

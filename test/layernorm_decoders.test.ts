/**
 * Phi-2, StableLM 2, GPT-NeoX, StarCoder2 and GPT-2 (ModelConfig.preLayerNorms) from GGUF files as llama.cpp's own
 * converter writes them (test/fixtures/<name>/<name>.llama-cpp.gguf: architectures phi2, stablelm, gptneox, starcoder2
 * and gpt2) to transformers' ids (the folders themselves: test/hf_oracle.test.ts). A GGUF's FFN runs GELU as llama.cpp's
 * graphs do, tanh's: for Phi-2, StarCoder2 and GPT-2 that is transformers' own; GPT-NeoX's folder runs erf's, so its
 * file's logits sit a little further from transformers'.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { configFromGGUF } from '../src/model/config.ts';
import { configFromHF } from '../src/hf/config.ts';
import { readGGUF, type GGUFFile } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { hfOracleFolder, hfOraclePath } from './helpers/models.ts';
import { teacherForced } from './helpers/teacher_forced.ts';
import { testGpu } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { withPatchedFolder } from './helpers/folders.ts';

interface OraclePrompt { prompt_ids: number[]; generated_ids: number[]; steps: { top_ids: number[]; top_logits: number[] }[] }

const fixture = (name: string) => resolve(import.meta.dirname, `fixtures/${name}/${name}.llama-cpp.gguf`);
const readFixture = (name: string) => readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(fixture(name))), `${name}.llama-cpp.gguf`));

describe.each([
  { name: 'phi2', tol: 2e-4, config: { arch: 'phi2', parallelFfn: 'shared', ffnGated: false, ffnAct: 'gelu_tanh', qkvBias: true } },
  { name: 'stablelm', tol: 2e-4, config: { arch: 'stablelm', parallelFfn: null, ffnGated: true, ffnAct: 'silu', qkvBias: true, nKv: 2 } },
  { name: 'gpt_neox', tol: 3e-3, config: { arch: 'gptneox', parallelFfn: 'own', ffnGated: false, ffnAct: 'gelu_tanh', qkvBias: true } },
  // llama.cpp's starcoder2 reads no window (its converter writes none): the file is the folder's model without one, whose
  // transformers run is starcoder2.nowindow.transformers.json
  { name: 'starcoder2', oracle: 'nowindow', tol: 2e-4, config: { arch: 'starcoder2', parallelFfn: null, ffnGated: false, ffnAct: 'gelu_tanh', qkvBias: true, nKv: 2, layerWindow: [0, 0, 0, 0] } },
  { name: 'gpt2', tol: 2e-4, config: { arch: 'gpt2', learnedPositions: true, layerRope: [false, false, false, false], ffnGated: false, ffnAct: 'gelu_tanh', qkvBias: true } },
])('$name as llama.cpp converts it', ({ name, oracle: variant, tol, config }: { name: string; oracle?: string; tol: number; config: object }) => {
  const oracle = JSON.parse(readFileSync(hfOraclePath(name).replace(/transformers\.json$/, `${variant ? `${variant}.` : ''}transformers.json`), 'utf8')) as { prompts: OraclePrompt[] };
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(fixture(name), { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads the folder\'s forward-pass config, GELU as llama.cpp runs it', () => {
    const hf = configFromHF(JSON.parse(readFileSync(resolve(hfOracleFolder(name), 'config.json'), 'utf8'))).config;
    const { name: _a, eps: e1, ffnAct: _f1, contextTrain: _c1, layerWindow: _w1, ...ours } = engine.model.config;
    const { name: _b, eps: e2, ffnAct: _f2, contextTrain: _c2, layerWindow: _w2, ...theirs } = hf;
    expect(ours).toEqual(theirs);
    expect(e1).toBe(Math.fround(e2));
    expect(engine.model.config).toMatchObject(config);
  });

  it('greedy ids and top logits equal transformers\'', async () => {
    let worst = 0;
    for (const p of oracle.prompts) {
      const run = await teacherForced(engine, p.prompt_ids, p);
      expect(run.ids).toEqual(p.generated_ids);
      worst = Math.max(worst, run.top);
    }
    console.log(`[${name} gguf] max |dlogit| ${worst.toExponential(2)} (tolerance ${tol})`);
    expect(worst).toBeLessThanOrEqual(tol);
  });
});

describe('GPT-2 as openai-community/gpt2 saves it: GPT2Model\'s names (wte.weight, h.N...), no transformer. prefix', () => {
  it('loads to transformers\' greedy ids, as the fixture\'s GPT2LMHeadModel names do', async () => {
    const p = (JSON.parse(readFileSync(hfOraclePath('gpt2'), 'utf8')) as { prompts: OraclePrompt[] }).prompts[3];
    await withPatchedFolder(hfOracleFolder('gpt2'), {}, async (dir) => {
      const file = join(dir, 'model.safetensors');
      const renamed = withoutPrefix(readFileSync(file), 'transformer.');
      rmSync(file); // (a link to the fixture: written through, it would change the fixture itself)
      writeFileSync(file, renamed);
      const engine = await Engine.load(dir, { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' });
      try {
        expect((await teacherForced(engine, p.prompt_ids, p)).ids).toEqual(p.generated_ids);
      } finally {
        engine.dispose();
      }
    });
  });
});

/** A safetensors file with `prefix` taken off its tensors' names (the header rewritten; the data, at offsets after it, kept). */
function withoutPrefix(file: Buffer, prefix: string): Uint8Array {
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
  const renamed = new TextEncoder().encode(JSON.stringify(Object.fromEntries(Object.entries(header).map(([k, v]) => [k.startsWith(prefix) ? k.slice(prefix.length) : k, v]))));
  const out = new Uint8Array(8 + renamed.length + file.length - 8 - length);
  new DataView(out.buffer).setBigUint64(0, BigInt(renamed.length), true);
  out.set(renamed, 8);
  out.set(file.subarray(8 + length), 8 + renamed.length);
  return out;
}

describe('pre-LayerNorm GGUF files emberlm does not run', () => {
  it('a stablelm file with q/k norms (StableLM 2 12B\'s per-head LayerNorms) is refused by name', async () => {
    const f = await readFixture('stablelm');
    const rewritten = rewriteWith(f, 'blk.0.attn_q_norm.weight');
    await expectEmberError(() => configFromGGUF(rewritten), 'UNSUPPORTED', /stablelm with q\/k norms \(blk\.0\.attn_q_norm: LayerNorms per head, StableLM 2 12B's\) is not supported/);
  });

  it('a stablelm file without ffn_norm runs its FFN beside attention, as llama.cpp\'s graph does', async () => {
    const f = await readFixture('stablelm');
    const names = [...f.tensors.keys()].filter((n) => !/^blk\.\d+\.ffn_norm\./.test(n));
    const c = configFromGGUF({ ...f, tensors: new Map(names.map((n) => [n, f.tensors.get(n)!])) });
    expect(c.parallelFfn).toBe('shared');
  });
});

/** The file with one more tensor by name, a copy of attn_norm's entry (only its config is read: no data needed). */
function rewriteWith(f: GGUFFile, extra: string): GGUFFile {
  const t = f.tensors.get('blk.0.attn_norm.weight')!;
  return { ...f, tensors: new Map([...f.tensors, [extra, { ...t, name: extra }]]) };
}

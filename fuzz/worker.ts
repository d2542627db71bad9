/**
 * A fuzz worker: a child process that loads the corpus once, then runs the cases its parent sends
 * (`{ seed, index }`) through the real loader, `Engine.load`, and on success a short greedy generation.
 * It answers each with the outcome; the parent enforces the time bound (a case that does not answer is
 * a hang) and watches for crashes and memory.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import '../src/node/host.ts'; // paths, folders and Dawn, as the 'emberlm/node' entry installs them
import { Engine } from '../src/engine.ts';
import { EmberError } from '../src/errors.ts';
import { loadCorpus, makeCase, type FuzzCase } from './cases.ts';

export type Outcome = 'ok' | 'typed' | 'raw' | 'unreadable' | 'wrong-output' | 'hang' | 'crash' | 'memory';

export interface CaseResult {
  readonly index: number;
  readonly kind: string;
  readonly base: string;
  readonly what: string;
  readonly outcome: Outcome;
  readonly code?: string;
  readonly message?: string;
  readonly ms: number;
  readonly rssMB: number;
  readonly heapMB: number;
}

/** A message a person can read: short, no control characters but newlines and tabs. */
export function isReadable(message: string): boolean {
  // eslint-disable-next-line no-control-regex
  return message.length <= 700 && !/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(message);
}

async function input(c: FuzzCase, dir: string): Promise<string | Uint8Array> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  if (c.gguf) {
    if (c.index % 2 === 0) return c.gguf; // half from bytes, half from a path
    const p = join(dir, 'model.gguf');
    await writeFile(p, c.gguf);
    return p;
  }
  for (const [name, entry] of c.folder!) {
    if (entry === 'missing') continue;
    await mkdir(dirname(join(dir, name)), { recursive: true }); // (sentence-transformers modules sit in subfolders)
    if (entry === 'directory') await mkdir(join(dir, name), { recursive: true });
    else await writeFile(join(dir, name), entry);
  }
  return dir;
}

async function run(c: FuzzCase, dir: string): Promise<Pick<CaseResult, 'outcome' | 'code' | 'message'>> {
  try {
    const engine = await Engine.load(await input(c, dir), { contextLength: 64, ...(c.lora ? { lora: [{ adapter: c.lora }] } : {}) });
    try {
      if (!engine.config.bidirectional) { // (an EmbeddingGemma embeds only)
        const res = await engine.complete('Once upon a time', { temperature: 0, topK: 0, topP: 1, maxTokens: 4 });
        const vocab = engine.config.vocab;
        const bad = res.ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
        if (bad !== undefined || typeof res.text !== 'string') return { outcome: 'wrong-output', message: `generated id ${bad} outside 0..${vocab - 1}` };
      }
      if (engine.config.pooling === 'rank' && engine.config.bidirectional) { // (a cross-encoder reranks only)
        const { scores } = await engine.rerank('Once upon a time', ['Lily', 'wanted to play']);
        const [alone] = (await engine.rerank('Once upon a time', ['Lily'])).scores;
        if (!scores.every((s) => s >= 0 && s <= 1) || !(Math.abs(scores[0] - alone) < 1e-3)) return { outcome: 'wrong-output', message: `scores ${scores.join(', ')}, the first alone ${alone}` };
        return { outcome: 'ok' };
      }
      const [e] = (await engine.embed('Once upon a time')).embeddings; // pooled as the model says (its Dense layers may change the width)
      if (e.length === 0 || !e.every(Number.isFinite)) return { outcome: 'wrong-output', message: `an embedding of ${e.length} values, finite: ${e.every(Number.isFinite)}` };
      // The same text beside others, in one pass where the model runs several (passes of maxBatch): the same embedding.
      engine.tuning.passMs = Infinity;
      const [first] = (await engine.embed(['Once upon a time', 'Lily', 'wanted to play'])).embeddings;
      const apart = Math.max(...e.map((v, i) => Math.abs(v - first[i])));
      if (!(apart < 1e-3)) return { outcome: 'wrong-output', message: `an embedding ${apart} away from its own beside two other inputs` };
      return { outcome: 'ok' };
    } finally {
      engine.dispose();
    }
  } catch (e) {
    if (!(e instanceof EmberError)) return { outcome: 'raw', message: `${(e as Error)?.name}: ${String((e as Error)?.message ?? e).slice(0, 2000)}\n${String((e as Error)?.stack ?? '').slice(0, 2000)}` };
    return { outcome: isReadable(e.message) ? 'typed' : 'unreadable', code: e.code, message: e.message.slice(0, 2000) };
  }
}

async function main(): Promise<void> {
  const corpus = loadCorpus();
  const dir = process.argv[2];
  process.on('message', async (msg: { seed: number; index: number }) => {
    const c = makeCase(corpus, msg.seed, msg.index);
    const t0 = performance.now();
    const r = await run(c, dir);
    const mem = process.memoryUsage();
    const result: CaseResult = {
      index: c.index, kind: c.kind, base: c.base, what: c.what.slice(0, 300), ...r,
      ms: performance.now() - t0, rssMB: mem.rss / 2 ** 20, heapMB: mem.heapUsed / 2 ** 20,
    };
    process.send!(result);
  });
  process.send!({ ready: true });
}

if (process.send) void main();

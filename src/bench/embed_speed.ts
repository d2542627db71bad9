/**
 * Embedding speed (`emberlm bench --embed`): how long `embed` takes for a list of `inputs` inputs (default one) of each
 * length, on a model as it loads (an embedding model's own pooling: EmbeddingGemma's one pass per input, mean and Dense
 * layers), with several inputs a pass and/or one a pass (`batch`: engine.tuning.batchInputs), the two alternating. The
 * inputs are random ids of the tokenizer's vocabulary; one untimed call of each length and way first compiles what its
 * passes run (and sizes the tuned passes that batches fill).
 */
import { Engine, type ModelInput } from '../engine.ts';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import type { QuantScheme } from '../model/weight_source.ts';
import type { KvCacheType } from '../kernels/kv_layout.ts';
import { mulberry32 } from '../util/rng.ts';

export interface EmbedSpeedRow {
  prompt_tokens: number; // of each input
  inputs: number; // of the embed call
  batched: boolean; // engine.tuning.batchInputs
  passes: number; // forward passes an embed call ran (the median call's; one a pass: `inputs` where each fits one pass)
  /** Median, fastest and slowest of the repeats, ms for the whole embed call (the inputs' passes, the pooling). */
  ms: { median: number; min: number; max: number };
  tok_s: number; // inputs * prompt_tokens / median
}

export interface EmbedSpeedReport {
  model: string;
  quant: QuantScheme;
  kv_cache: KvCacheType | 'default';
  device: string;
  bidirectional: boolean;
  pooling: string;
  width: number; // values an embedding holds
  max_batch: number;
  load_ms: number;
  weight_bytes: number;
  loadavg_1m: { start: number | null; end: number | null }; // (null in a browser)
  rows: EmbedSpeedRow[];
}

export interface EmbedSpeedOptions {
  model?: string; // the name printed
  gpu: Gpu;
  quant: QuantScheme;
  kvCache?: KvCacheType;
  promptTokens: readonly number[];
  /** Inputs an embed call takes (default 1). */
  inputs?: number;
  /** Several inputs a pass (true) and/or one a pass (false), side by side (default [true]). */
  batch?: readonly boolean[];
  repeats: number;
  /** How the model is found (a Hub mirror, a token); the rest is the benchmark's. */
  load?: { hubUrl?: string; hubToken?: string };
  onProgress?: (message: string) => void;
  /** The host's 1-minute load average (Node's os.loadavg()[0]; none in a browser). */
  loadavg?: () => number;
}

export async function runEmbedSpeed(input: ModelInput, o: EmbedSpeedOptions): Promise<EmbedSpeedReport> {
  if (!(Number.isInteger(o.repeats) && o.repeats >= 1)) throw new EmberError('BAD_ARGUMENT', `repeats must be a positive integer, got ${o.repeats}`);
  if (!(Number.isInteger(o.inputs ?? 1) && (o.inputs ?? 1) >= 1)) throw new EmberError('BAD_ARGUMENT', `inputs must be a positive integer, got ${o.inputs}`);
  const start = o.loadavg?.() ?? null;
  const say = o.onProgress ?? (() => {});
  say(`${o.model ?? 'model'}: loading`);
  const t0 = performance.now();
  // The context (and with it a one-pass model's maxBatch) the longest input's, or for a list the model's own, so that a
  // pass has room for several inputs.
  const contextLength = (o.inputs ?? 1) > 1 ? undefined : Math.max(...o.promptTokens);
  const e = await Engine.load(input, { ...o.load, gpu: o.gpu, quant: o.quant, kvCache: o.kvCache, contextLength });
  const loadMs = performance.now() - t0;
  try {
    const rand = mulberry32(1);
    const vocab = e.tokenizer.vocabSize;
    const inputs = o.inputs ?? 1;
    const batch = o.batch ?? [true];
    const list = (n: number) => Array.from({ length: inputs }, () => Array.from({ length: n }, () => Math.floor(rand() * vocab)));
    const rows: EmbedSpeedRow[] = [];
    let width = 0;
    for (const n of o.promptTokens) {
      const runs = batch.map(() => [] as { ms: number; passes: number }[]);
      for (let r = -1; r < o.repeats; r++) { // (-1: the warm-up)
        for (const [b, batched] of batch.entries()) {
          say(`${inputs} x ${n} tokens, ${batched ? 'batched' : 'one a pass'}: ${r < 0 ? 'warm-up' : `run ${r + 1}/${o.repeats}`}`);
          e.tuning.batchInputs = batched;
          const reads = e.model.readback.reads; // (a read per pass submitted)
          const t = performance.now();
          width = (await e.embed(list(n))).embeddings[0].length;
          if (r >= 0) runs[b].push({ ms: performance.now() - t, passes: e.model.readback.reads - reads });
        }
      }
      for (const [b, batched] of batch.entries()) {
        const sorted = runs[b].sort((x, y) => x.ms - y.ms);
        const median = sorted[Math.floor(sorted.length / 2)];
        const ms = { median: median.ms, min: sorted[0].ms, max: sorted.at(-1)!.ms };
        rows.push({ prompt_tokens: n, inputs, batched, passes: median.passes, ms, tok_s: (inputs * n) / (median.ms / 1000) });
      }
    }
    const c = e.config;
    return {
      model: o.model ?? 'model', quant: o.quant, kv_cache: o.kvCache ?? 'default', device: o.gpu.caps.adapterName,
      bidirectional: c.bidirectional, pooling: e.embedPooling, width, max_batch: e.model.maxBatch, load_ms: loadMs,
      weight_bytes: e.model.weightBytes, loadavg_1m: { start, end: o.loadavg?.() ?? null }, rows,
    };
  } finally {
    await e.dispose();
  }
}

/**
 * Quantization quality: each weight-storage scheme against the f32 run of the same model, on the
 * next-token distribution at every position of some texts (teacher-forced: the text's own tokens
 * are fed one at a time through the decode path, and the logits read back after each).
 *
 * Per scheme: KL(P_f32 ‖ Q_scheme) per position (mean, p99, max; nats), top-1 agreement (argmax
 * equal), perplexity of the text under the scheme, and bytes per parameter on the GPU. Environment
 * neutral; the CLI (src/cli/quality.ts) reads the texts.
 *
 * The reference is f32 weights with an f32 K/V cache. Weight schemes run with an f32 cache, and K/V
 * cache types (`kvCaches`) with f32 weights, so each row measures one kind of rounding alone.
 */
import { Engine, type LoadOptions, type ModelInput } from '../engine.ts';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import { forward, readLogits, type Model } from '../model/model.ts';
import { checkQuantScheme, type QuantScheme } from '../model/weight_source.ts';
import { bytesPerParam, logSoftmax, QualityAccumulator } from './metrics.ts';
import { kvBytesPerPosition, type KvCacheType } from '../kernels/kv_layout.ts';
import { kvCacheOption } from '../options.ts';

export interface QualityRow {
  quant: QuantScheme;
  bytes_per_param: number;
  kld_mean: number;
  kld_p99: number;
  kld_max: number;
  top1: number;
  ppl: number;
}

/** A K/V cache type against the f32 cache, both with f32 weights. */
export interface KvQualityRow {
  kv_cache: KvCacheType;
  bytes_per_position: number; // K and V of one position over all layers
  kld_mean: number;
  kld_p99: number;
  kld_max: number;
  top1: number;
  ppl: number;
}

export interface QualityReport {
  model: string;
  device: string;
  reference: QuantScheme; // always 'f32'
  reference_ppl: number;
  reference_bytes_per_param: number;
  params: number;
  texts: number;
  positions: number; // next-token predictions scored per scheme
  results: QualityRow[];
  reference_kv_cache: KvCacheType; // always 'f32'
  reference_kv_bytes_per_position: number;
  kv_results: KvQualityRow[];
}

export interface QualityOptions {
  model?: string; // the name printed
  gpu: Gpu;
  schemes: readonly QuantScheme[];
  /** K/V cache types to compare with the f32 cache (default none). */
  kvCaches?: readonly KvCacheType[];
  /** Each is tokenized with BOS; one longer than `window` tokens is cut into windows scored separately. */
  texts: readonly string[];
  window?: number; // default min(model context, 1024)
  onProgress?: (message: string) => void;
  /** How the model is found (a Hub mirror, the downloads cache); quant, kvCache, gpu and batch are the report's. */
  load?: Pick<LoadOptions, 'hubUrl' | 'fileCache'>;
}

const GREEDY = { temperature: 0, topK: 0, topP: 1 };

/** Feeds each window one token at a time and hands the logits after each token (predicting the next) to `use`. */
async function walk(m: Model, windows: readonly number[][], use: (logits: Float32Array, next: number) => void): Promise<void> {
  for (const ids of windows) {
    for (let i = 0; i + 1 < ids.length; i++) {
      await forward(m, [ids[i]], i, GREEDY, 0);
      use(await readLogits(m), ids[i + 1]);
    }
  }
}

export async function runQuality(input: ModelInput, o: QualityOptions): Promise<QualityReport> {
  for (const s of o.schemes) checkQuantScheme(s);
  for (const k of o.kvCaches ?? []) kvCacheOption(k);
  if (o.texts.length === 0) throw new EmberError('BAD_ARGUMENT', 'quality needs at least one text');
  const say = o.onProgress ?? (() => {});
  const load = o.load ?? {};

  say('reference (f32)');
  const ref = await Engine.load(input, { ...load, quant: 'f32', kvCache: 'f32', gpu: o.gpu, maxBatch: 1 });
  const c = ref.model.config;
  if (c.bidirectional) {
    ref.dispose();
    throw new EmberError('UNSUPPORTED', `${o.model ?? 'the model'} attends both ways, an embedding model: it has no next-token distribution to score; its embeddings are (emberlm quality --embed, runEmbedQuality)`);
  }
  const params = ref.model.params; // the file's tensors (a GGUF's, a Hugging Face folder's), the tied head once
  const kvPerPosition = (k: KvCacheType) => c.nLayer * kvBytesPerPosition(k, c.nKv, c.headDim);
  const window = Math.min(o.window ?? 1024, ref.model.nCtx);
  const windows: number[][] = [];
  for (const t of o.texts) {
    const ids = ref.tokenize(t); // (BOS where the tokenizer puts one, as llama.cpp's perplexity: not Qwen's)
    for (let i = 0; i < ids.length; i += window) windows.push(ids.slice(i, i + window));
  }
  const refLogits: Float32Array[] = [];
  const refAcc = new QualityAccumulator();
  let refBytes: number;
  try {
    refBytes = ref.model.weightBytes;
    await walk(ref.model, windows, (logits, next) => {
      refLogits.push(logits);
      const lp = logSoftmax(logits);
      refAcc.add(lp, lp, next);
    });
  } finally {
    ref.dispose();
  }
  if (refLogits.length === 0) throw new EmberError('BAD_ARGUMENT', 'the texts have no position to score (each needs at least one token after BOS)');

  /** Loads a variant, scores it against the reference, and hands the model (for its sizes) and the metrics to `row`. */
  type Row = (m: Model, r: ReturnType<QualityAccumulator['result']>) => void;
  const score = async (quant: QuantScheme, kvCache: KvCacheType, row: Row) => {
    const e = await Engine.load(input, { ...load, quant, kvCache, gpu: o.gpu, maxBatch: 1, contextLength: ref.model.nCtx });
    try {
      const acc = new QualityAccumulator();
      let i = 0;
      await walk(e.model, windows, (logits, next) => acc.add(logSoftmax(refLogits[i++]), logSoftmax(logits), next));
      row(e.model, acc.result());
    } finally {
      e.dispose();
    }
  };
  const results: QualityRow[] = [];
  for (const quant of o.schemes) {
    say(quant);
    await score(quant, 'f32', (m, r) => {
      results.push({ quant, bytes_per_param: bytesPerParam(m.weightBytes, params), ...r });
    });
  }
  const kvResults: KvQualityRow[] = [];
  for (const kv of o.kvCaches ?? []) {
    say(`K/V cache ${kv}`);
    await score('f32', kv, (_m, r) => kvResults.push({ kv_cache: kv, bytes_per_position: kvPerPosition(kv), ...r }));
  }
  return {
    model: o.model ?? 'model',
    device: o.gpu.caps.adapterName,
    reference: 'f32',
    reference_ppl: refAcc.result().ppl,
    reference_bytes_per_param: bytesPerParam(refBytes, params),
    params,
    texts: o.texts.length,
    positions: refLogits.length,
    results,
    reference_kv_cache: 'f32',
    reference_kv_bytes_per_position: kvPerPosition('f32'),
    kv_results: kvResults,
  };
}

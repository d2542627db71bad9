/**
 * Quantization quality of an embedding model: each weight-storage scheme (with an f32 K/V cache) and each K/V cache type
 * (with f32 weights) against the f32 run of the same model, by the cosine similarity of each text's embedding to the
 * reference's (mean and worst over the texts) and how often each text's nearest other text stays the same, which is what
 * a search over those embeddings would return. A text longer than the model takes in one input is cut into windows, each
 * embedded as an input.
 */
import { Engine, type ModelInput } from '../engine.ts';
import { EmberError } from '../errors.ts';
import { checkQuantScheme, type QuantScheme } from '../model/weight_source.ts';
import { kvBytesPerPosition, type KvCacheType } from '../kernels/kv_layout.ts';
import { kvCacheOption } from '../options.ts';
import { bytesPerParam } from './metrics.ts';
import type { QualityOptions } from './quality.ts';

/** Cosine similarity to the reference's embeddings: mean and worst over the inputs; nearest: the share of inputs whose nearest other input is the reference's. */
export interface EmbedMetrics { cos_mean: number; cos_min: number; nearest: number }

export interface EmbedQualityReport {
  model: string;
  device: string;
  reference: QuantScheme; // always 'f32', with an f32 K/V cache
  reference_bytes_per_param: number;
  params: number;
  texts: number;
  inputs: number; // the texts' windows, each embedded
  width: number; // values an embedding holds
  results: (EmbedMetrics & { quant: QuantScheme; bytes_per_param: number })[];
  kv_results: (EmbedMetrics & { kv_cache: KvCacheType; bytes_per_position: number })[];
}

export async function runEmbedQuality(input: ModelInput, o: QualityOptions): Promise<EmbedQualityReport> {
  for (const s of o.schemes) checkQuantScheme(s);
  for (const k of o.kvCaches ?? []) kvCacheOption(k);
  if (o.texts.length === 0) throw new EmberError('BAD_ARGUMENT', 'quality needs at least one text');
  const say = o.onProgress ?? (() => {});
  const load = { ...o.load, gpu: o.gpu };
  say('reference (f32)');
  const ref = await Engine.load(input, { ...load, quant: 'f32', kvCache: 'f32' });
  // Inputs in passes of maxBatch tokens, the same in every run: passes sized by their measured time would batch the
  // inputs differently from run to run, which moves an embedding in its last bits (a score's order, RoPE's angles).
  ref.tuning.passMs = Infinity;
  let inputs: number[][], reference: Float32Array[], refBytes: number;
  const { params, nCtx, config: c } = ref.model;
  try {
    const window = Math.min(o.window ?? 1024, ref.model.maxBatch, nCtx);
    inputs = o.texts.flatMap((t) => {
      const ids = [...ref.tokenize(t), ...ref.tokenizer.endIds]; // (BOS where the tokenizer puts one: embed's own ids)
      return Array.from({ length: Math.ceil(ids.length / window) }, (_, i) => ids.slice(i * window, (i + 1) * window));
    });
    reference = (await ref.embed(inputs)).embeddings;
    refBytes = ref.model.weightBytes;
  } finally {
    await ref.dispose();
  }
  const score = async (quant: QuantScheme, kvCache: KvCacheType): Promise<EmbedMetrics & { weightBytes: number }> => {
    const e = await Engine.load(input, { ...load, quant, kvCache, contextLength: nCtx });
    e.tuning.passMs = Infinity;
    try {
      return { ...compare(reference, (await e.embed(inputs)).embeddings), weightBytes: e.model.weightBytes };
    } finally {
      await e.dispose();
    }
  };
  const results: EmbedQualityReport['results'] = [];
  for (const quant of o.schemes) {
    say(quant);
    const { weightBytes, ...m } = await score(quant, 'f32');
    results.push({ quant, bytes_per_param: bytesPerParam(weightBytes, params), ...m });
  }
  const kvResults: EmbedQualityReport['kv_results'] = [];
  for (const kv of o.kvCaches ?? []) {
    say(`K/V cache ${kv}`);
    const { weightBytes: _, ...m } = await score('f32', kv);
    kvResults.push({ kv_cache: kv, bytes_per_position: c.nLayer * kvBytesPerPosition(kv, c.nKv, c.headDim), ...m });
  }
  return {
    model: o.model ?? 'model', device: o.gpu.caps.adapterName, reference: 'f32', reference_bytes_per_param: bytesPerParam(refBytes, params),
    params, texts: o.texts.length, inputs: inputs.length, width: reference[0].length, results, kv_results: kvResults,
  };
}

/** The metrics of `got` against `want`, input by input. */
export function compare(want: readonly Float32Array[], got: readonly Float32Array[]): EmbedMetrics {
  const cos = want.map((w, i) => cosine(w, got[i]));
  const nearestOf = (set: readonly Float32Array[], i: number) => {
    let best = -1, at = -1;
    set.forEach((v, j) => {
      const s = j === i ? -Infinity : cosine(set[i], v);
      if (s > best) [best, at] = [s, j];
    });
    return at;
  };
  const same = want.filter((_, i) => nearestOf(want, i) === nearestOf(got, i)).length;
  return { cos_mean: cos.reduce((a, b) => a + b, 0) / cos.length, cos_min: Math.min(...cos), nearest: want.length > 1 ? same / want.length : 1 };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

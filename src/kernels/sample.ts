import source from '../../shaders/sample.wgsl?raw';
import type { Gpu } from '../gpu/device.ts';
import { writeBuffer, type Allocator } from '../gpu/buffers.ts';
import { getPipeline, shaderText } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { EmberError } from '../errors.ts';
import { LOGIT_BIAS_CAP, LOGPROBS_CAP, type ResolvedSampling } from '../sampling.ts';
import { bindGroup, ceilDiv, encodeDispatches, staticUniform, type Binding, type Dispatch } from './dispatch.ts';

/** The sampler's result where a logit is NaN or infinite (shaders/sample.wgsl NONFINITE): no token was chosen. */
export const NONFINITE_LOGITS = 0xffffffff;

export const SAMPLE_PARAMS = new UniformLayout('Params', [
  ['n_valid', 'u32'],
  ['seen_cap', 'u32'],
  ['n_parts', 'u32'],
  ['pad1', 'u32'],
] as const);
export const SAMPLE_SOURCE = source;
const WG = 256;
// The pick is one workgroup; on CPU adapters it runs on one core either way, and each SIMD group of a large workgroup
// costs a switch at every barrier: SwiftShader 0.52-0.61 against 2.19-2.83 ms a token in workgroups of 8 (SmolLM2's
// 49,152 logits, greedy, alternating twice), lavapipe 0.07 against 0.11-0.19.
const pickWorkgroup = (cpu: boolean) => (cpu ? 8 : WG);
/**
 * Workgroups of `part`, at most 256 (what main then reads): on a GPU enough that a lane reads ~8 logits; on a CPU
 * adapter ~1,024 (a few workgroups: lavapipe runs them one after another, and 256 of 8 lanes took 0.22 against 0.08 ms
 * a token for SmolLM2's 49,152 logits in one, `emberlm bench` alternating twice).
 */
const MAX_PARTS = 256;
export const sampleParts = (nValid: number, wg: number, cpu: boolean) => Math.max(1, Math.min(MAX_PARTS, Math.ceil(nValid / (wg * (cpu ? 1024 : 8)))));

export interface SampleArgs {
  vocab: number; // rows of the logits
  nValid: number; // ids below it can be chosen: the tokenizer's vocabulary (<= vocab)
  logits: GPUBuffer; // (vocab) f32, bias and penalties applied in place
  result: GPUBuffer; // (1) u32
  step: GPUBuffer; // sampling settings, uniform_rand, record
}

/** The sampler's dispatch plus its per-request state, all made at load. */
export interface Sampler {
  readonly pick: readonly Dispatch[]; // choose the token: `part` (the logits adjusted, each chunk's extremes), then one workgroup
  readonly mark: Dispatch; // flags the prompt's ids at the start of a request (grid: the number of distinct ids)
  readonly counts: GPUBuffer; // (vocab) u32: bit 31 = in the prompt, bits 0..30 = times generated
  readonly seen: GPUBuffer; // (1 + vocab) u32: [n, ids whose count is not 0]
  readonly bias: GPUBuffer; // (LOGIT_BIAS_CAP, 2) (u32 id, f32 value)
  readonly allowed: GPUBuffer; // (ceil(vocab / 32)) u32: the tokens a grammar allows next, read where step.masked is 1
  /** After `pick`, where step.logprobs is set: the chosen token's log-probability and the likeliest tokens' into `lp`. */
  readonly logprobs: Dispatch;
  readonly lp: GPUBuffer; // (LOGPROBS_WORDS) u32: [chosen's log-probability bits, k, (id, log-probability bits) x k]
}

/** `Sampler.lp`'s size in words. */
export const LOGPROBS_WORDS = 2 + 2 * LOGPROBS_CAP;

/** A sampled token's log-probability and its alternatives', as the `logprobs` pass wrote them. */
export interface TokenLogprobs {
  logprob: number;
  top: { id: number; logprob: number }[];
}

/** Reads `Sampler.lp`'s words. */
export function decodeLogprobs(words: Uint32Array): TokenLogprobs {
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  const k = Math.min(words[1], LOGPROBS_CAP);
  return { logprob: f[0], top: Array.from({ length: k }, (_, j) => ({ id: words[2 + 2 * j], logprob: f[3 + 2 * j] })) };
}

export async function buildSample(gpu: Gpu, alloc: Allocator, a: SampleArgs): Promise<Sampler> {
  const code = shaderText(source);
  const wg = pickWorkgroup(gpu.caps.cpu);
  const [partPipeline, pickPipeline, markPipeline, logprobsPipeline] = await Promise.all([
    getPipeline(gpu, 'sample/part', code, 'part', { WG: wg }),
    getPipeline(gpu, 'sample/pick', code, 'main', { WG: wg }),
    getPipeline(gpu, 'sample/mark', code, 'mark', { WG }),
    getPipeline(gpu, 'sample/logprobs', code, 'logprobs', { WG: wg }),
  ]);
  const nValid = Math.min(a.nValid, a.vocab);
  const nParts = sampleParts(nValid, wg, gpu.caps.cpu);
  const params = staticUniform(alloc, 'sample.params', SAMPLE_PARAMS, {
    n_valid: nValid,
    seen_cap: a.vocab,
    n_parts: nParts,
    pad1: 0,
  });
  const counts = alloc.storage('sample.counts', a.vocab * 4);
  const seen = alloc.storage('sample.seen', (1 + a.vocab) * 4);
  const bias = alloc.storage('sample.bias', LOGIT_BIAS_CAP * 8);
  const parts = alloc.storage('sample.parts', nParts * 16);
  const allowed = alloc.storage('sample.allowed', ceilDiv(a.vocab, 32) * 4);
  const lp = alloc.storage('sample.lp', LOGPROBS_WORDS * 4);
  const partBindings = [params, a.step, a.logits, null, counts, seen, bias, parts, allowed, null]; // `part` writes no result
  const pickBindings = [params, a.step, a.logits, a.result, counts, seen, null, parts, null, null]; // bias and mask went in at `part`
  const markBindings = [params, null, null, null, counts, seen, null, null, null, null]; // `mark` uses no other binding
  const logprobsBindings = [params, a.step, a.logits, a.result, null, null, null, null, null, lp];
  const dispatch = (label: string, pipeline: GPUComputePipeline, bindings: readonly Binding[], grid: Dispatch['grid']): Dispatch =>
    ({ label, pipeline, bindGroup: bindGroup(alloc, label, pipeline, bindings), grid });
  return {
    pick: [dispatch('sample/part', partPipeline, partBindings, () => [nParts]), dispatch('sample/pick', pickPipeline, pickBindings, () => [1])],
    mark: dispatch('sample/mark', markPipeline, markBindings, (n) => [ceilDiv(n, WG)]),
    logprobs: dispatch('sample/logprobs', logprobsPipeline, logprobsBindings, () => [1]),
    lp,
    counts,
    seen,
    bias,
    allowed,
  };
}

/** The tokens a grammar allows at the next sampled step (step.masked 1): a bit each, as TokenConstraint gives them. */
export function writeAllowed(gpu: Gpu, s: Sampler, words: Uint32Array): void {
  const room = s.allowed.size / 4;
  if (words.length > room) throw new EmberError('BAD_ARGUMENT', `a token mask of ${words.length} words is longer than the vocabulary's ${room}`);
  if (words.length === room) return writeBuffer(gpu, s.allowed, words);
  const full = new Uint32Array(room); // the rows past the mask are not allowed
  full.set(words);
  writeBuffer(gpu, s.allowed, full);
}

/**
 * Starts a request: clears the counts, lists the prompt's distinct ids and flags them as seen (for the
 * repetition penalty), and writes the logit bias. One small write and one dispatch, nothing per token.
 * `generated`: a request resumed after another one used the sampler (the engine's scheduler) gets its
 * generated tokens counted again; the counts are then written from the CPU (rare, so the bigger write is fine).
 */
export function resetSampler(
  gpu: Gpu,
  s: Sampler,
  promptIds: readonly number[],
  sampling: Pick<ResolvedSampling, 'logitBias'>,
  generated: readonly number[] = [],
): void {
  const distinct = [...new Set(promptIds)];
  const { ids, values } = sampling.logitBias;
  if (ids.length > 0) {
    const entries = new ArrayBuffer(ids.length * 8);
    const dv = new DataView(entries);
    ids.forEach((id, i) => {
      dv.setUint32(i * 8, id, true);
      dv.setFloat32(i * 8 + 4, values[i], true);
    });
    writeBuffer(gpu, s.bias, new Uint8Array(entries));
  }
  if (generated.length > 0) {
    const counts = new Uint32Array(s.counts.size / 4); // (vocab), the layout `mark` and `main` keep
    for (const id of distinct) counts[id] = PROMPT_BIT;
    for (const id of generated) counts[id] += 1;
    const seen = [...new Set([...distinct, ...generated])];
    writeBuffer(gpu, s.seen, Uint32Array.from([seen.length, ...seen]));
    writeBuffer(gpu, s.counts, counts);
    return;
  }
  writeBuffer(gpu, s.seen, Uint32Array.from([distinct.length, ...distinct]));
  const enc = gpu.device.createCommandEncoder({ label: 'sample/reset' });
  enc.clearBuffer(s.counts);
  const pass = enc.beginComputePass({ label: 'sample/mark' });
  encodeDispatches(pass, [s.mark], distinct.length);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}

/** shaders/sample.wgsl's flag of a prompt id in `counts`. */
const PROMPT_BIT = 0x80000000;

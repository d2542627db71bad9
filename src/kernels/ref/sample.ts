/** The chosen token for given logits and sampling settings, with the sampler kernel's semantics. */
export interface SampleSettings {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
  minP?: number; // 0 = off (default)
  uniformRand: number; // in [0, 1)
}

/** What the sampler adds to the logits before choosing: logit_bias and the penalties of the request so far. */
export interface Adjustments {
  logitBias?: ReadonlyMap<number, number>;
  repetitionPenalty?: number; // 1 = off
  presencePenalty?: number; // 0 = off
  frequencyPenalty?: number; // 0 = off
  promptIds?: readonly number[]; // seen, for the repetition penalty
  generatedIds?: readonly number[]; // seen, and counted for presence and frequency
  allowed?: Uint32Array; // a grammar's mask: bit id % 32 of word id / 32; the others get MASKED_LOGIT
}

/** shaders/sample.wgsl's logit for a token the mask rules out. */
export const MASKED_LOGIT = Math.fround(-1e30);

/** The logits after bias, then penalties, then the mask, in f32 as the kernel computes them. */
export function adjustLogitsRef(logits: ArrayLike<number>, a: Adjustments): Float32Array {
  const out = penalizedRef(logits, a);
  const mask = a.allowed;
  if (mask) for (let id = 0; id < out.length; id++) if (((mask[id >>> 5] >>> (id & 31)) & 1) === 0) out[id] = MASKED_LOGIT;
  return out;
}

function penalizedRef(logits: ArrayLike<number>, a: Adjustments): Float32Array {
  const f = Math.fround;
  const out = Float32Array.from(logits);
  for (const [id, b] of a.logitBias ?? []) out[id] = f(out[id] + b);
  const rp = f(a.repetitionPenalty ?? 1), pp = f(a.presencePenalty ?? 0), fp = f(a.frequencyPenalty ?? 0);
  if (rp === 1 && pp === 0 && fp === 0) return out;
  const generated = new Map<number, number>();
  for (const id of a.generatedIds ?? []) generated.set(id, (generated.get(id) ?? 0) + 1);
  for (const id of new Set([...(a.promptIds ?? []), ...generated.keys()])) {
    const g = generated.get(id) ?? 0;
    const l = out[id];
    const penalized = l > 0 ? f(l / rp) : f(l * rp);
    out[id] = f(penalized - f(f(pp * (g > 0 ? 1 : 0)) + f(fp * g)));
  }
  return out;
}

/** The whole sampler: adjustments, then the choice among ids below nValid (default: all). */
export function samplerRef(logits: ArrayLike<number>, s: SampleSettings & Adjustments & { nValid?: number }): number {
  const adjusted = adjustLogitsRef(logits, s);
  return sampleRef(adjusted.subarray(0, s.nValid ?? adjusted.length), s);
}

export function argmaxRef(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Tokens kept by top-k and top-p (both thresholds on z = logits/temperature). */
export function keptSetRef(logits: ArrayLike<number>, s: SampleSettings): boolean[] {
  const n = logits.length;
  const z = Array.from(logits, (l) => l / s.temperature);
  const zmax = Math.max(...z);
  const sorted = [...z].sort((a, b) => b - a);
  let tau = -Infinity;
  if (s.topK > 0 && s.topK < n) tau = Math.max(tau, sorted[s.topK - 1]);
  if ((s.minP ?? 0) > 0) tau = Math.max(tau, zmax + Math.log(s.minP!));
  if (s.topP < 1) {
    const total = z.reduce((a, v) => a + Math.exp(v - zmax), 0);
    let acc = 0;
    for (const v of sorted) {
      acc += Math.exp(v - zmax);
      if (acc >= s.topP * total) {
        tau = Math.max(tau, v);
        break;
      }
    }
  }
  return z.map((v) => v >= tau);
}

export function sampleRef(logits: ArrayLike<number>, s: SampleSettings): number {
  if (s.temperature <= 0) return argmaxRef(logits);
  const kept = keptSetRef(logits, s);
  const z = Array.from(logits, (l) => l / s.temperature);
  const zmax = Math.max(...z);
  const w = z.map((v, i) => (kept[i] ? Math.exp(v - zmax) : 0));
  const total = w.reduce((a, b) => a + b, 0);
  const target = s.uniformRand * total;
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    if (!kept[i]) continue;
    acc += w[i];
    if (acc > target) return i;
  }
  return argmaxRef(logits);
}

/**
 * The `logprobs` pass: the chosen token's log-probability and the k likeliest tokens' (likeliest first, lower id on
 * ties; never a masked one), under the softmax of `adjusted` (adjustLogitsRef's logits) over the first nValid.
 */
export function logprobsRef(adjusted: Float32Array, chosen: number, k: number, nValid = adjusted.length) {
  const valid = adjusted.subarray(0, nValid);
  const m = Math.max(...valid);
  let total = 0;
  for (const v of valid) total += Math.exp(v - m);
  const lse = m + Math.log(total);
  const order = [...valid.keys()].filter((i) => valid[i] > MASKED_LOGIT).sort((a, b) => valid[b] - valid[a] || a - b);
  return { logprob: valid[chosen] - lse, top: order.slice(0, k).map((id) => ({ id, logprob: valid[id] - lse })) };
}

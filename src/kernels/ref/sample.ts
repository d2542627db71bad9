/** The chosen token for given logits and sampling settings, with the sampler kernel's semantics. */
export interface SampleSettings {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
  uniformRand: number; // in [0, 1)
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

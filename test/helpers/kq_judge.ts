/**
 * The acceptance rule of ../shared/models/kquants/tools/kq_judge.py in TypeScript: a run passes when its
 * ids equal llama.cpp's or the float64 reference's, or (not with `exact`) when, teacher-forced on its own
 * tokens, every pick is within `tau` of the reference's max logit and at most `maxOff` picks are off the
 * reference's argmax. The reference logits come from the caller (our CPU f32 reference forward on
 * ggml-dequantized weights, ~1e-4 from kq_judge.py's float64 one).
 */
export interface JudgeResult {
  route: 'llama.cpp' | 'float64' | 'near-tie' | 'fail';
  off: number; // steps off the reference argmax
  regret: number; // max over steps of (reference max logit - reference logit of the pick)
}

export function judge(
  ids: readonly number[], refs: { llamaCpp: readonly number[]; float64: readonly number[] },
  refLogitsAlong: (ids: readonly number[]) => Float32Array[], // row s: reference logits before pick s
  o: { exact?: boolean; tau?: number; maxOff?: number } = {},
): JudgeResult {
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (same(ids, refs.llamaCpp)) return { route: 'llama.cpp', off: 0, regret: 0 };
  if (same(ids, refs.float64)) return { route: 'float64', off: 0, regret: 0 };
  const rows = refLogitsAlong(ids);
  let off = 0, regret = 0;
  rows.forEach((row, s) => {
    const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
    const r = max - row[ids[s]];
    if (r > 0) off++;
    regret = Math.max(regret, r);
  });
  const pass = !o.exact && regret <= (o.tau ?? 0.25) && off <= (o.maxOff ?? 10);
  return { route: pass ? 'near-tie' : 'fail', off, regret };
}

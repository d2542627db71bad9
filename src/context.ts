/**
 * What happens when a sequence (prompt plus what was generated) no longer fits the KV cache.
 *
 * - 'error': a prompt longer than the context is a CONTEXT_OVERFLOW; a generation that fills the
 *   context ends there with finishReason 'length' (the last sampled token is returned, not run).
 * - 'truncate-middle': the first `keepTokens` tokens stay, the oldest tokens after them are dropped.
 * - 'sliding-window': the oldest tokens are dropped (a BOS at the start stays).
 *
 * Both cut the sequence to `shrinkTarget(nCtx)` tokens (a quarter of the context is freed at once, so
 * a long generation re-runs the kept tokens once per quarter context, not once per token), and the
 * kept tokens are run again from the first position that changed (with 'truncate-middle' the kept
 * start is still in the cache).
 */
export type ContextOverflow = 'error' | 'truncate-middle' | 'sliding-window';

export const CONTEXT_OVERFLOW_POLICIES: readonly ContextOverflow[] = ['error', 'truncate-middle', 'sliding-window'];

/** Tokens left after a cut: three quarters of the context (at least 1). */
export function shrinkTarget(nCtx: number): number {
  return Math.max(1, nCtx - Math.max(1, Math.floor(nCtx / 4)));
}

/** Default `keepTokens` of 'truncate-middle': a quarter of the context. */
export function defaultKeep(nCtx: number): number {
  return Math.floor(nCtx / 4);
}

/**
 * `seq` cut to `target` tokens by `policy` (not 'error'). `keep` leading tokens stay (clamped so at
 * least one recent token stays too); 'sliding-window' keeps only a leading BOS.
 */
export function shrink(
  seq: readonly number[], target: number, policy: Exclude<ContextOverflow, 'error'>, keep: number, bosId: number | null,
): number[] {
  if (seq.length <= target) return [...seq];
  const head = policy === 'sliding-window' ? (bosId !== null && seq[0] === bosId ? 1 : 0) : keep;
  const kept = Math.min(head, target - 1);
  return [...seq.slice(0, kept), ...seq.slice(seq.length - (target - kept))];
}

/** Length of the common prefix of a and b. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

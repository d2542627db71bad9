/**
 * Kernel tables whose every case crosses two lists (attention's entry points and K/V types, matmul's row tiles and
 * launch layouts): each pair is a pipeline, and on lavapipe with an empty shader cache (a new CI machine) each costs
 * 2-30 s to compile, so the whole cross product of every table took over an hour. By default a case runs each item of
 * the first list with some of the second, turning with the case (its place in the table, or a hash of its parameters:
 * both stable under `-t`), so that over a table every pair still runs. `EMBERLM_TEST_MATRIX=full` (npm run test:full) runs every pair of every case:
 * for a change to a kernel's text.
 */
export const FULL_MATRIX = process.env.EMBERLM_TEST_MATRIX === 'full';

/** A case's turn: a hash of its parameters. */
export function turnOf(...params: unknown[]): number {
  let h = 2166136261;
  for (const ch of JSON.stringify(params)) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}

/** Each `a` with `per` of `bs` (every b where FULL_MATRIX), the b's turning with `turn` and with a's place. */
export function cover<A, B>(as: readonly A[], bs: readonly B[], turn: number, per = 1): [A, B][] {
  if (FULL_MATRIX || per >= bs.length) return as.flatMap((a) => bs.map((b) => [a, b] as [A, B]));
  return as.flatMap((a, i) => Array.from({ length: per }, (_, j) => [a, bs[(turn + i * per + j) % bs.length]] as [A, B]));
}

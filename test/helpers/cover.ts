/**
 * Kernel tables whose every case crosses two lists (attention's entry points and K/V types, matmul's row tiles and
 * launch layouts): each pair is a pipeline, and on lavapipe with an empty shader cache (a new CI machine) each costs
 * 2-30 s to compile, so the whole cross product of every table took over an hour. By default a case runs some of the
 * pairs, turning with the case's place in its table (stable under `-t`), so that over a table every pair still runs.
 * `EMBERLM_TEST_MATRIX=full` (npm run test:full) runs every pair of every case: for a change to a kernel's text.
 */
import { VARIANTS } from './gpu.ts';

export const FULL_MATRIX = process.env.EMBERLM_TEST_MATRIX === 'full';

/** Each `a` with `per` of `bs` (every b where FULL_MATRIX), the b's turning with `turn` and with a's place. */
export function cover<A, B>(as: readonly A[], bs: readonly B[], turn: number, per = 1): [A, B][] {
  if (FULL_MATRIX || per >= bs.length) return pairs(as, bs);
  return as.flatMap((a, i) => Array.from({ length: per }, (_, j) => [a, bs[(turn + i * per + j) % bs.length]] as [A, B]));
}

/**
 * A table's picks where the pairs a case can run depend on the device (attention's entry points): for each case, in
 * the table's order, `per` of `pairsOf(case)`, the pair run least so far first, then the one whose first item ran
 * least, then the first listed. Over the table every pair some case can run runs before any runs twice. A function of
 * the whole table, not of the tests `-t` selects. Every pair where FULL_MATRIX.
 */
export function spread<C, A, B>(cases: readonly C[], pairsOf: (c: C) => [A, B][], per: number): [A, B][][] {
  const runs = new Map<string, number>();
  const count = (k: string) => runs.get(k) ?? 0;
  const keys = (p: [A, B]) => [JSON.stringify(p), JSON.stringify(['first', p[0]])];
  return cases.map((c) => {
    const left = pairsOf(c);
    if (FULL_MATRIX) return left;
    const picked: [A, B][] = [];
    while (picked.length < per && left.length > 0) {
      const rank = (p: [A, B]) => keys(p).map(count);
      const best = left.reduce((b, p) => {
        const [rp, rb] = [rank(p), rank(b)];
        return rp[0] < rb[0] || (rp[0] === rb[0] && rp[1] < rb[1]) ? p : b;
      });
      left.splice(left.indexOf(best), 1);
      picked.push(best);
      for (const k of keys(best)) runs.set(k, count(k) + 1);
    }
    return picked;
  });
}

/** Where `row` (a test's arguments) is in `table`: rows compared as JSON, a missing last item as undefined. */
export function placeIn(table: readonly (readonly unknown[])[], row: readonly unknown[]): number {
  const norm = (r: readonly unknown[]) => JSON.stringify(Array.from({ length: Math.max(r.length, row.length) }, (_, i) => r[i] ?? null));
  const place = table.findIndex((r) => norm(r) === norm(row));
  if (place < 0) throw new Error(`no row ${JSON.stringify(row)} in its table`);
  return place;
}

/** Every pair of an `a` and a `b`. */
export function pairs<A, B>(as: readonly A[], bs: readonly B[]): [A, B][] {
  return as.flatMap((a) => bs.map((b) => [a, b] as [A, B]));
}

/**
 * The items of a list both device variants run that `variant` runs for the case at `place`: one in 2 x `every`,
 * turning with the place, so that each pair of a case and an item runs on one device (every 1) or for one case in
 * `every` (each device then runs every item over 2 x `every` consecutive cases). All of them where FULL_MATRIX.
 */
export function halves<T>(items: readonly T[], variant: (typeof VARIANTS)[number], place: number, every = 1): T[] {
  if (FULL_MATRIX) return [...items];
  const turn = VARIANTS.length * every;
  return items.filter((_, i) => (place + i) % turn === VARIANTS.indexOf(variant));
}

/** The cases of a table the f32 variant takes: every second (all of them on f16, and where FULL_MATRIX). */
export function f32Takes<T>(variant: (typeof VARIANTS)[number], cases: readonly T[]): T[] {
  return variant === 'f16' || FULL_MATRIX ? [...cases] : cases.filter((_, i) => i % 2 === 1);
}

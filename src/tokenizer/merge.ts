import { Heap } from './heap.ts';

interface Pair {
  readonly left: number;
  readonly right: number;
  readonly priority: number;
  /** Length of the merged text; a pair whose symbols have grown since it was queued is stale. */
  readonly size: number;
}

/** Lowest priority first; on equal priorities the leftmost pair, as llama.cpp's bigram comparators. */
const before = (a: Pair, b: Pair) => a.priority < b.priority || (a.priority === b.priority && a.left < b.left);

/**
 * The merge loop of llama.cpp's SPM and BPE sessions. `text` starts as the symbols [start[i], start[i] +
 * len[i]), a linked list; the neighbouring pair with the lowest `priorityOf(left, right)` (undefined: the
 * two cannot merge) is merged, again and again. Returns the symbols left, in order.
 */
export function mergeSymbols(
  text: string, start: readonly number[], len: readonly number[], priorityOf: (left: string, right: string) => number | undefined,
): string[] {
  const count = start.length;
  const size = [...len];
  const prev = Array.from({ length: count }, (_, i) => i - 1);
  const next = Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
  const piece = (i: number) => text.substr(start[i], size[i]);

  const queue = new Heap<Pair>(before);
  const tryAdd = (l: number, r: number) => {
    if (l < 0 || r < 0) return;
    const priority = priorityOf(piece(l), piece(r));
    if (priority !== undefined) queue.push({ left: l, right: r, priority, size: size[l] + size[r] });
  };
  for (let i = 1; i < count; i++) tryAdd(i - 1, i);

  for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
    const { left: l, right: r } = p;
    // Symbols only grow, and r stays l's neighbour while both live, so a length check finds stale pairs.
    if (size[l] === 0 || size[r] === 0 || size[l] + size[r] !== p.size) continue;
    size[l] += size[r];
    size[r] = 0;
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    tryAdd(prev[l], l);
    tryAdd(l, next[l]);
  }

  const out: string[] = [];
  for (let i = 0; i !== -1 && count > 0; i = next[i]) out.push(piece(i));
  return out;
}

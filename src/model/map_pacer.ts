/**
 * When to map a pass's readback buffer, where waiting for a map costs the GPU: Dawn in Node polls its
 * events in a busy loop while a map is pending, and on a CPU adapter (lavapipe) that loop takes a core
 * from the adapter's own threads. 20 dispatches of an arithmetic loop on this 2-core machine took 122-128 ms
 * of GPU time with a map pending, 67-73 ms with the JS asleep through them (timestamps, same run).
 *
 * So a read sleeps until shortly before its pass should end, then maps. Passes run in submission order: a
 * pass starts when it is submitted or when the one before it ended, whichever is later (the reads resolve
 * in that order, so the caller knows the previous end), and takes about what the last passes of its kind
 * took: decode steps (1 token) as a whole, prefill passes per token. Mapping late costs nothing while a
 * later pass is queued behind (decode ahead), and the oversleep otherwise, which the estimate then sheds:
 * a late map measures the pass as at most its sleep plus the map's latency.
 */

/** The share of a pass's estimated time slept before mapping (or before awaiting it, as the bandwidth probe does). */
export const SLEEP_SHARE = 0.85;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class MapPacer {
  private stepMs = 0; // a decode step's time (0: not measured yet: map at once)
  private tokenMs = 0; // a prefill pass's time per token

  private estimate(tokens: number): number {
    return tokens === 1 ? this.stepMs : tokens * this.tokenMs;
  }

  /** When to map a pass of `tokens` tokens that starts on the GPU at `start` (ms, performance.now()). */
  mapAt(tokens: number, start: number): number {
    return start + SLEEP_SHARE * this.estimate(tokens);
  }

  /** The pass ran from `start` until its map resolved at `end`. */
  done(tokens: number, start: number, end: number): void {
    const took = end - start;
    if (tokens === 1) this.stepMs = this.stepMs === 0 ? took : (this.stepMs + took) / 2;
    else this.tokenMs = this.tokenMs === 0 ? took / tokens : (this.tokenMs + took / tokens) / 2;
  }
}

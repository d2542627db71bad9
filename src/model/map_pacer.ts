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
 * later pass is queued behind (decode ahead), and the oversleep otherwise. A map that resolves at once
 * (within OVERSLEPT_MS) says only that the pass ended at some time during the sleep: the estimate then
 * takes the middle of the sleep, so an estimate too high sheds its excess in a few passes. Averaging with
 * such a late map's time (the sleep itself) shed 7.5% a pass: a first pass slowed by compiling pipelines
 * (36-84 ms a token where the passes then took 12.5) had the reads of the next 20 prefill passes sleep
 * past their ends, a 128-token prompt 1.6x slower (emberlm bench, SmolLM2-135M Q8_0 on lavapipe). So a pass that
 * dispatches a pipeline for the first time is not measured at all (ReadbackRing skips it): with Mesa's shader cache
 * empty, such a pass takes seconds.
 */

/**
 * A map that resolves within this many ms of being asked found its pass done (Dawn in Node polls every 1 ms on a
 * CPU adapter: such maps took 0.6-1.6 ms on lavapipe), or within half the margin the sleep left, if less.
 */
export const OVERSLEPT_MS = 2;

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

  /**
   * The pass ran from `start` until its map, asked for at `asked` (after the sleep; `start` when unknown),
   * resolved at `end`.
   */
  done(tokens: number, start: number, end: number, asked = start): void {
    // Half the margin the sleep left, at most: a pass that ended just after the wake is not an oversleep.
    const overslept = asked > start && end - asked <= Math.min(OVERSLEPT_MS, ((1 - SLEEP_SHARE) / 2) * this.estimate(tokens));
    // An oversleep: the pass ended somewhere in the sleep, so the middle of it replaces the estimate.
    const took = (overslept ? (asked - start) / 2 : end - start) / tokens; // decode steps whole (tokens 1)
    const old = tokens === 1 ? this.stepMs : this.tokenMs;
    const next = overslept || old === 0 ? took : (old + took) / 2;
    if (tokens === 1) this.stepMs = next;
    else this.tokenMs = next;
  }
}

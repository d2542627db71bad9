/**
 * The prefill pass loop: makes a model's KV cache hold a token sequence, running only what the cache does
 * not hold yet, in passes sized from measured pass times so that a Stop waits for about one pass.
 */
import { submitForward, type Model, type PendingStep, type Sampling } from './model/model.ts';
import { commonPrefix } from './context.ts';

export class PrefillPasses {
  /** Prompt tokens per prefill pass, tuned from measured pass times toward `tuning.passMs`. */
  private passTokens = 4; // small at first: the first pass on a slow device should not hold a Stop for long

  /**
   * passMs: GPU time one pass aims at; Infinity: passes of maxBatch tokens. minPassTokens: the fewest tokens a
   * tuned pass takes (the engine's `tuning`, shared).
   */
  constructor(private readonly tuning: { readonly passMs: number; readonly minPassTokens: number; readonly batchInputs: boolean }) {}

  /**
   * Makes m's KV cache hold `seq`: only the part after the prefix the cache already holds runs (at least
   * the last token), in passes of about `tuning.passMs`; `stop` is checked before each pass. One pass is
   * queued behind the one running, so the GPU has work while the CPU encodes and while a paced readback
   * sleeps (MapPacer); only the last pass runs the LM head and the sampler (or what `s.head` says). Returns the last pass
   * submitted, not awaited (its id is the one sampled after seq; null when it stopped, once the passes
   * submitted before have run). `whole`: what runs is one pass (at most maxBatch tokens): an embedding of a model that
   * attends both ways or pools every row.
   */
  async advance(
    m: Model, seq: readonly number[], s: Sampling, u: number, reuse: boolean, stop: () => boolean, record: boolean, whole = false,
  ): Promise<{ step: PendingStep | null; cached: number }> {
    // Windowed layers keep a ring: a restart behind what the cache holds may need rows that later positions overwrote.
    const cached = m.kv.rings.restartAt(Math.min(reuse ? commonPrefix(m.kv.ids, seq) : 0, seq.length - 1));
    let running: PendingStep | null = null; // the pass before the latest, still on the GPU
    let doneAt = 0; // when the latest awaited pass ended: a pass queued behind it started then
    for (let p = cached; ; ) {
      if (stop()) {
        await running?.wait(); // what was submitted is in the cache before the stop is reported
        return { step: null, cached };
      }
      const n = Math.min(seq.length - p, Number.isFinite(this.tuning.passMs) && !whole ? this.passTokens : m.maxBatch, m.maxBatch);
      const last = p + n === seq.length; // only its sample is kept: counted for the penalties, drawn with u
      const submitted = performance.now();
      const pass = await submitForward(m, seq.slice(p, p + n), p, { ...s, record: record && last, head: last && (s.head ?? true) }, last ? u : 0);
      const before = running;
      let ended: Promise<number> | null = null;
      const end = async () => {
        await before?.wait(); // in order, so that each pass is timed from the end of the one before
        const id = await pass.wait();
        const now = performance.now();
        if (n > 1 && !pass.compiles) this.tunePass(m, n, now - Math.max(submitted, doneAt)); // (a first pass that compiled took seconds)
        doneAt = now;
        return id;
      };
      const step: PendingStep = { wait: () => (ended ??= end()), logprobs: pass.logprobs && (() => pass.logprobs!()), hidden: pass.hidden && (() => pass.hidden!()) };
      if (last) return { step, cached };
      await running?.wait(); // one pass stays queued behind the one running
      running = step;
      p += n;
    }
  }

  /** The tokens a pass of several inputs may hold: what a tuned pass takes (maxBatch where passes are not timed; 1: one input a pass). */
  batchTokens(m: Model): number {
    if (!this.tuning.batchInputs) return 1;
    return Number.isFinite(this.tuning.passMs) ? this.passTokens : m.maxBatch;
  }

  /**
   * Moves the pass size halfway toward the one that would have taken `tuning.passMs`, but not below
   * `tuning.minPassTokens`: a pass has costs that do not shrink with its tokens (every weight read at least
   * once, a dispatch per kernel), and on a slow device 100 ms is only a few tokens. SmolLM2-135M Q8_0 on
   * lavapipe with its thread pool (LP_NUM_THREADS=2), 128 tokens in passes of 4, 8, 16, 32: 32, 37, 42 and 44 tok/s;
   * without it (the Node host's default on 2 CPUs), passes of 4, 8, 16, 32, 128: 74, 77, 78, 80 and 80 tok/s
   * (bench/prefill_passes.ts). In chromium on SwiftShader passes of 2 halved the prefill speed (bench/index.html
   * ?minPass=N): the floor is 8 there (Engine.tuning).
   */
  private tunePass(m: Model, n: number, ms: number): void {
    const fit = (n * this.tuning.passMs) / Math.max(ms, 1e-3);
    // A multiple of the GEMMs' token tile: a pass of 5 costs what one of 8 does when they take 4 at a time.
    const tile = m.tokenTile;
    const want = tile * Math.max(1, Math.round((this.passTokens + fit) / 2 / tile));
    this.passTokens = Math.min(m.maxBatch, Math.max(this.tuning.minPassTokens, want));
  }
}

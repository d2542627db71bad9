/**
 * The engine's run-time knobs (`engine.tuning`), each checked where it is set: a bad value is a BAD_ARGUMENT at the
 * assignment, never a state the engine keeps (a NaN pass time once left every later prefill pass at 0 tokens).
 */
import { bad } from './options.ts';
import { READBACK_RING } from './model/readback_ring.ts';

function checked(name: string, v: unknown, ok: (n: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) bad(`tuning.${name}`, expected, v);
  return v;
}

/**
 * passMs: GPU time one prefill pass aims at (a Stop waits for at most about one pass); Infinity: passes
 * of maxBatch tokens.
 * minPassTokens: the fewest tokens of a prefill pass after the first (a pass's fixed costs: see PrefillPasses);
 * on a slow device it sets the Stop latency instead of passMs. 8: SmolLM2-135M Q8_0 in chromium on SwiftShader
 * prefills ~7 tok/s, so a pass of 8 is ~1.1 s and a Stop waits for it and the one queued behind (16: twice that),
 * for prefill within that run's noise (64 tokens: 7.0 tok/s with 8; 4.6-7.3 with 16; 5.5-6.9 with 4; 3.3 with 2);
 * lavapipe 77 against 78 tok/s (bench/prefill_passes.ts).
 * runAheadMs: while another request waits, how long a generation whose reader has not come back keeps
 * generating into its buffer before it steps aside (it resumes, re-running its tokens, when read again).
 * decodeAhead: decode steps in flight on the GPU (1 to 4): each step takes its token from the previous
 * one's sample on the GPU, so the next is submitted while one runs; 1 waits for each id before the next.
 * 3 where readbacks are paced (waitSpins): a readback that wakes late then finds the GPU still busy
 * (lavapipe, SmolLM2-135M Q8_0: GPU idle 0.15-0.9 ms per token with 3, 2.2-14 with 2, same run).
 * batchInputs: embed and rerank run several inputs side by side in a pass of up to a tuned pass's tokens, where the
 * model can (Model.batched); false: one input a pass.
 */
export class EngineTuning {
  #passMs = 100;
  #minPassTokens = 8;
  #runAheadMs = 1000;
  #decodeAhead = 2;
  #batchInputs = true;

  /** GPU time a prefill pass aims at, ms; Infinity: passes of maxBatch tokens. */
  get passMs(): number {
    return this.#passMs;
  }
  set passMs(v: number) {
    this.#passMs = checked('passMs', v, (n) => n > 0, 'a number above 0 (Infinity: passes of maxBatch tokens)');
  }

  /** The fewest prompt tokens a timed prefill pass takes. */
  get minPassTokens(): number {
    return this.#minPassTokens;
  }
  set minPassTokens(v: number) {
    this.#minPassTokens = checked('minPassTokens', v, (n) => Number.isInteger(n) && n >= 1, 'an integer in 1 or more');
  }

  /** How long a generation whose reader is away keeps the engine while another is in line, ms. */
  get runAheadMs(): number {
    return this.#runAheadMs;
  }
  set runAheadMs(v: number) {
    this.#runAheadMs = checked('runAheadMs', v, (n) => n >= 0, 'a number in [0, ∞]');
  }

  /** Decode steps in flight (1 waits for each sampled id). */
  get decodeAhead(): number {
    return this.#decodeAhead;
  }
  set decodeAhead(v: number) {
    this.#decodeAhead = checked('decodeAhead', v, (n) => Number.isInteger(n) && n >= 1 && n <= READBACK_RING, `an integer in 1..${READBACK_RING}`);
  }

  /** Several embed or rerank inputs a pass, where the model runs them (false: one a pass). */
  get batchInputs(): boolean {
    return this.#batchInputs;
  }
  set batchInputs(v: boolean) {
    if (typeof v !== 'boolean') bad('tuning.batchInputs', 'true or false', v);
    this.#batchInputs = v;
  }
}

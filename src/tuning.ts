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

export class EngineTuning {
  #passMs = 100;
  #minPassTokens = 8;
  #runAheadMs = 1000;
  #decodeAhead = 2;

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
}

import type { EmberError } from './errors.ts';
import { Notifier, type Holder } from './scheduler.ts';

export interface GeneratedToken {
  /** The token; -1 for the last item of a generation that ended mid-character, whose `text` is what was held back. */
  id: number;
  /** Text this token completes (may be '' mid-character). */
  text: string;
  /**
   * With GenerateOptions.logprobs: the token's log-probability and its `logprobs` likeliest alternatives' (likeliest
   * first), under the softmax of the logits after logit_bias, penalties and a constraint's mask, before temperature.
   */
  logprob?: number;
  topLogprobs?: { id: number; logprob: number }[];
}

export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens served from the KV cache (the prefix it already held), not run again. */
  cachedTokens: number;
  generatedTokens: number;
  /** Tokens the context-overflow policy dropped (prompt and generation together). */
  droppedTokens: number;
  ttftMs: number;
  prefillTokS: number;
  decodeTokS: number;
  tokenMs: number[]; // per generated token after the first
}

export interface GenerationResult {
  promptIds: number[];
  ids: number[];
  text: string;
  /** With GenerateOptions.logprobs: each streamed token's (every id but a final end of generation, which is not streamed). */
  logprobs?: { logprob: number; top: { id: number; logprob: number }[] }[];
  finishReason: 'stop' | 'length' | 'abort';
  stats: GenerationStats;
}

/** How the producer ended: the result less what the consumer decides (the tokens it was given). */
export interface ProducerEnd {
  promptIds: number[];
  finishReason: GenerationResult['finishReason'];
  /** The end-of-generation id that ended it ('stop'): in `ids`, never streamed. */
  eos: number | null;
  stats: Omit<GenerationStats, 'generatedTokens'>;
}

/**
 * Between the engine's producer (which runs the model when it holds the engine) and the iterator a
 * caller reads. Holds no reference to that iterator, so an iterator dropped without `return()` can be
 * garbage-collected, and its FinalizationRegistry entry closes the pipe.
 *
 * The result is made of what the consumer was given: once the signal fires, tokens not yet read are
 * dropped (no token after an abort) and the result says 'abort'.
 */
export class TokenPipe implements Holder {
  private readonly unread: GeneratedToken[] = [];
  private readonly given = { ids: [] as number[], text: '', logprobs: [] as NonNullable<GenerationResult['logprobs']> };
  private end: { ok: ProducerEnd } | { error: EmberError } | null = null;
  private dropped = false;
  private started = false;
  private settle!: { resolve: (r: GenerationResult) => void; reject: (e: unknown) => void };
  /** Resolves when the generation has ended for the consumer (also after `close()`); rejects with its error. */
  readonly result = new Promise<GenerationResult>((resolve, reject) => (this.settle = { resolve, reject }));
  /** The producer waits on this: a read, a stop, or someone in line for the engine. */
  readonly wake = new Notifier();
  private readonly ready = new Notifier();
  /** The consumer went away (`return()`, or its iterator was collected). */
  closed = false;
  /** performance.now() of the latest read. */
  lastReadAt = performance.now();
  /** The consumer is waiting for a token (the producer runs a step only when asked, or running ahead). */
  reading = false;

  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly startProducer: () => void,
    /** Called once when the pipe stops (closed or aborted): takes a producer still in line out of it. */
    private readonly onStop: () => void,
  ) {
    void this.result.catch(() => {}); // read by the consumer's next() too: not an unhandled rejection
    signal?.addEventListener('abort', this.stopNow, { once: true });
    if (signal?.aborted) queueMicrotask(this.stopNow); // no event comes for a signal aborted already
  }

  private readonly stopNow = (): void => {
    this.onStop();
    this.start(); // a pipe stopped before its first read: its producer ends it at once ('abort'), settling the result
    this.wake.notify();
    this.ready.notify();
  };

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.startProducer();
  }

  /** The producer should stop: the consumer went away or the signal fired. */
  get stopped(): boolean {
    return this.closed || (this.signal?.aborted ?? false);
  }

  contended(): void {
    this.wake.notify();
  }

  push(t: GeneratedToken): void {
    this.unread.push(t);
    this.reading = false; // this token answers the read (set here, not when the reader resumes, a microtask later)
    this.ready.notify();
  }

  finish(e: ProducerEnd): void {
    this.signal?.removeEventListener('abort', this.stopNow);
    this.end = { ok: e };
    this.ready.notify();
    // Settled now where no read may come to settle it: closed, or aborted (its unread tokens are dropped anyway).
    if (this.stopped) this.settle.resolve(this.resultOf(e));
  }

  fail(error: EmberError): void {
    this.signal?.removeEventListener('abort', this.stopNow);
    this.end = { error };
    this.ready.notify();
    this.settle.reject(error);
  }

  /** The consumer will read no more; the producer stops at its next check. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopNow();
    if (this.end && 'ok' in this.end) this.settle.resolve(this.resultOf(this.end.ok));
  }

  /** The next token, or the result at the end; throws the generation's error. */
  async pull(): Promise<IteratorResult<GeneratedToken, GenerationResult>> {
    this.start();
    for (;;) {
      this.lastReadAt = performance.now();
      if (this.signal?.aborted && this.unread.length > 0) {
        this.unread.length = 0;
        this.dropped = true;
      }
      const t = this.unread.shift();
      if (t) {
        if (t.id >= 0) this.given.ids.push(t.id);
        if (t.logprob !== undefined) this.given.logprobs.push({ logprob: t.logprob, top: t.topLogprobs ?? [] });
        this.given.text += t.text;
        return { done: false, value: t };
      }
      if (this.end) {
        if ('error' in this.end) throw this.end.error;
        const r = this.resultOf(this.end.ok);
        this.settle.resolve(r);
        return { done: true, value: r };
      }
      this.reading = true;
      this.wake.notify();
      await this.ready.wait();
    }
  }

  private resultOf(e: ProducerEnd): GenerationResult {
    const cut = this.dropped || this.closed || this.unread.length > 0;
    const ids = [...this.given.ids];
    if (e.eos !== null && !cut) ids.push(e.eos);
    return {
      promptIds: e.promptIds,
      ids,
      text: this.given.text,
      ...(this.given.logprobs.length > 0 ? { logprobs: [...this.given.logprobs] } : {}),
      finishReason: cut ? 'abort' : e.finishReason,
      stats: { ...e.stats, generatedTokens: ids.length },
    };
  }
}

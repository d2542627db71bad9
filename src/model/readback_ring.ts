import { MapPacer, sleep } from './map_pacer.ts';

/** Readback buffers a model has: at most this many forward passes can be in flight at once. */
export const READBACK_RING = 4;
/** Where a pass's logprobs (or the hidden row of a pass that stops at the final norm) land in its readback buffer (words), after its id. */
export const READBACK_LOGPROBS_AT = 4;

/**
 * Sampled ids come back through a few MAP_READ buffers used in turn, so several steps can be in flight:
 * each step copies its id into the next buffer, which is mapped again only after its previous read has
 * ended (a discarded step's read still runs to its end, and is then forgotten).
 */
export class ReadbackRing {
  /** Where waiting for a map costs the GPU (Dawn in Node on a CPU adapter): when to map each read. */
  readonly pacer: MapPacer | null;
  private lastEnd: Promise<number> = Promise.resolve(0); // when the latest paced read's pass ended (ms); never rejects
  private next = 0;
  private readonly pending: Promise<unknown>[];
  /** Milliseconds spent awaiting ids through `wait` (the benchmark's GPU wait). */
  waitMs = 0;
  /** Reads started (one per forward pass submitted, dropped ones too) and ids awaited (the benchmark's counts). */
  reads = 0;
  waits = 0;
  /** Reads started and not yet ended (dropped steps' too). */
  inFlight = 0;
  /** Reads of passes that dispatched a pipeline for the first time (their times teach the pacer nothing). */
  firstUses = 0;

  constructor(readonly buffers: readonly GPUBuffer[], opts: { pace?: boolean } = {}) { // each (4) u32 at least, MAP_READ | COPY_DST
    this.pending = buffers.map(() => Promise.resolve());
    this.pacer = opts.pace ? new MapPacer() : null;
  }

  /** The index of the next buffer in turn, once its previous read has ended. */
  async take(): Promise<number> {
    const i = this.next;
    this.next = (i + 1) % this.buffers.length;
    await this.pending[i];
    return i;
  }

  /** Reads buffer i's u32, right after the submit of the pass (of `tokens` tokens) that copies into it. */
  read(i: number, tokens = 1): Promise<number> {
    return this.readWords(i, tokens, 1).then((w) => w[0]);
  }

  /**
   * Reads buffer i's first `words` u32 (the id, then what else the pass copied there: its logprobs). `compiles`: the pass
   * dispatches a pipeline for the first time, so its time is no estimate of the next one's.
   */
  readWords(i: number, tokens: number, words: number, compiles = false): Promise<Uint32Array> {
    const buf = this.buffers[i];
    this.reads++;
    if (compiles) this.firstUses++;
    const id = this.mapped(buf, tokens, words * 4, compiles).then(() => {
      const v = new Uint32Array(buf.getMappedRange(0, words * 4).slice(0));
      buf.unmap();
      return v;
    });
    this.inFlight++;
    this.pending[i] = id.catch(() => {}).finally(() => this.inFlight--); // a lost device or destroyed buffer: the step's waiter sees the error
    return id;
  }

  /**
   * Maps buf's first `bytes`: at once, or with a pacer, after the previous read and a sleep through most of the pass. (Only
   * those: a browser copies a mapped range from its GPU process, and a buffer sized for an embedding's rows is far larger
   * than a decode step's id.)
   */
  private async mapped(buf: GPUBuffer, tokens: number, bytes: number, compiles: boolean): Promise<void> {
    const pacer = this.pacer;
    if (!pacer) return buf.mapAsync(GPUMapMode.READ, 0, bytes);
    const submitted = performance.now();
    const previous = this.lastEnd;
    const read = (async () => {
      const start = Math.max(submitted, await previous); // passes run in order: it starts when the last ends
      const ms = pacer.mapAt(tokens, start) - performance.now();
      if (ms > 1) await sleep(ms);
      const asked = performance.now();
      await buf.mapAsync(GPUMapMode.READ, 0, bytes);
      const end = performance.now();
      // (Learning from a pass that compiled made the next few sleep for most of its time: 20 s on a first decode step.)
      if (!compiles) pacer.done(tokens, start, end, asked);
      return end;
    })();
    this.lastEnd = read.catch(() => performance.now()); // after a failure the next read goes on
    await read;
  }

  /** Resolves once every read started has ended (dropped steps' too): then no map is pending on the buffers. */
  async settled(): Promise<void> {
    await Promise.all(this.pending);
  }

  /** Awaits an id, counting the time as waiting for the GPU. */
  async wait(id: Promise<number>): Promise<number> {
    const t0 = performance.now();
    this.waits++;
    try {
      return await id;
    } finally {
      this.waitMs += performance.now() - t0;
    }
  }
}

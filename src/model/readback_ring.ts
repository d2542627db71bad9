/** Readback buffers a model has: at most this many forward passes can be in flight at once. */
export const READBACK_RING = 4;

/**
 * Sampled ids come back through a few MAP_READ buffers used in turn, so several steps can be in flight:
 * each step copies its id into the next buffer, which is mapped again only after its previous read has
 * ended (a discarded step's read still runs to its end, and is then forgotten).
 */
export class ReadbackRing {
  private next = 0;
  private readonly pending: Promise<unknown>[];
  /** Milliseconds spent awaiting ids through `wait` (the benchmark's GPU wait). */
  waitMs = 0;
  /** Reads started (one per forward pass submitted, dropped ones too) and ids awaited (the benchmark's counts). */
  reads = 0;
  waits = 0;

  constructor(readonly buffers: readonly GPUBuffer[]) { // each (4) u32 at least, MAP_READ | COPY_DST
    this.pending = buffers.map(() => Promise.resolve());
  }

  /** The index of the next buffer in turn, once its previous read has ended. */
  async take(): Promise<number> {
    const i = this.next;
    this.next = (i + 1) % this.buffers.length;
    await this.pending[i];
    return i;
  }

  /** Reads buffer i's u32, after the submit that copies into it. */
  read(i: number): Promise<number> {
    const buf = this.buffers[i];
    this.reads++;
    const id = buf.mapAsync(GPUMapMode.READ).then(() => {
      const v = new Uint32Array(buf.getMappedRange(0, 4))[0];
      buf.unmap();
      return v;
    });
    this.pending[i] = id.catch(() => {}); // a lost device or destroyed buffer: the step's waiter sees the error
    return id;
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

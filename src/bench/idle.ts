import type { Gpu } from '../gpu/device.ts';
import { forward, submitForward, type Model } from '../model/model.ts';
import { percentile } from './stats.ts';

/**
 * The GPU's idle time between consecutive forward passes, from timestamps: while attached, each forward's
 * one compute pass gets a begin/end timestamp pair (Model.timing.stepWrites), nothing else changes (no
 * extra pass, submit or readback per step). The gaps are read once at the end, after the timed run.
 */
export class StepTimeline {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly readBuf: GPUBuffer;
  private passes = 0;

  /** `capacity`: the most passes timed. */
  constructor(
    private readonly gpu: Gpu,
    private readonly capacity: number,
  ) {
    const { device } = gpu;
    this.querySet = device.createQuerySet({ label: 'steps', type: 'timestamp', count: 2 * capacity });
    const size = 16 * capacity; // (capacity, 2) u64 ns
    this.resolveBuf = device.createBuffer({ label: 'steps.resolve', size, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readBuf = device.createBuffer({ label: 'steps.read', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  /** Times every forward pass `m` encodes from now on (until `detach`), up to the capacity. */
  attach(m: Model): void {
    m.timing.stepWrites = () => {
      if (this.passes >= this.capacity) return undefined;
      const i = this.passes++;
      return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
    };
  }

  detach(m: Model): void {
    delete m.timing.stepWrites;
  }

  /** Milliseconds from each timed pass's end to the next one's start (a negative gap, should a clock give one, is 0). */
  async gaps(): Promise<number[]> {
    const n = this.passes;
    if (n < 2) return [];
    const enc = this.gpu.device.createCommandEncoder({ label: 'steps.resolve' });
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16 * n);
    this.gpu.device.queue.submit([enc.finish()]);
    await this.readBuf.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuf.getMappedRange(0, 16 * n).slice(0)); // [begin, end] per pass, ns
    this.readBuf.unmap();
    const gap = (i: number) => (t[2 * i + 2] > t[2 * i + 1] ? Number(t[2 * i + 2] - t[2 * i + 1]) / 1e6 : 0);
    return Array.from({ length: n - 1 }, (_, i) => gap(i));
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}

/**
 * Without timestamp queries: the GPU time of one decode step, estimated as submit to
 * `onSubmittedWorkDone` for steps run one at a time after `prompt` (the median). It includes the
 * completion's latency, so it is an upper bound, and decode time minus it a lower bound of the idle.
 */
export async function stepBusyMs(m: Model, prompt: readonly number[], steps: number): Promise<number> {
  const greedy = { temperature: 0, topK: 0, topP: 1 };
  let next = 0;
  for (let i = 0; i < prompt.length; i += m.maxBatch) {
    next = await forward(m, prompt.slice(i, i + m.maxBatch), i, greedy, 0);
  }
  const ms: number[] = [];
  for (let s = 0; s < steps && prompt.length + s < m.nCtx; s++) {
    const t0 = performance.now();
    const step = await submitForward(m, [next], prompt.length + s, greedy, 0);
    await m.gpu.device.queue.onSubmittedWorkDone();
    ms.push(performance.now() - t0);
    next = await step.wait();
  }
  return ms.length ? percentile(ms, 50) : NaN;
}

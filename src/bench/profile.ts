import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import type { PassTimer } from '../model/model.ts';

/**
 * GPU time per kernel family from timestamp queries: a PassTimer for `forward`, which then gives
 * every dispatch its own compute pass with a begin/end timestamp pair. Splitting passes changes
 * what is measured (no overlap between dispatches, a barrier after each), so this runs apart from
 * the timed runs, and its times are per-kernel costs, not a decomposition of the timed tokens.
 */
export class TimestampProfiler implements PassTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly readBuf: GPUBuffer;
  private labels: string[] = [];
  /** label -> [total ns, calls] over every forward profiled so far. */
  private readonly totals = new Map<string, [number, number]>();

  /** `capacity`: the most dispatches one forward pass encodes. */
  constructor(
    private readonly gpu: Gpu,
    private readonly capacity: number,
  ) {
    const { device } = gpu;
    this.querySet = device.createQuerySet({ label: 'profile', type: 'timestamp', count: 2 * capacity });
    this.resolveBuf = device.createBuffer({ label: 'profile.resolve', size: 16 * capacity, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readBuf = device.createBuffer({ label: 'profile.read', size: 16 * capacity, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length;
    if (i >= this.capacity) throw new EmberError('BAD_ARGUMENT', `profiler: a forward pass encoded more than the ${this.capacity} passes it was made for`);
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Reads back the timestamps of the forward pass just submitted and adds them to the totals. */
  async collect(): Promise<void> {
    const n = this.labels.length;
    if (n === 0) return;
    const enc = this.gpu.device.createCommandEncoder({ label: 'profile.resolve' });
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16 * n);
    this.gpu.device.queue.submit([enc.finish()]);
    await this.readBuf.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuf.getMappedRange(0, 16 * n).slice(0));
    this.readBuf.unmap();
    this.labels.forEach((label, i) => {
      const ns = t[2 * i + 1] > t[2 * i] ? Number(t[2 * i + 1] - t[2 * i]) : 0;
      const cur = this.totals.get(label) ?? [0, 0];
      this.totals.set(label, [cur[0] + ns, cur[1] + 1]);
    });
    this.labels = [];
  }

  /** Milliseconds and calls per token by kernel family (the label before '/'), slowest first. */
  families(tokens: number): KernelTime[] {
    const fam = new Map<string, [number, number]>();
    for (const [label, [ns, calls]] of this.totals) {
      const name = label.split('/')[0];
      const cur = fam.get(name) ?? [0, 0];
      fam.set(name, [cur[0] + ns, cur[1] + calls]);
    }
    return [...fam]
      .map(([name, [ns, calls]]) => ({ name, ms_per_token: ns / 1e6 / tokens, calls_per_token: calls / tokens }))
      .sort((a, b) => b.ms_per_token - a.ms_per_token);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}

export interface KernelTime {
  name: string; // kernel family, e.g. "matmul_q8"
  ms_per_token: number;
  calls_per_token: number; // passes per token, including those whose grid was empty
}

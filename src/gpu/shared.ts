import { createGpu, type Gpu, type GpuOptions } from './device.ts';
import { dropPipelines } from './pipelines.ts';

/**
 * The default device, shared by every Engine loaded without `gpu`, per set of GpuOptions. It is
 * counted (acquire at load, release at dispose or a failed load) but kept when the count reaches
 * zero: a process that loads one model after another reuses one device and its compiled pipelines,
 * where creating and destroying a device each time costs compile time and memory the driver keeps
 * (Dawn on lavapipe: ~0.55 MB per device). `destroyIdleGpus()` frees the idle ones; a lost device is
 * replaced at the next acquire.
 */
interface Entry {
  readonly gpu: Promise<Gpu>;
  users: number;
}

const shared = new Map<string, Entry>();
const owner = new WeakMap<Gpu, Entry>();

const keyOf = (o: GpuOptions) => JSON.stringify([[...(o.disable ?? [])].sort(), o.powerPreference ?? null]);

export async function acquireGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const key = keyOf(opts);
  let e = shared.get(key);
  if (e) {
    const gpu = await e.gpu.catch(() => null);
    if (!gpu || gpu.lostReason) {
      if (shared.get(key) === e) shared.delete(key);
      if (gpu) dropPipelines(gpu.device);
      e = undefined;
    }
  }
  if (!e) {
    e = { gpu: createGpu(opts), users: 0 };
    shared.set(key, e);
    e.gpu.catch(() => shared.get(key) === e && shared.delete(key)); // a failed creation is retried next time
  }
  e.users++;
  try {
    const gpu = await e.gpu;
    owner.set(gpu, e);
    return gpu;
  } catch (err) {
    e.users--;
    throw err;
  }
}

/** Gives back a device from acquireGpu; the device stays for the next load. */
export function releaseGpu(gpu: Gpu): void {
  const e = owner.get(gpu);
  if (e && e.users > 0) e.users--;
}

/** Destroys the shared devices no engine is using (and their pipeline caches). Returns how many. */
export async function destroyIdleGpus(): Promise<number> {
  let n = 0;
  for (const [key, e] of [...shared]) {
    if (e.users > 0) continue;
    const gpu = await e.gpu.catch(() => null);
    if (e.users > 0) continue;
    shared.delete(key);
    if (!gpu) continue;
    dropPipelines(gpu.device);
    gpu.device.destroy();
    n++;
  }
  return n;
}

/** Engines using each shared device (tests). */
export function sharedGpuUsers(): number[] {
  return [...shared.values()].map((e) => e.users);
}

import source from '../../shaders/bandwidth_probe.wgsl?raw';
import { EmberError } from '../errors.ts';
import { waitSpins, type Gpu } from '../gpu/device.ts';
import { Allocator, readBuffer, writeBuffer } from '../gpu/buffers.ts';
import { getPipeline } from '../gpu/pipelines.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import { bindGroup, ceilDiv, staticUniform } from '../kernels/dispatch.ts';
import { median } from './stats.ts';
import { SLEEP_SHARE, sleep } from '../model/map_pacer.ts';

/**
 * The memory bandwidth the device reaches on a streaming read (shaders/bandwidth_probe.wgsl): the
 * ceiling of a decode step, which reads every weight once. Each layout is validated against the
 * CPU, warmed up, then timed with GPU timestamps around a pass where the device has them (else by
 * wall time to `onSubmittedWorkDone`, which also counts the submission; where that wait spins a core the
 * adapter needs, it sleeps through most of the previous pass's time first, as decode's readbacks do). The
 * result is the best layout's median over the timed passes. Bytes moved = bytes read + the 1/(4·LOADS) written.
 */

export const PROBE_PARAMS = new UniformLayout('ProbeParams', [
  ['n_vec4', 'u32'],
  ['groups_x', 'u32'],
  ['pad0', 'u32'],
  ['pad1', 'u32'],
] as const);
export const PROBE_SOURCE = source;

export interface ProbeLayout {
  name: string;
  WG: number;
  LOADS: number;
  CONTIGUOUS: boolean;
}

/** A GPU-style coalesced read and a CPU-style run per invocation (see the shader). */
export const PROBE_LAYOUTS: readonly ProbeLayout[] = [
  { name: 'coalesced', WG: 256, LOADS: 8, CONTIGUOUS: false },
  { name: 'contiguous', WG: 32, LOADS: 128, CONTIGUOUS: true },
];

export interface ProbeOptions {
  /** Bytes read per dispatch (default: 128 MiB or the largest binding, whichever is smaller). */
  bytes?: number;
  /** Dispatches per timed pass (default 4) and timed passes per layout (default 7), after one warm-up pass. */
  dispatches?: number;
  repeats?: number;
  layouts?: readonly ProbeLayout[];
}

export interface ProbeResult {
  gb_s: number; // the best layout's median, 1 GB = 1e9 bytes
  layout: string;
  bytes: number; // read per dispatch
  method: 'timestamps' | 'wall';
  layouts: { name: string; gb_s: number; samples_gb_s: number[] }[];
}

/** Fills the words with a hash of their index and returns the XOR of all of them. */
function fillPattern(words: Uint32Array, first: number): number {
  let x = 0;
  for (let i = 0; i < words.length; i++) {
    const v = (Math.imul(first + i, 0x9e3779b1) ^ 0x5bd1e995) >>> 0;
    words[i] = v;
    x ^= v;
  }
  return x >>> 0;
}

export async function probeBandwidth(gpu: Gpu, o: ProbeOptions = {}): Promise<ProbeResult> {
  const { device, caps } = gpu;
  const layouts = o.layouts ?? PROBE_LAYOUTS;
  const block = Math.max(...layouts.map((l) => l.WG * l.LOADS)) * 16; // bytes one workgroup reads, at most
  const want = o.bytes ?? 128 * 2 ** 20;
  const bytes = Math.floor(Math.min(want, caps.maxStorageBindingSize, caps.maxBufferSize) / block) * block;
  if (bytes < block) throw new EmberError('BAD_ARGUMENT', `bandwidth probe: ${want} bytes is below one workgroup's ${block}`);
  const dispatches = o.dispatches ?? 4;
  const repeats = o.repeats ?? 7;
  const nVec4 = bytes / 16;

  const alloc = new Allocator(gpu);
  const querySet = caps.timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  try {
    const src = alloc.storage('probe.src', bytes); // (n_vec4) vec4<u32>
    const outWords = Math.max(...layouts.map((l) => nVec4 / l.LOADS));
    const out = alloc.storage('probe.out', outWords * 4); // (n_vec4 / LOADS) u32
    let expected = 0;
    const chunk = new Uint32Array(2 ** 21); // 8 MiB at a time
    for (let w = 0; w < bytes / 4; w += chunk.length) {
      const part = chunk.subarray(0, Math.min(chunk.length, bytes / 4 - w));
      expected ^= fillPattern(part, w);
      writeBuffer(gpu, src, part, w * 4);
    }
    expected >>>= 0;
    const stamps = querySet ? alloc.create('probe.timestamps', 16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : null;

    const results: ProbeResult['layouts'] = [];
    const spins = waitSpins(gpu);
    for (const l of layouts) {
      const groups = nVec4 / (l.WG * l.LOADS);
      const groupsX = Math.min(groups, caps.maxWorkgroupsPerDimension);
      const groupsY = ceilDiv(groups, groupsX);
      const params = staticUniform(alloc, `probe.params.${l.name}`, PROBE_PARAMS, { n_vec4: nVec4, groups_x: groupsX, pad0: 0, pad1: 0 });
      const pipeline = await getPipeline(gpu, `bandwidth_probe/${l.name}`, source, 'main', { WG: l.WG, LOADS: l.LOADS, CONTIGUOUS: l.CONTIGUOUS ? 1 : 0 });
      const bind = bindGroup(alloc, `bandwidth_probe/${l.name}`, pipeline, [params, src, out]);
      let lastMs = 0; // the previous pass's wall time: where waiting spins (waitSpins), slept through first
      /** Seconds for one pass of `dispatches` reads of the buffer. */
      const pass = async (): Promise<number> => {
        const enc = device.createCommandEncoder({ label: 'bandwidth_probe' });
        const cp = enc.beginComputePass(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
        cp.setPipeline(pipeline);
        cp.setBindGroup(0, bind);
        for (let i = 0; i < dispatches; i++) cp.dispatchWorkgroups(groupsX, groupsY);
        cp.end();
        if (querySet && stamps) enc.resolveQuerySet(querySet, 0, 2, stamps, 0);
        const t0 = performance.now();
        device.queue.submit([enc.finish()]);
        if (spins && lastMs > 0) await sleep(SLEEP_SHARE * lastMs);
        await device.queue.onSubmittedWorkDone();
        lastMs = performance.now() - t0;
        const wallS = lastMs / 1000;
        if (!stamps) return wallS;
        const [begin, end] = new BigUint64Array(await readBuffer(gpu, stamps, 16));
        return Number(end - begin) / 1e9;
      };

      await pass(); // warm-up (first touch of the pages), and the validation below
      const folds = new Uint32Array(await readBuffer(gpu, out, (nVec4 / l.LOADS) * 4));
      const got = folds.reduce((a, b) => (a ^ b) >>> 0, 0);
      if (got !== expected) {
        throw new EmberError('DEVICE', `bandwidth probe (${l.name}): the folds XOR to 0x${got.toString(16)}, expected 0x${expected.toString(16)}; the probe kernel is wrong on this device`);
      }
      const moved = (bytes + (nVec4 / l.LOADS) * 4) * dispatches;
      const samples: number[] = [];
      for (let r = 0; r < repeats; r++) samples.push(moved / (await pass()) / 1e9);
      results.push({ name: l.name, gb_s: median(samples), samples_gb_s: samples });
    }
    const best = results.reduce((a, b) => (b.gb_s > a.gb_s ? b : a));
    return { gb_s: best.gb_s, layout: best.name, bytes, method: querySet ? 'timestamps' : 'wall', layouts: results };
  } finally {
    querySet?.destroy();
    alloc.destroyAll();
  }
}

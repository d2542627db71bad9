/**
 * Dawn's event polls on a CPU adapter (src/gpu/dawn.ts pollDawnByTimer): while a map is pending, Dawn's
 * binding re-queues its poll with setImmediate, a busy loop that takes a core from lavapipe. On a CPU
 * adapter the polls go through a 1 ms timer: a long GPU pass is waited for with about one poll per
 * millisecond, and the map still resolves with the pass's results.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isDawnPoll, lavapipeThreads, lavapipeThreadsSet } from '../src/gpu/dawn.ts';
import { waitSpins } from '../src/gpu/device.ts';
import { testGpu } from './helpers/gpu.ts';

const BUSY = `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) id: vec3u) {
  var h = id.x;
  for (var i = 0u; i < 200000u; i++) { h = h * 1664525u + 1013904223u; }
  out[id.x] = h;
}`;

describe('Dawn polls by timer on CPU adapters', () => {
  it('tells Dawn\'s poll (anonymous, native) from JS and bound functions', () => {
    expect(isDawnPoll(Function.prototype)).toBe(true); // the one anonymous native function JS offers
    expect(isDawnPoll(() => 1)).toBe(false);
    expect(isDawnPoll(function named() {})).toBe(false);
    expect(isDawnPoll(Math.max)).toBe(false); // native, but named
    expect(isDawnPoll((() => 1).bind(null))).toBe(false); // native-looking, named "bound "
    expect(isDawnPoll('function () { [native code] }')).toBe(false);
  });

  it('waits for a long pass with about one poll per millisecond, and reads its results', async () => {
    const gpu = await testGpu();
    expect(waitSpins(gpu)).toBe(true); // the test machine's adapter is lavapipe, in Node
    const { device } = gpu;
    const n = 64;
    const out = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: BUSY }), entryPoint: 'main' } });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < 20; i++) pass.dispatchWorkgroups(n / 8);
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, n * 4);

    let polls = 0;
    const timer = globalThis.setTimeout;
    const counting = ((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      if (isDawnPoll(fn)) polls++;
      return timer(fn, ms, ...args);
    }) as typeof setTimeout;
    globalThis.setTimeout = counting;
    const t0 = performance.now();
    try {
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
    } finally {
      globalThis.setTimeout = timer;
    }
    const ms = performance.now() - t0;
    const got = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    let h = 5;
    for (let i = 0; i < 200000; i++) h = (Math.imul(h, 1664525) + 1013904223) >>> 0;
    expect(got[5]).toBe(h);
    expect(ms).toBeGreaterThan(20); // long enough that a busy loop would poll thousands of times
    expect(polls).toBeGreaterThan(0);
    expect(polls).toBeLessThanOrEqual(ms + 5);
  });
});

describe("lavapipe's thread count (LP_NUM_THREADS)", () => {
  it('is 0 on at most 2 CPUs where the user set none, and never overrides the user', () => {
    expect(lavapipeThreads(undefined, 1)).toBe('0');
    expect(lavapipeThreads(undefined, 2)).toBe('0');
    expect(lavapipeThreads(undefined, 3)).toBeUndefined(); // Mesa's default: one thread per CPU
    expect(lavapipeThreads('2', 2)).toBeUndefined();
    expect(lavapipeThreads('', 2)).toBeUndefined();
  });

  it('is in the environment before Dawn creates its Vulkan instance: with 0, lavapipe starts no threads', async () => {
    await testGpu();
    const lavapipeThreads = readdirSync('/proc/self/task').filter((t) => /^llvmpipe-/.test(readFileSync(`/proc/self/task/${t}/comm`, 'utf8')));
    if (process.env.LP_NUM_THREADS === '0') expect(lavapipeThreads).toEqual([]);
    else expect(lavapipeThreads.length).toBeGreaterThan(0);
    if (lavapipeThreadsSet !== undefined) expect(process.env.LP_NUM_THREADS).toBe(lavapipeThreadsSet);
  });
});

describe("Dawn's timestamps in Node", () => {
  it('are not rounded to 65,536 ns (timestamp_quantization off): some of a few short passes read off the quantum', async () => {
    const gpu = await testGpu();
    expect(gpu.caps.timestamps).toBe(true);
    const { device } = gpu;
    const query = device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const out = device.createBuffer({ size: 64 * 4, usage: GPUBufferUsage.STORAGE });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: BUSY }), entryPoint: 'main' } });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
    const stamps: bigint[] = [];
    for (let i = 0; i < 4; i++) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass({ timestampWrites: { querySet: query, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(1);
      pass.end();
      enc.resolveQuerySet(query, 0, 2, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, read, 0, 16);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      stamps.push(...new BigUint64Array(read.getMappedRange().slice(0)));
      read.unmap();
    }
    for (const b of [query, resolved, read, out]) b.destroy();
    expect(stamps.every((s) => s > 0n)).toBe(true);
    expect(stamps.some((s) => s % 65536n !== 0n)).toBe(true); // quantized, all 8 would be multiples: odds 2^-128 otherwise
  });
});

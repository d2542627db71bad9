/**
 * Precompiling a model's pipelines at load (src/kernels/precompile.ts), for adapters that compile at a pipeline's
 * first dispatch (lavapipe): every pipeline of what the first request runs gets a zero-workgroup dispatch on stand-in
 * buffers, on the model's device or on a helper device; what WebGPU refuses (a stand-in too small) is counted and left
 * to its first real dispatch; the model then gives llama.cpp's greedy ids on stories260K.
 */
import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { precompileHelpers } from '../src/gpu/dawn.ts';
import { buildKernel, wasDispatched } from '../src/kernels/dispatch.ts';
import { UniformLayout } from '../src/gpu/uniforms.ts';
import { helperWork, modelLists, pendingPipelines, precompile, precompileDefault } from '../src/kernels/precompile.ts';
import { nodeHostIfAny } from '../src/node_host.ts';
import type { LoadProgress } from '../src/loader/progress.ts';
import { run, stepBuffer, testGpu } from './helpers/gpu.ts';
import { storiesOnNewDevice } from './helpers/new_device.ts';
import { readOracle } from './helpers/oracle.ts';

const oracle = readOracle('stories260K.llama-cpp.json').results[0];
const GREEDY = { maxTokens: 32, temperature: 0, reuseKv: false } as const;

describe('precompile', () => {
  it('runs by default only on a CPU adapter in Node, not under a test runner; helpers only with Mesa shader cache on', async () => {
    expect(precompileDefault(await testGpu())).toBe(false); // VITEST is set here
    expect(precompileHelpers({}, 1)).toBe(0);
    expect(precompileHelpers({}, 2)).toBe(1);
    expect(precompileHelpers({}, 16)).toBe(3);
    expect(precompileHelpers({ MESA_SHADER_CACHE_DISABLE: 'true' }, 16)).toBe(0);
    expect(precompileHelpers({ MESA_SHADER_CACHE_DISABLE: 'false' }, 4)).toBe(3);
  });

  it("compiles every pipeline of a model's first request, on the model's device and a helper; the ids are llama.cpp's", async () => {
    await storiesOnNewDevice({ contextLength: 128, precompile: false }, async (engine, gpu) => {
      const lists = modelLists(engine.model);
      const pending = pendingPipelines(lists);
      expect(pending.length).toBe(new Set(lists.flat().map((d) => d.pipeline)).size); // a new device: none dispatched yet
      const seen: number[] = [];
      // slowMs 0: the helper starts at once, as it would after a slow first pipeline (a cold shader cache)
      const report = await precompile(gpu, lists, { helpers: 1, slowMs: 0, onProgress: (done, total) => seen.push(done, total) });
      expect(report).toMatchObject({ pipelines: pending.length, helpers: 1, failed: 0 });
      expect(seen.filter((_, i) => i % 2 === 1).every((t) => t === pending.length)).toBe(true);
      expect(seen.filter((_, i) => i % 2 === 0)).toEqual(pending.map((_, i) => i + 1));
      // Those compiled on the model's device count as dispatched; a helper's compile reaches it through Mesa's cache.
      expect(pending.filter(wasDispatched).length).toBe(pending.length - report.onHelpers);
      expect((await engine.complete(oracle.prompt, GREEDY)).ids).toEqual(oracle.generated_token_ids);
      expect(pendingPipelines(lists).length).toBe(0);
    });
  });

  it('a helper device compiles every pipeline of the model from its spec and stand-ins, and leaves them undispatched', async () => {
    await storiesOnNewDevice({ contextLength: 128, precompile: false }, async (engine, gpu) => {
      const pending = pendingPipelines(modelLists(engine.model));
      const queue = [...pending];
      const results: boolean[] = [];
      await helperWork(gpu, () => queue.shift(), (_p, ok) => results.push(ok));
      expect(results).toEqual(pending.map(() => true));
      expect(pending.some(wasDispatched)).toBe(false); // their first dispatch here loads what the helper compiled
      expect((await engine.complete(oracle.prompt, GREEDY)).ids).toEqual(oracle.generated_token_ids);
    });
  });

  it("a load with precompile reports each pipeline as 'compile' progress, to the whole load's end; the first request compiles nothing", async () => {
    const events: LoadProgress[] = [];
    // No helpers (a cold shader cache would start them): every pipeline on the model's device, so all count as dispatched.
    const host = nodeHostIfAny()!;
    const helpers = host.precompileHelpers;
    host.precompileHelpers = () => 0;
    try {
      await storiesOnNewDevice({ contextLength: 128, precompile: true, onProgress: (_f, _w, e) => events.push(e) }, async (engine) => {
        const lists = modelLists(engine.model);
        const compiled = events.filter((e) => e.phase === 'compile' && e.total !== null);
        expect(compiled.length).toBe(new Set(lists.flat().map((d) => d.pipeline)).size);
        expect(compiled.map((e) => e.loaded)).toEqual(compiled.map((_, i) => i + 1));
        expect(compiled.at(-1)!.fraction).toBe(1);
        const uploads = events.filter((e) => e.phase === 'upload');
        expect(Math.max(...uploads.map((e) => e.fraction))).toBeCloseTo(0.9); // the rest is the compiling
        expect(pendingPipelines(lists).length).toBe(0);
        const firstUses = engine.model.readback.firstUses;
        expect((await engine.complete(oracle.prompt, GREEDY)).ids).toEqual(oracle.generated_token_ids);
        expect(engine.model.readback.firstUses).toBe(firstUses);
      });
    } finally {
      host.precompileHelpers = helpers;
    }
  });

  it('a stand-in WebGPU refuses (a fixed array past 1 MiB) is counted, and the pipeline still runs at its first dispatch', async () => {
    const gpu = await testGpu();
    const alloc = new Allocator(gpu);
    const words = 300_000; // 1.2 MB: past the stand-ins' 1 MiB
    const big = alloc.storage('precompile.big', words * 4);
    const code = `
struct Params { value: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step_: vec4<u32>;
@group(0) @binding(2) var<storage, read_write> big: array<u32, ${words}>;
@compute @workgroup_size(1) fn main() { big[${words - 1}] = p.value + step_.x * 0u; }`;
    const d = await buildKernel(gpu, alloc, {
      label: 'precompile/big', code, params: new UniformLayout('Params', [['value', 'u32']]), values: { value: 42 }, step: stepBuffer(alloc), bindings: [big], grid: () => [1],
    });
    const report = await precompile(gpu, [[d]], { helpers: 0 });
    expect(report).toMatchObject({ pipelines: 1, failed: 1 });
    expect(wasDispatched(d.pipeline)).toBe(false);
    const stopped = await precompile(gpu, [[d]], { helpers: 0, stop: () => true });
    expect(stopped.pipelines).toBe(0);
    run(gpu, [d], 1);
    expect(new Uint32Array(await readBuffer(gpu, big, 4, (words - 1) * 4))[0]).toBe(42);
  });
});

/**
 * A CPU adapter (lavapipe) compiles a pipeline at its first dispatch, so a pass that dispatches one for the first time
 * can take seconds where the next takes milliseconds. encodeDispatches says which passes do; their reads do not teach
 * the readback pacer (src/model/map_pacer.ts), which otherwise slept through most of a first step's time on each of
 * the next steps (12.6, 5.4, 2.3 s on SmolLM2-135M's shape after a 14.8 s first decode step).
 */
import { describe, expect, it } from 'vitest';
import { Allocator } from '../src/gpu/buffers.ts';
import { buildKernel } from '../src/kernels/dispatch.ts';
import { UniformLayout } from '../src/gpu/uniforms.ts';
import { ReadbackRing } from '../src/model/readback_ring.ts';
import { run, stepBuffer, testGpu } from './helpers/gpu.ts';
import { storiesOnNewDevice } from './helpers/new_device.ts';

const FILL = `
struct Params { value: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_: vec4<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1) fn main(@builtin(global_invocation_id) id: vec3<u32>) { out[id.x] = params.value + step_.x * 0u; }
`;

async function fillKernel(value: number, label: string) {
  const gpu = await testGpu();
  const alloc = new Allocator(gpu);
  const out = alloc.storage(`${label}.out`, 16);
  const d = await buildKernel(gpu, alloc, {
    label, code: FILL, params: new UniformLayout('Params', [['value', 'u32']]), values: { value }, step: stepBuffer(alloc), bindings: [out], grid: (n) => [n],
  });
  return { gpu, d };
}

describe('first dispatches', () => {
  it("encodeDispatches is true for a pass with a pipeline's first dispatch, and only then; an empty grid dispatches nothing", async () => {
    const { gpu, d } = await fillKernel(7, 'first_dispatch/a');
    const other = (await fillKernel(9, 'first_dispatch/b')).d;
    expect(run(gpu, [d], 0)).toBe(false); // skipped: no dispatch, nothing compiled
    expect(run(gpu, [d], 4)).toBe(true);
    expect(run(gpu, [d], 4)).toBe(false);
    expect(run(gpu, [d, other], 2)).toBe(true); // one new pipeline in the list is enough
    expect(run(gpu, [other, d], 2)).toBe(false);
    await gpu.device.queue.onSubmittedWorkDone();
  });

  it("a read of a pass that compiles leaves the pacer's estimate alone; the next read sets it", async () => {
    const gpu = await testGpu();
    const bufs = [0, 1].map((i) => gpu.device.createBuffer({ label: `first_dispatch.read${i}`, size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
    const ring = new ReadbackRing(bufs, { pace: true });
    try {
      expect(ring.pacer!.mapAt(1, 100)).toBe(100); // nothing measured: map at once
      await ring.readWords(await ring.take(), 1, 1, true);
      expect(ring.firstUses).toBe(1);
      expect(ring.pacer!.mapAt(1, 100)).toBe(100); // still at once
      await ring.readWords(await ring.take(), 1, 1);
      expect(ring.firstUses).toBe(1);
      expect(ring.pacer!.mapAt(1, 100)).toBeGreaterThan(100); // a measured step: sleep through most of it
    } finally {
      bufs.forEach((b) => b.destroy());
    }
  });

  it('an engine on a new device flags the passes that compile: its first prefill and decode steps, none of a second run', async () => {
    await storiesOnNewDevice({ contextLength: 128 }, async (engine) => {
      const greedy = { maxTokens: 12, temperature: 0, reuseKv: false };
      const first = await engine.complete('Once upon a time', greedy);
      const flagged = engine.model.readback.firstUses;
      // The prompt's pass (layers and head) and the first decode step (the chained list): each compiled its pipelines.
      expect(flagged).toBeGreaterThanOrEqual(2);
      expect(flagged).toBeLessThanOrEqual(4);
      const again = await engine.complete('Once upon a time', greedy);
      expect(again.ids).toEqual(first.ids);
      expect(engine.model.readback.firstUses).toBe(flagged);
    });
  });

  it('a prefill pass that compiles does not size the next ones', async () => {
    await storiesOnNewDevice({ contextLength: 128, maxBatch: 64 }, async (engine) => {
      Object.assign(engine.tuning, { passMs: 1e9, minPassTokens: 1 }); // any measured pass grows the next to maxBatch
      const prompt = engine.tokenize('Lily and Ben were friends. They went to the park and saw a big dog. '.repeat(2)).slice(0, 40);
      expect(prompt.length).toBe(40);
      const reads = engine.model.readback.reads;
      await engine.complete(prompt, { maxTokens: 1, temperature: 0, reuseKv: false });
      // Passes of 4 (compiles), 4 (queued behind it at the same size), 4 (sized before any measured pass ended), then
      // the 28 left, sized from the second. Measuring the first would have made the third the last (4, 4, 32).
      expect(engine.model.readback.reads - reads).toBe(4);
    });
  });
});

/**
 * decode_dims's lane sum (src/kernels/attention.ts lanesSumLib): the butterfly of subgroupShuffleXor and the tree of
 * subgroupBroadcast give every lane the same bits, equal to each other and to ((x0 + x1) + (x2 + x3)) + ... in f32,
 * on inputs whose sum depends on the order of the additions (the online softmax runs alike in every lane only so).
 */
import { describe, expect, it } from 'vitest';
import { lanesSumLib } from '../src/kernels/attention.ts';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { bindGroup } from '../src/kernels/dispatch.ts';
import { testGpu, rng, run } from './helpers/gpu.ts';

const WG = 8;
const GROUPS = 64;

/** The pairwise order both WGSL forms use, rounding to f32 at each addition. */
function pairwise(x: number[]): number {
  if (x.length === 1) return x[0];
  const h = Math.ceil(x.length / 2);
  return Math.fround(pairwise(x.slice(0, h)) + pairwise(x.slice(h)));
}

describe('lanes_sum4', () => {
  it('butterfly and broadcast tree: the same bits in every lane, equal to the pairwise f32 sum', async () => {
    const gpu = await testGpu();
    expect(gpu.caps.subgroups && gpu.caps.subgroupMinSize === WG && gpu.caps.subgroupMaxSize === WG, 'the test adapter runs subgroups of 8').toBe(true);
    const r = rng(11);
    // Mixed magnitudes and signs, so that another order of additions rounds differently.
    const x = new Float32Array(GROUPS * WG * 4).map(() => (r() - 0.5) * 10 ** Math.floor(r() * 16 - 8));
    const alloc = new Allocator(gpu);
    const xb = alloc.upload('x', x);
    const yb = alloc.storage('y', x.byteLength);
    const sums = async (butterfly: boolean) => {
      const code = `enable subgroups;\n${lanesSumLib(true, WG, butterfly)}
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) { y[g.x] = lanes_sum4(x[g.x]); }`;
      const pipeline = gpu.device.createComputePipeline({ layout: 'auto', compute: { module: gpu.device.createShaderModule({ code }), entryPoint: 'main' } });
      run(gpu, [{ label: 'lanes_sum', pipeline, bindGroup: bindGroup(alloc, 'lanes_sum', pipeline, [xb, yb]), grid: () => [GROUPS] }], 1);
      return new Float32Array(await readBuffer(gpu, yb));
    };
    const [xor, tree] = [await sums(true), await sums(false)];
    let orderMatters = 0;
    for (let g = 0; g < GROUPS; g++) {
      for (let c = 0; c < 4; c++) {
        const lanes = Array.from({ length: WG }, (_, l) => x[(g * WG + l) * 4 + c]);
        const want = pairwise(lanes);
        if (lanes.reduce((a, b) => Math.fround(a + b), 0) !== want) orderMatters++;
        for (let l = 0; l < WG; l++) {
          const i = (g * WG + l) * 4 + c;
          expect(Object.is(xor[i], want), `butterfly, group ${g} lane ${l} component ${c}`).toBe(true);
          expect(Object.is(tree[i], want), `tree, group ${g} lane ${l} component ${c}`).toBe(true);
        }
      }
    }
    expect(orderMatters, 'inputs whose sum depends on the order').toBeGreaterThan(GROUPS);
    alloc.destroyAll();
  });
});

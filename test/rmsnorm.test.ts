import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { buildRmsnorm } from '../src/kernels/rmsnorm.ts';
import { encodeDispatches } from '../src/kernels/dispatch.ts';
import { rmsnormRef } from '../src/kernels/ref/rmsnorm.ts';
import { randn, rng, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';

describe.each(VARIANTS)('rmsnorm (%s)', (variant) => {
  // wg: the adapter's default (8 on lavapipe), or a GPU's 64.
  it.each([[1, 64, undefined], [3, 172, undefined], [5, 1000, undefined], [2, 7, undefined], [3, 172, 64], [5, 1000, 64], [2, 2100, undefined], [2, 2100, 64]])('T=%i dim=%i wg=%s matches the CPU reference', async (T, dim, wg) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim * 31 + T);
    const x = randn(r, T * dim, 3);
    const w = randn(r, dim);
    const xb = alloc.upload('x', x), wb = alloc.upload('w', w), yb = alloc.storage('y', x.byteLength);
    const d = await buildRmsnorm(gpu, alloc, { dim, eps: 1e-5, step: stepBuffer(alloc, { n_tokens: T }), x: xb, weight: wb, y: yb, wg });
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeDispatches(pass, [d], T);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const y = new Float32Array(await readBuffer(gpu, yb, x.byteLength));
    expect(worstRatio(y, rmsnormRef(x, w, dim, 1e-5), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });
});

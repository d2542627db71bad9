import { expect } from 'vitest';
import { Allocator, readBuffer } from '../../src/gpu/buffers.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { buildMatmul, gpuRowWords, uploadWeights, type MatmulTuning, type WeightData } from '../../src/kernels/matmul.ts';
import { matmulRef } from '../../src/kernels/ref/matmul.ts';
import { randn, run, stepBuffer, testGpu, worstRatio } from './gpu.ts';

/**
 * The matmul test device: 'f16' has every feature lavapipe offers; 'f32' has no shader-f16 and no
 * subgroups (testGpu, as Chromium's SwiftShader) and here also no dot4I8Packed, so every fallback runs.
 */
export async function matmulDevice(variant: 'f16' | 'f32'): Promise<Gpu> {
  const gpu = await testGpu(variant);
  return variant === 'f16' ? gpu : { ...gpu, caps: Object.freeze({ ...gpu.caps, dot4I8: false }) };
}

export interface MatmulCase {
  N: number;
  K: number;
  T: number;
  bias?: boolean;
  accumulate?: boolean;
  chunkRows?: number; // force a split into chunks of this many rows
}

export const caseName = (c: MatmulCase) =>
  `N=${c.N} K=${c.K} T=${c.T}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}${c.chunkRows ? ` split@${c.chunkRows}` : ''}`;

/**
 * Runs one matmul of `wd` on the GPU (x, bias and y0 drawn from `r`) and returns the worst error ratio
 * against matmulRef of `refW` (wd itself, or the same matrix in a format the reference takes): <= 1 passes.
 */
export async function checkMatmul(
  variant: 'f16' | 'f32',
  wd: WeightData,
  refW: WeightData,
  r: () => number,
  path: 'gemv' | 'gemm',
  tuning: Partial<MatmulTuning>,
  c: MatmulCase,
  tol: number,
): Promise<number> {
  const gpu = await matmulDevice(variant);
  const alloc = new Allocator(gpu);
  try {
    const x = randn(r, c.T * c.K);
    const bias = c.bias ? randn(r, c.N) : undefined;
    const y0 = c.accumulate ? randn(r, c.T * c.N) : undefined;
    const rowBytes = gpuRowWords(wd.format, c.K) * 4;
    const w = uploadWeights(alloc, 'w', wd, c.chunkRows ? c.chunkRows * rowBytes : undefined);
    if (c.chunkRows) expect(w.chunks.length).toBe(Math.ceil(c.N / c.chunkRows));
    const yb = y0 ? alloc.upload('y', y0) : alloc.storage('y', c.T * c.N * 4);
    const mm = await buildMatmul(gpu, alloc, {
      label: 'mm',
      w,
      x: alloc.upload('x', x),
      y: yb,
      bias: bias && alloc.upload('bias', bias),
      accumulate: c.accumulate,
      step: stepBuffer(alloc, { n_tokens: c.T }),
      maxTokens: c.T,
      tuning,
    });
    run(gpu, mm[path], c.T);
    const y = new Float32Array(await readBuffer(gpu, yb, c.T * c.N * 4));
    return worstRatio(y, matmulRef(refW, x, c.T, { bias, y0 }), tol, tol);
  } finally {
    alloc.destroyAll();
  }
}

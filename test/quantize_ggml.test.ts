/**
 * ggml's quantizers on the GPU (src/kernels/quantize_ggml.ts) against ggml's own C (its fixture) and the CPU's
 * (ggmlQuantize, byte-equal to that C: test/ggml_quant.test.ts): the same bytes for every type, on values that reach
 * the quantizers' branches (all-zero and constant blocks, one value far above the rest, all-negative and all-positive
 * sub-blocks, ties, tiny and subnormal scales) and on trained-weight-like normals; more blocks than one pass converts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Gpu } from '../src/gpu/device.ts';
import { ggmlQuantize } from '../src/quant/ggml/index.ts';
import { GGML_TYPES } from '../src/quant/ggml/types.ts';
import { ggmlQuantizeOnGpu, GPU_GGML_TYPES } from '../src/kernels/quantize_ggml.ts';
import { randn, rng, testGpu } from './helpers/gpu.ts';
import { f16Table } from '../src/quant/ggml/f16.ts';
import { f32ToBF16Bits, f32ToF16Bits } from '../src/gguf/convert.ts';

/** Blocks of 256 values, each a case the quantizers branch on, then normals at several scales. */
function cases(): Float32Array {
  const r = rng(11);
  const blocks: Float32Array[] = [];
  const block = (f: (i: number) => number) => blocks.push(Float32Array.from({ length: 256 }, (_, i) => f(i)));
  block(() => 0); // all zero
  block(() => 0.25); // constant
  block(() => -0.5);
  block((i) => (i % 32 === 5 ? 3 : 0.01 * Math.sin(i))); // one outlier a sub-block
  block((i) => -Math.abs(Math.sin(i + 1)) * 0.1); // all negative
  block((i) => Math.abs(Math.cos(i)) * 0.1 + 0.05); // all positive (min > 0)
  block((i) => ((i % 7) - 3) * 0.125); // exact ties at code boundaries
  block((i) => (i % 2 ? 1e-6 : -1e-6) * (1 + (i % 5))); // tiny: f16 scales near subnormal
  block((i) => (i % 3 ? 1e-9 : 0)); // subnormal f16 scales
  block((i) => (i < 128 ? 0 : Math.sin(i) * 0.05)); // half zero
  block((i) => (i % 16 === 0 ? -0 : Math.sin(i * 0.37))); // signed zeros
  for (const s of [0.02, 0.04, 1, 30]) blocks.push(randn(r, 256 * 40, s));
  const n = blocks.reduce((a, b) => a + b.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

describe('ggml quantizers on the GPU', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = await testGpu();
  });

  const values = cases();
  // Both ways of dividing: div_exact (GPUs', SwiftShader's) and lavapipe's own `/`.
  for (const type of GPU_GGML_TYPES) for (const exactDiv of [true, false]) {
    it(`${type}${exactDiv ? ', exact divisions' : ''}: the CPU reference's bytes`, async () => {
      const gpuBytes = await ggmlQuantizeOnGpu(gpu, type, values, exactDiv);
      const cpuBytes = ggmlQuantize(type, values);
      const bb = GGML_TYPES[type].blockBytes;
      const differing = [];
      for (let b = 0; b < cpuBytes.length / bb; b++) {
        for (let i = 0; i < bb; i++) {
          if (gpuBytes[b * bb + i] !== cpuBytes[b * bb + i]) {
            differing.push({ block: b, byte: i, gpu: gpuBytes[b * bb + i], cpu: cpuBytes[b * bb + i] });
            break;
          }
        }
      }
      expect(differing.slice(0, 5)).toEqual([]);
      expect(gpuBytes.length).toBe(cpuBytes.length);
    });
  }

  // ggml's own C (test/fixtures/ggml/ggml_ref.json: quantize_row_*_ref of ggml-quants.c, see make_fixture.mjs).
  it("every type the fixture has: the bytes of ggml-quants.c's quantize_row_*_ref, both ways of dividing", async () => {
    const fx = JSON.parse(readFileSync(new URL('./fixtures/ggml/ggml_ref.json', import.meta.url), 'utf8'));
    const b64 = (t: string) => new Uint8Array(Buffer.from(t, 'base64'));
    const input = new Float32Array(b64(fx.input).buffer);
    const types = Object.keys(fx.quant).filter((t) => GPU_GGML_TYPES.includes(t));
    expect(types).toEqual(expect.arrayContaining(['Q4_0', 'Q4_K', 'Q5_K', 'Q6_K']));
    for (const type of types) {
      for (const exactDiv of [true, false]) {
        expect(Buffer.compare(await ggmlQuantizeOnGpu(gpu, type, input, exactDiv), b64(fx.quant[type])), type).toBe(0);
      }
    }
  });

  // A checkpoint's f16 and bf16 words, widened on the GPU: the bytes of the CPU's conversion of the widened values.
  const f16 = f16Table();
  const halves = {
    f16: { bits: (v: number) => f32ToF16Bits(v), value: (h: number) => f16[h] },
    bf16: { bits: (v: number) => f32ToBF16Bits(v), value: (h: number) => new Float32Array(new Uint32Array([h << 16]).buffer)[0] },
  };
  for (const [format, { bits, value }] of Object.entries(halves) as [keyof typeof halves, (typeof halves)['f16']][]) {
    it(`every type from ${format} words: the CPU's bytes of the same values`, async () => {
      const h = Uint16Array.from(values, bits);
      const words = new Uint32Array(h.buffer);
      const widened = Float32Array.from(h, value);
      for (const type of GPU_GGML_TYPES) {
        const gpuBytes = await ggmlQuantizeOnGpu(gpu, type, { format, words });
        expect(Buffer.compare(gpuBytes, ggmlQuantize(type, widened)), type).toBe(0);
      }
    });
  }
});

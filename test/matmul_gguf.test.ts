/**
 * The GGUF block formats (q4_1 ... iq4_xs) on the GPU: ggml's raw blocks repacked at upload
 * (src/kernels/weight_layouts.ts) and decoded by their WGSL decoders, against the CPU reference:
 * ggmlDequantize (bit-exact with ggml), then the f32 reference matmul. Every path (GEMV rows and split,
 * GEMM rows and tiled, the embedding gather) on awkward shapes, on both device variants.
 */
import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { buildEmbedding } from '../src/kernels/embedding.ts';
import { buildMatmul, GGUF_FORMATS, gpuRowWords, matmulTuning, uploadWeights, widensCodes, type MatmulTuning, type WeightData } from '../src/kernels/matmul.ts';
import { matmulRef } from '../src/kernels/ref/matmul.ts';
import { WIDE_CODES } from '../src/kernels/weight_formats.ts';
import { GGUF_LAYOUTS, planeRowWords, wideRowWords, type GgufFormat } from '../src/kernels/weight_layouts.ts';
import { ggmlDequantize, ggmlRandomBlocks } from '../src/quant/ggml/index.ts';
import { randn, rng, run, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';
import { caseName, checkMatmul, matmulDevice, rowMajorWhere, rowTileOutputs, tilesPast, type MatmulCase } from './helpers/matmul.ts';
import { halves } from './helpers/cover.ts';

/** Random valid blocks of `format`, rows x cols, and the same matrix dequantized by ggml's reference. */
function makeWeights(format: GgufFormat, rows: number, cols: number, seed: number): { w: WeightData; f32: WeightData } {
  const type = GGUF_LAYOUTS[format].ggml;
  const data = ggmlRandomBlocks(type, rows * cols, rng(seed));
  const values = ggmlDequantize(type, data, rows * cols);
  return { w: { format, rows, cols, data }, f32: { format: 'f32', rows, cols, data: values } };
}

type Case = MatmulCase; // K: a multiple of 256 for the K-quants and IQ4_XS
const device = matmulDevice;

async function check(variant: 'f16' | 'f32', format: GgufFormat, path: 'gemv' | 'gemm', tuning: Partial<MatmulTuning>, c: Case): Promise<number> {
  const { w, f32 } = makeWeights(format, c.N, c.K, c.N * 7919 + c.K * 31 + c.T);
  // f32 x: the f64 dot of the dequantized weights, up to f32 sums in another order.
  return checkMatmul(variant, w, f32, rng(c.T + 5), path, tuning, c, 2e-5);
}

// N not a multiple of any tile or R, several super-blocks a row, chunks of rows.
const GEMV_CASES = (k: number): Case[] => [
  { N: 1, K: k, T: 1 },
  { N: 37, K: 2 * k, T: 1, bias: true },
  { N: 70, K: 3 * k, T: 1, accumulate: true, chunkRows: 24 },
];
// The tiled GEMM's 32 x 32 tiles: one partial tile; two tiles each way, both partial at the edge; chunks.
const GEMM_CASES = (k: number): Case[] => [
  { N: 7, K: k, T: 5, bias: true },
  { N: 45, K: 3 * k, T: 33, bias: true },
  { N: 37, K: 2 * k, T: 33, accumulate: true, chunkRows: 16 },
];
const GEMV_LAYOUTS: Partial<MatmulTuning>[] = [
  { gemv: 'rows', gemvWG: 64, gemvR: 2 },
  { gemv: 'split', gemvWG: 64, gemvR: 4 },
  { gemv: 'flat', gemvWG: 64 }, // SwiftShader's
  { gemv: 'rows', gemvWG: 8, gemvR: 3 },
];
const GEMM_LAYOUTS: Partial<MatmulTuning>[] = [{ gemm: 'rows', gemmWG: 64, gemmR: 4, gemmTT: 4 }, { gemm: 'rows8', gemmWG: 16, gemmR: 4 }, { gemm: 'flat', gemmWG: 16 }, { gemm: 'tiled' }];
// The tiled GEMM (GPUs only; lavapipe runs 'rows') costs lavapipe 15-50 s per format to compile (at its
// first dispatch, on 2 loaded cores; TM = TN = 8, 16 or 32 and its barriers make no measurable difference).
const SLOW = 600_000; // ms: a first compile under a loaded machine
const tuningName = (t: Partial<MatmulTuning>) =>
  t.gemv ? `gemv ${t.gemv} WG=${t.gemvWG} R=${t.gemvR}` : t.gemm === 'rows' ? `gemm rows TT=${t.gemmTT}` : `gemm ${t.gemm}`;

describe.each(VARIANTS)('GGUF block formats (%s device)', (variant) => {
  describe.each(GGUF_FORMATS)('%s', (format) => {
    const k = GGUF_LAYOUTS[format].blockElems;
    // The layouts both devices run, by halves turning with the format (test/helpers/cover.ts); the odd GEMV on f16.
    const both = halves([...GEMV_LAYOUTS.slice(0, 3), ...GEMM_LAYOUTS], variant, GGUF_FORMATS.indexOf(format));
    for (const tuning of variant === 'f16' ? [...both, GEMV_LAYOUTS[3]] : both) {
      const path = tuning.gemv ? 'gemv' : 'gemm';
      const cases = path === 'gemv' ? GEMV_CASES(k) : GEMM_CASES(k);
      it.each(cases.map((c) => [caseName(c), c] as const))(`${tuningName(tuning)} %s`, async (_, c) => {
        expect(await check(variant, format, path, tuning, c)).toBeLessThanOrEqual(1);
      }, SLOW);
    }

    it('embedding gather: the rows ggml dequantizes, across chunks', async () => {
      const gpu = await device(variant);
      const alloc = new Allocator(gpu);
      try {
        const [vocab, dim] = [50, 2 * k];
        const { w: wd, f32 } = makeWeights(format, vocab, dim, 11);
        const ids = [0, 49, 17, 20, 21, 0];
        const xe = alloc.storage('xe', ids.length * dim * 4);
        const table = uploadWeights(alloc, 'table', wd, { maxChunkBytes: 21 * gpuRowWords(format, dim, widensCodes(gpu.caps, format)) * 4 });
        const d = await buildEmbedding(gpu, alloc, { table, ids: alloc.upload('ids', new Uint32Array(ids)), x: xe, step: stepBuffer(alloc, { n_tokens: ids.length }) });
        expect(d.length).toBe(table.rowTile === 16 ? 4 : 3); // 21 rows a chunk, or 16 in tiles (lavapipe)
        run(gpu, d, ids.length);
        const got = new Float32Array(await readBuffer(gpu, xe, ids.length * dim * 4));
        const all = f32.data as Float32Array;
        const want = new Float32Array(ids.flatMap((id) => [...all.subarray(id * dim, (id + 1) * dim)]));
        expect(worstRatio(got, want, 0, 0)).toBe(0);
      } finally {
        alloc.destroyAll();
      }
    }, SLOW);
  });
});

/**
 * The row-tile cases' matrix: 37 rows (rowTileOutputs); K 5 blocks of 32 (a whole 128-code chunk of the high plane and a
 * short one) or 2 super-blocks; 5 tokens of x on the GPU; the gather's ids.
 */
function rowTileCase(alloc: Allocator, format: GgufFormat, seed: number) {
  const k = GGUF_LAYOUTS[format].blockElems;
  const [N, K, T] = [37, k === 32 ? 5 * k : 2 * k, 5];
  return { ...makeWeights(format, N, K, seed), N, K, T, x: alloc.upload('x', randn(rng(seed + 1), T * K, 2)), ids: [0, 36, 17, 16, 15] };
}

describe('GGUF block formats: layout, subnormal scales, fused parts', () => {
  it.each(GGUF_FORMATS)('%s in a row tile (8, 16 or 32, turning) gives the bits of row-major: a GEMV or GEMM layout (turning), gather; chunks of whole tiles', async (format) => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      const { w: wd, f32, K, T, x, ids } = rowTileCase(alloc, format, 41);
      const outputs = await rowTileOutputs(gpu, alloc, wd, x, T, ids, undefined, undefined, GGUF_FORMATS.indexOf(format)); // every tile meets every layout over the formats
      for (const tile of tilesPast(outputs)) expect(outputs.get(tile), `rowTile ${tile}`).toEqual(rowMajorWhere(outputs, tile));
      // And row-major is right: the GEMV against the reference, the gather against ggml's dequantization.
      const y1 = new Float32Array(Uint32Array.from(outputs.get(1)![0]!).buffer);
      expect(worstRatio(y1, matmulRef(f32, new Float32Array(await readBuffer(gpu, x, K * 4)), 1), 2e-5, 2e-5)).toBeLessThanOrEqual(1);
      const all = f32.data as Float32Array;
      const e1 = new Float32Array(Uint32Array.from(outputs.get(1)!.at(-1)!).buffer);
      expect(worstRatio(e1, new Float32Array(ids.flatMap((id) => [...all.subarray(id * K, (id + 1) * K)])), 0, 0)).toBe(0);
      expect(() => uploadWeights(alloc, 'w', wd, { rowTile: 4 })).toThrow(/rowTile 4/);
    } finally {
      alloc.destroyAll();
    }
  }, SLOW);

  it.each(WIDE_CODES)('%s with its codes widened to a byte (CPU adapters\' default) gives the bits of its planes: row-major and a row tile, a layout (turning), gather', async (format) => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      const { w: wd, N, K, T, x, ids } = rowTileCase(alloc, format, 43);
      const wide = await rowTileOutputs(gpu, alloc, wd, x, T, ids, undefined, true, WIDE_CODES.indexOf(format));
      const planes = await rowTileOutputs(gpu, alloc, wd, x, T, ids, undefined, false, WIDE_CODES.indexOf(format));
      expect(wide).toEqual(planes);
      // The bytes: a byte a code against the planes' 5, 6 or 3 bits (each plane padded to whole vec4s).
      const bytes = (wideCodes: boolean) => uploadWeights(alloc, 'b', wd, { wideCodes, rowTile: 1 }).bytes;
      expect(bytes(true) - bytes(false)).toBe(N * 4 * (wideRowWords(K) - planeRowWords(GGUF_LAYOUTS[format], K)));
      expect(uploadWeights(alloc, 'q4k', makeWeights('q4_k', 1, 256, 1).w, { wideCodes: true }).wideCodes).toBeUndefined(); // 4-bit codes stay
    } finally {
      alloc.destroyAll();
    }
  }, SLOW);

  it.each(['iq4_nl', 'iq4_xs'] as const)('%s: values by selects (lavapipe\'s default) give the bits of the array lookup, GEMV and GEMM', async (format) => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      expect([matmulTuning(gpu.caps, format).iq4Selects, matmulTuning({ ...gpu.caps, cpu: false }, format).iq4Selects]).toEqual([true, false]);
      expect(matmulTuning({ ...gpu.caps, adapterName: 'SwiftShader Device (Subzero)' }, format).iq4Selects).toBe(false);
      const [N, K, T] = [37, 512, 9];
      const w = uploadWeights(alloc, 'w', makeWeights(format, N, K, 47).w);
      const x = alloc.upload('x', randn(rng(48), T * K));
      const outputs = async (iq4Selects: boolean) => {
        const got: number[][] = [];
        for (const [tuning, path] of [[{ gemv: 'rows' }, 'gemv'], [{ gemv: 'flat' }, 'gemv'], [{ gemm: 'rows8' }, 'gemm']] as const) {
          const n = path === 'gemv' ? 1 : T;
          const yb = alloc.storage('y', T * N * 4);
          const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y: yb, step: stepBuffer(alloc, { n_tokens: n }), maxTokens: T, tuning: { ...tuning, iq4Selects } });
          run(gpu, mm[path], n);
          got.push(Array.from(new Uint32Array(await readBuffer(gpu, yb, n * N * 4))));
        }
        return got;
      };
      expect(await outputs(true)).toEqual(await outputs(false));
    } finally {
      alloc.destroyAll();
    }
  }, SLOW);

  it('a Q4_K matrix takes at least 1.6x fewer GPU bytes than the same matrix in q8', async () => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      const [N, K] = [576, 1536]; // SmolLM2-135M's ffn_down
      const q4k = uploadWeights(alloc, 'q4k', makeWeights('q4_k', N, K, 1).w);
      const q8 = uploadWeights(alloc, 'q8', { format: 'q8', rows: N, cols: K, data: new Uint32Array((N * K) / 4), scales: new Float32Array((N * K) / 32) });
      expect(q8.bytes / q4k.bytes).toBeGreaterThanOrEqual(1.6);
      expect((8 * q4k.bytes) / (N * K)).toBeCloseTo(4.625, 6); // 4-bit codes, 6-bit scale and min per 32, f16 d and dmin per 256
    } finally {
      alloc.destroyAll();
    }
  });

  it.each(VARIANTS)('Q6_K with subnormal f16 d in every block decodes exactly (%s device)', async (variant) => {
    const gpu = await device(variant);
    const alloc = new Allocator(gpu);
    try {
      const [N, K] = [9, 512];
      const { w: wd } = makeWeights('q6_k', N, K, 3);
      const data = (wd.data as Uint8Array).slice();
      const r = rng(4);
      for (let o = 208; o < data.length; o += 210) {
        const h = 1 + Math.floor(r() * 0x3fe); // exponent field 0: subnormal
        data[o] = h & 0xff;
        data[o + 1] = (h >> 8) | (r() < 0.5 ? 0x80 : 0);
      }
      const values = ggmlDequantize('Q6_K', data, N * K);
      expect(values.some((v) => v !== 0)).toBe(true);
      const x = randn(r, K);
      const w = uploadWeights(alloc, 'w', { ...wd, data });
      const yb = alloc.storage('y', N * 4);
      const step = stepBuffer(alloc, { n_tokens: 1 });
      const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x: alloc.upload('x', x), y: yb, step, maxTokens: 1 });
      run(gpu, mm.gemv, 1);
      const y = new Float32Array(await readBuffer(gpu, yb, N * 4));
      expect(worstRatio(y, matmulRef({ format: 'f32', rows: N, cols: K, data: values }, x, 1), 1e-9, 2e-5)).toBeLessThanOrEqual(1);
      const xe = alloc.storage('xe', K * 4);
      run(gpu, await buildEmbedding(gpu, alloc, { table: w, ids: alloc.upload('ids', new Uint32Array([N - 1])), x: xe, step }), 1);
      expect(worstRatio(new Float32Array(await readBuffer(gpu, xe, K * 4)), values.subarray((N - 1) * K), 0, 0)).toBe(0);
    } finally {
      alloc.destroyAll();
    }
  });

  it('parts of a fused output in different formats, each written into its columns of y (yOffset, yWidth)', async () => {
    const gpu = await testGpu('f16');
    const alloc = new Allocator(gpu);
    try {
      // As a Q4_K_M file's attn_q / attn_k (Q4_K) and attn_v (Q6_K), fused into one qkv output.
      const [K, T] = [256, 3];
      const parts = [makeWeights('q4_k', 12, K, 5), makeWeights('q4_k', 4, K, 6), makeWeights('q6_k', 4, K, 7)];
      const width = 20;
      const x = randn(rng(8), T * K);
      const xb = alloc.upload('x', x);
      const y0 = randn(rng(9), T * width);
      const yb = alloc.upload('y', y0);
      const step = stepBuffer(alloc, { n_tokens: T });
      let offset = 0;
      const want = Float32Array.from(y0);
      for (const [i, p] of parts.entries()) {
        const bias = randn(rng(10 + i), p.w.rows);
        const w = uploadWeights(alloc, `w${i}`, p.w);
        const mm = await buildMatmul(gpu, alloc, { label: `mm${i}`, w, x: xb, y: yb, bias: alloc.upload(`b${i}`, bias), accumulate: true, step, maxTokens: T, yOffset: offset, yWidth: width });
        run(gpu, mm.gemm, T);
        const ref = matmulRef(p.f32, x, T, { bias });
        for (let t = 0; t < T; t++) for (let n = 0; n < p.w.rows; n++) want[t * width + offset + n] += ref[t * p.w.rows + n];
        offset += p.w.rows;
      }
      const y = new Float32Array(await readBuffer(gpu, yb, T * width * 4));
      expect(worstRatio(y, want, 2e-5, 2e-5)).toBeLessThanOrEqual(1);
      const w = uploadWeights(alloc, 'w', parts[0].w);
      const args = { label: 'bad', w, x: xb, y: yb, step, maxTokens: T };
      await expect(buildMatmul(gpu, alloc, { ...args, yOffset: 10, yWidth: 20 })).rejects.toThrow(/yOffset 10 \+ 12 rows must fit in y rows of yWidth 20/);
    } finally {
      alloc.destroyAll();
    }
  });
});

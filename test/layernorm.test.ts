import { describe, expect, it } from 'vitest';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { buildLayernorm } from '../src/kernels/layernorm.ts';
import { packInputs } from '../src/model/pass_inputs.ts';
import { layernormRef } from '../src/kernels/ref/rmsnorm.ts';
import { randn, rng, run, stepBuffer, testGpu, VARIANTS, worstRatio } from './helpers/gpu.ts';

describe.each(VARIANTS)('layernorm (%s)', (variant) => {
  // Rows off zero (a mean of 2): the kernel's two passes must take the mean out before squaring.
  it.each([[1, 64, 0], [3, 384, 0], [2, 7, 5], [4, 1000, 3]])('T=%i dim=%i pos=%i: residual matches the CPU reference', async (T, dim, pos) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim * 17 + T);
    const x = randn(r, T * dim, 3).map((v) => v + 2);
    const resid = randn(r, T * dim, 1);
    const w = randn(r, dim), b = randn(r, dim);
    const xb = alloc.upload('x', x), wb = alloc.upload('w', w), bb = alloc.upload('b', b);
    const yb = alloc.upload('y', resid);
    const step = stepBuffer(alloc, { n_tokens: T, pos });
    const inPlace = await buildLayernorm(gpu, alloc, { dim, eps: 1e-12, step, x: xb, weight: wb, bias: bb, add: 'residual', y: yb });
    run(gpu, [inPlace], T);
    const got = new Float32Array(await readBuffer(gpu, yb, x.byteLength));
    expect(worstRatio(got, layernormRef(x.map((v, i) => v + resid[i]), w, b, dim, 1e-12), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  // plain: y = LN(x), a pre-norm (ModernBERT's, whose norms have no bias: zeros); x and y apart.
  it.each([[2, 64, false], [5, 96, true], [1, 1000, false]])('T=%i dim=%i bias %s: plain matches the CPU reference', async (T, dim, biased) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim * 5 + T);
    const x = randn(r, T * dim, 3).map((v) => v + 2);
    const w = randn(r, dim), b = biased ? randn(r, dim) : new Float32Array(dim);
    const y = alloc.storage('y', x.byteLength);
    const d = await buildLayernorm(gpu, alloc, { dim, eps: 1e-5, step: stepBuffer(alloc, { n_tokens: T, pos: 0 }), x: alloc.upload('x', x), weight: alloc.upload('w', w), bias: alloc.upload('b', b), y });
    run(gpu, [d], T);
    expect(worstRatio(new Float32Array(await readBuffer(gpu, y, x.byteLength)), layernormRef(x, w, b, dim, 1e-5), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  // last: the pass's last row alone into row 0 (a pre-LayerNorm decoder's final norm before the LM head); the rest of y untouched.
  it.each([[1, 64], [4, 96], [3, 1000]])('T=%i dim=%i: last matches the CPU reference of the last row', async (T, dim) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim * 11 + T);
    const x = randn(r, T * dim, 3).map((v) => v + 2);
    const w = randn(r, dim), b = randn(r, dim);
    const y = alloc.upload('y', new Float32Array(2 * dim).fill(7));
    const d = await buildLayernorm(gpu, alloc, { dim, eps: 1e-5, step: stepBuffer(alloc, { n_tokens: T, pos: 0 }), x: alloc.upload('x', x), weight: alloc.upload('w', w), bias: alloc.upload('b', b), y, lastOnly: true });
    expect(d.label).toBe('layernorm/last');
    run(gpu, [d], T);
    const got = new Float32Array(await readBuffer(gpu, y, 2 * dim * 4));
    expect(worstRatio(got.subarray(0, dim), layernormRef(x.slice((T - 1) * dim), w, b, dim, 1e-5), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(Array.from(got.subarray(dim)).every((v) => v === 7)).toBe(true);
    alloc.destroyAll();
  });

  // in_rows: dim values from `offset` of rows of `stride`, in place (jina-bert-v2's q and k norms in the fused q|k|v rows);
  // the rest of each row untouched.
  it.each([[3, 64, 192, 64], [2, 48, 96, 0], [1, 1000, 1200, 200]])('T=%i dim=%i stride=%i offset=%i: in_rows matches the CPU reference', async (T, dim, stride, offset) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim * 3 + stride);
    const rows = randn(r, T * stride, 3).map((v) => v + 2);
    const w = randn(r, dim), b = randn(r, dim);
    const y = alloc.upload('y', rows);
    const d = await buildLayernorm(gpu, alloc, { dim, eps: 1e-12, step: stepBuffer(alloc, { n_tokens: T, pos: 0 }), x: null, weight: alloc.upload('w', w), bias: alloc.upload('b', b), y, inRows: { stride, offset } });
    run(gpu, [d], T);
    const want = rows.slice();
    for (let t = 0; t < T; t++) want.set(layernormRef(rows.slice(t * stride + offset, t * stride + offset + dim), w, b, dim, 1e-12), t * stride + offset);
    expect(worstRatio(new Float32Array(await readBuffer(gpu, y, rows.byteLength)), want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  // rows: y = LN(x + rows[t]), a (T, dim) buffer of its own (jina-bert-v2-code's second norm after attention); x, rows, y apart.
  it.each([[1, 64], [3, 384], [4, 1000]])('T=%i dim=%i: rows matches the CPU reference', async (T, dim) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim * 7 + T);
    const x = randn(r, T * dim, 3).map((v) => v + 2), rows = randn(r, T * dim, 1);
    const w = randn(r, dim), b = randn(r, dim);
    const y = alloc.storage('y', x.byteLength);
    const d = await buildLayernorm(gpu, alloc, { dim, eps: 1e-12, step: stepBuffer(alloc, { n_tokens: T, pos: 0 }), x: alloc.upload('x', x), weight: alloc.upload('w', w), bias: alloc.upload('b', b), add: { rows: alloc.upload('rows', rows) }, y });
    expect(d.label).toBe('layernorm/rows');
    run(gpu, [d], T);
    expect(worstRatio(new Float32Array(await readBuffer(gpu, y, x.byteLength)), layernormRef(x.map((v, i) => v + rows[i]), w, b, dim, 1e-12), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  // positions: a table of two token types; one input or several in a pass, each token at its position in its own input,
  // of the type its input's segment gives it.
  it.each([[[3], 16], [[2, 5, 1], 64], [[4, 4], 384]])('inputs %j dim=%i: positions matches the CPU reference', async (lengths, dim) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim + lengths.length);
    const inputs = lengths.map((length, i) => ({ length, ...(i % 2 === 1 ? { segmentB: 1 } : {}) }));
    const T = lengths.reduce((s, n) => s + n, 0);
    const P = Math.max(...lengths);
    const x = randn(r, T * dim, 3).map((v) => v + 2);
    const table = randn(r, 2 * P * dim, 0.5);
    const w = randn(r, dim), b = randn(r, dim);
    const packed = packInputs(inputs);
    const y = alloc.storage('y', x.byteLength);
    const add = { table: alloc.upload('table', table), positions: P, inputs: alloc.upload('inputs', packed) };
    const d = await buildLayernorm(gpu, alloc, { dim, eps: 1e-12, step: stepBuffer(alloc, { n_tokens: T, pos: 0 }), x: alloc.upload('x', x), weight: alloc.upload('w', w), bias: alloc.upload('b', b), add, y });
    run(gpu, [d], T);
    const rowOf = (t: number) => packed[4 * t + 2] * P + t - packed[4 * t]; // its type's rows, at its place in its input
    const want = layernormRef(x.map((v, i) => v + table[rowOf(Math.floor(i / dim)) * dim + (i % dim)]), w, b, dim, 1e-12);
    expect(worstRatio(new Float32Array(await readBuffer(gpu, y, x.byteLength)), want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });

  // types: a row a token type alone (nomic-bert's embeddings, which rotate q and k instead of adding positions)
  it.each([[[3, 2], 64], [[1], 16]])('inputs %j dim=%i: types matches the CPU reference', async (lengths, dim) => {
    const gpu = await testGpu(variant);
    const alloc = new Allocator(gpu);
    const r = rng(dim + 7 * lengths.length);
    const packed = packInputs(lengths.map((length, i) => ({ length, ...(i % 2 === 1 ? { segmentB: 1 } : {}) })));
    const T = lengths.reduce((s, n) => s + n, 0);
    const x = randn(r, T * dim, 3).map((v) => v + 2);
    const table = randn(r, 2 * dim, 0.5);
    const w = randn(r, dim), b = randn(r, dim);
    const y = alloc.storage('y', x.byteLength);
    const add = { table: alloc.upload('table', table), positions: 0, inputs: alloc.upload('inputs', packed) };
    const d = await buildLayernorm(gpu, alloc, { dim, eps: 1e-12, step: stepBuffer(alloc, { n_tokens: T, pos: 0 }), x: alloc.upload('x', x), weight: alloc.upload('w', w), bias: alloc.upload('b', b), add, y });
    run(gpu, [d], T);
    const want = layernormRef(x.map((v, i) => v + table[packed[4 * Math.floor(i / dim) + 2] * dim + (i % dim)]), w, b, dim, 1e-12);
    expect(worstRatio(new Float32Array(await readBuffer(gpu, y, x.byteLength)), want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    alloc.destroyAll();
  });
});

it('packInputs: each token\'s input bounds in the pass and its token type', () => {
  expect(Array.from(packInputs([{ length: 2 }, { length: 3, segmentB: 2 }]))).toEqual([0, 2, 0, 0, 0, 2, 0, 0, 2, 5, 0, 0, 2, 5, 0, 0, 2, 5, 1, 0]);
});

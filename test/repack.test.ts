/**
 * The word-level repacking of GGUF blocks (src/kernels/weight_layouts.ts, repack_words.ts) against the
 * per-element implementation it replaced (test/helpers/repack_reference.ts: each code unpacked to a byte
 * as ggml's dequantize_row_* reads it, then placed by planeVec; the GPU tests checked that one against
 * ggml's dequantization): byte-equal codes and scales for every format, on awkward shapes.
 */
import { describe, expect, it } from 'vitest';
import {
  GGUF_LAYOUTS, planeRowWords, repackGguf, repackGgufPieces, tiledIndex, wideRowWords, type GgufFormat,
} from '../src/kernels/weight_layouts.ts';
import { WIDE_CODES } from '../src/kernels/weight_formats.ts';
import { ggmlRandomBlocks } from '../src/quant/ggml/index.ts';
import { REFERENCE_LAYOUTS, repackGgufReference } from './helpers/repack_reference.ts';
import { rng } from './helpers/gpu.ts';

const FORMATS = Object.keys(GGUF_LAYOUTS) as GgufFormat[];

/** First index where a and b differ, -1 if none (a readable failure instead of two dumped arrays). */
function firstDiff(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  return a.findIndex((v, i) => v !== b[i]);
}

// Blocks per row: one; five (32-blocks: a short last chunk of the high plane); nine (two whole chunks
// and one block); rows: one, odd, more than a few.
const SHAPES: [rows: number, blocks: number][] = [[1, 1], [3, 5], [7, 9], [2, 4], [5, 12]];

describe.each(FORMATS)('repackGguf %s', (format) => {
  const layout = GGUF_LAYOUTS[format];
  it.each(SHAPES)('%i rows of %i blocks: byte-equal with the per-element reference', (rows, blocks) => {
    const K = blocks * layout.blockElems;
    // std 1: a spread of d / dmin bit patterns; random bytes everywhere else (every code and sub-scale bit).
    const src = ggmlRandomBlocks(layout.ggml, rows * K, rng(rows * 131 + blocks), 1);
    const got = repackGguf(layout, src, rows, K);
    const want = repackGgufReference(REFERENCE_LAYOUTS[format], src, rows, K);
    expect(firstDiff(got.codes, want.codes), 'first differing code word').toBe(-1);
    expect(firstDiff(got.scales, want.scales), 'first differing scale word').toBe(-1);
  });

  it('reads blocks at any byte offset (a chunk of rows, an odd offset in the file)', () => {
    const rows = 3, K = 2 * layout.blockElems;
    const src = ggmlRandomBlocks(layout.ggml, rows * K, rng(99));
    const file = new Uint8Array(src.byteLength + 3);
    file.set(src, 1);
    const rowBytes = src.byteLength / rows;
    const got = repackGguf(layout, file.subarray(1 + rowBytes, 1 + src.byteLength), rows - 1, K);
    const want = repackGgufReference(REFERENCE_LAYOUTS[format], src.subarray(rowBytes), rows - 1, K);
    expect(firstDiff(got.codes, want.codes)).toBe(-1);
    expect(firstDiff(got.scales, want.scales)).toBe(-1);
  });

  it.each([1, 2, 3])('in pieces of %i rows (the upload\'s reused scratch): the same words, rows in order', (per) => {
    const rows = 7, K = 3 * layout.blockElems;
    const src = ggmlRandomBlocks(layout.ggml, rows * K, rng(per));
    const whole = repackGguf(layout, src, rows, K);
    const cw = planeRowWords(layout, K), sw = layout.scaleWords(K);
    const codes = new Uint32Array(rows * cw).fill(0xdead), scales = new Uint32Array(rows * sw).fill(0xdead);
    const firstRows: number[] = [];
    repackGgufPieces(layout, src, rows, K, (c, s, r) => {
      firstRows.push(r);
      codes.set(c, r * cw);
      scales.set(s, r * sw);
    }, per * (cw + sw));
    expect(firstRows).toEqual(Array.from({ length: Math.ceil(rows / per) }, (_, i) => i * per));
    expect(firstDiff(codes, whole.codes)).toBe(-1);
    expect(firstDiff(scales, whole.scales)).toBe(-1);
  });

  // Widened codes (WIDE_CODES) are tiled the same way.
  const widths = WIDE_CODES.includes(format) ? [false, true] : [false];
  it.each(widths)('in row tiles of 8, pieces of whole tiles: row-major\'s vec4s and scale words at tiledIndex, the last tile zero (widened: %s)', (wide) => {
    const rows = 19, K = 3 * layout.blockElems, tile = 8;
    const src = ggmlRandomBlocks(layout.ggml, rows * K, rng(8));
    const whole = repackGguf(layout, src, rows, K, undefined, 1, wide);
    const cw = wide ? wideRowWords(K) : planeRowWords(layout, K), sw = layout.scaleWords(K);
    const want = { codes: new Uint32Array(24 * cw), scales: new Uint32Array(24 * sw) }; // 3 tiles
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cw / 4; j++) want.codes.set(whole.codes.subarray(r * cw + 4 * j, r * cw + 4 * j + 4), 4 * tiledIndex(r, j, cw / 4, tile));
      for (let j = 0; j < sw; j++) want.scales[tiledIndex(r, j, sw, tile)] = whole.scales[r * sw + j];
    }
    const codes = new Uint32Array(24 * cw).fill(0xdead), scales = new Uint32Array(24 * sw).fill(0xdead);
    const firstRows: number[] = [];
    repackGgufPieces(layout, src, rows, K, (c, s, r) => {
      firstRows.push(r);
      codes.set(c, r * cw);
      scales.set(s, r * sw);
    }, cw + sw, tile, wide); // one row's words: pieces of one tile
    expect(firstRows).toEqual([0, 8, 16]);
    expect(firstDiff(codes, want.codes)).toBe(-1);
    expect(firstDiff(scales, want.scales)).toBe(-1);
  });
});

describe.each(WIDE_CODES)('repackGguf %s widened to a byte a code', (format) => {
  const layout = GGUF_LAYOUTS[format];
  // The reference places each whole code in a plane of 8 bits: the same codes, a vec4 per 16.
  const wideRef = { ...REFERENCE_LAYOUTS[format], planes: [8] as const };
  it.each(SHAPES)('%i rows of %i blocks: byte-equal with the per-element reference', (rows, blocks) => {
    const K = blocks * layout.blockElems;
    const src = ggmlRandomBlocks(layout.ggml, rows * K, rng(rows * 17 + blocks), 1);
    const got = repackGguf(layout, src, rows, K, undefined, 1, true);
    const want = repackGgufReference(wideRef, src, rows, K);
    expect(got.codes.length).toBe(rows * wideRowWords(K));
    expect(firstDiff(got.codes, want.codes), 'first differing code word').toBe(-1);
    expect(firstDiff(got.scales, want.scales), 'first differing scale word').toBe(-1);
  });

  it('only the formats of two planes widen', () => {
    expect(() => repackGguf(GGUF_LAYOUTS.q4_k, new Uint8Array(144), 1, 256, undefined, 1, true)).toThrow(/only codes in two planes/);
  });
});

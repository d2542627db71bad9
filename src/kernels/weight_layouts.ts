/**
 * GGUF block formats (raw ggml blocks, as in the file) converted at load into the GPU layout of
 * shaders/weights/planes.wgsl: each row's codes as unsigned integers in bit planes (a 4-bit plane,
 * then 2- or 1-bit planes of the higher bits), and its scales in u32 records (f16 pairs and bytes).
 * This is a repacking, not a dequantization: every code and scale keeps its bits, and ggml's
 * arithmetic (`d * sc * q - dmin * m` ...) is done by the WGSL decoder. No GPU imports.
 */

import { bitVec, nibbleVec16, nibbleVecs, orHighBits32, rd16, rd32, twoBitVec } from './repack_words.ts';

/**
 * Where a block's repacked codes and scales go: the arrays, the first word of the current row in each,
 * and the word offset in a row of each vec4 of the low plane (`lo`, in element order) and of the high
 * plane (`hi`), computed once per matrix with planeVec.
 */
export interface RowDst {
  codes: Uint32Array;
  scales: Uint32Array;
  row: number; // codes[row ..]: the current row's code words
  srow: number; // scales[srow ..]: its scale words
  lo: Int32Array; // (low-plane vec4s of a row): word offset in the row
  hi: Int32Array; // (high-plane vec4s of a row): word offset in the row; empty with one plane
}

/** One GGUF block format's ggml block and its GPU layout. */
export interface GgufLayout {
  ggml: string; // ggml's type name
  blockElems: number;
  blockBytes: number;
  planes: readonly (1 | 2 | 4)[]; // bit planes of a code, low bits first
  scaleWords: (K: number) => number; // u32 scale words per row
  /** Block b of the row (its bytes at src[o ..]) into its vec4s and scale words at `d`. */
  pack: (src: Uint8Array, o: number, b: number, d: RowDst) => void;
}

/** Half-word d per 32-block, two blocks a word (Q5_0, IQ4_NL). */
const halfPerBlock = (d: RowDst, b: number, half: number) => {
  d.scales[d.srow + (b >> 1)] |= half << (16 * (b & 1));
};

const Q4_1: GgufLayout = {
  ggml: 'Q4_1', blockElems: 32, blockBytes: 20, planes: [4],
  scaleWords: (K) => K / 32,
  pack(s, o, b, d) {
    d.scales[d.srow + b] = rd32(s, o); // d | m << 16
    nibbleVec16(s, o + 4, d.codes, d.row + d.lo[b]);
  },
};
const Q5_0: GgufLayout = {
  ggml: 'Q5_0', blockElems: 32, blockBytes: 22, planes: [4, 1],
  scaleWords: (K) => Math.ceil(K / 64),
  pack(s, o, b, d) {
    halfPerBlock(d, b, rd16(s, o));
    nibbleVec16(s, o + 6, d.codes, d.row + d.lo[b]);
    orHighBits32(rd32(s, o + 2), b & 3, d.codes, d.row + d.hi[b >> 2]);
  },
};
const Q5_1: GgufLayout = {
  ggml: 'Q5_1', blockElems: 32, blockBytes: 24, planes: [4, 1],
  scaleWords: (K) => K / 32,
  pack(s, o, b, d) {
    d.scales[d.srow + b] = rd32(s, o); // d | m << 16
    nibbleVec16(s, o + 8, d.codes, d.row + d.lo[b]);
    orHighBits32(rd32(s, o + 4), b & 3, d.codes, d.row + d.hi[b >> 2]);
  },
};
const IQ4_NL: GgufLayout = {
  ggml: 'IQ4_NL', blockElems: 32, blockBytes: 18, planes: [4],
  scaleWords: (K) => Math.ceil(K / 64),
  pack(s, o, b, d) {
    halfPerBlock(d, b, rd16(s, o));
    nibbleVec16(s, o + 2, d.codes, d.row + d.lo[b]);
  },
};

/**
 * Q4_K / Q5_K's scale record: d | dmin << 16, then 8 scales and 8 mins as bytes, from ggml's 12 bytes
 * of 6-bit values at s[o + 4 ..] (get_scale_min_k4, done on words with ggml's kmasks).
 */
function scaleMinK4(s: Uint8Array, o: number, scales: Uint32Array, at: number): void {
  const a = rd32(s, o + 4), b = rd32(s, o + 8), c = rd32(s, o + 12);
  scales[at] = rd32(s, o);
  scales[at + 1] = a & 0x3f3f3f3f; // scales 0..3
  scales[at + 2] = (c & 0x0f0f0f0f) | (((a >>> 6) & 0x03030303) << 4); // scales 4..7
  scales[at + 3] = b & 0x3f3f3f3f; // mins 0..3
  scales[at + 4] = ((c >>> 4) & 0x0f0f0f0f) | (((b >>> 6) & 0x03030303) << 4); // mins 4..7
}

/** 16 bytes at s[p ..] as 4 scale words. */
function bytes16(s: Uint8Array, p: number, scales: Uint32Array, at: number): void {
  for (let i = 0; i < 4; i++) scales[at + i] = rd32(s, p + 4 * i);
}

/** Q4_K and Q5_K (with its fifth bits at qh, o + 16): 4 chunks of 64, low nibbles then high nibbles of 32 bytes. */
function packQ45K(five: boolean): GgufLayout['pack'] {
  const qs = five ? 48 : 16;
  return (s, o, b, d) => {
    scaleMinK4(s, o, d.scales, d.srow + 5 * b);
    for (let c = 0; c < 4; c++) {
      nibbleVecs(s, o + qs + 32 * c, d.codes, d.row + d.lo[8 * b + 2 * c], d.row + d.lo[8 * b + 2 * c + 1]);
    }
    if (five) for (let h = 0; h < 2; h++) bitVec(s, o + 16, 4 * h, d.codes, d.row + d.hi[2 * b + h]);
  };
}
const Q4_K: GgufLayout = {
  ggml: 'Q4_K', blockElems: 256, blockBytes: 144, planes: [4], scaleWords: (K) => (K / 256) * 5, pack: packQ45K(false),
};
const Q5_K: GgufLayout = {
  ggml: 'Q5_K', blockElems: 256, blockBytes: 176, planes: [4, 1], scaleWords: (K) => (K / 256) * 5, pack: packQ45K(true),
};
const Q6_K: GgufLayout = {
  ggml: 'Q6_K', blockElems: 256, blockBytes: 210, planes: [4, 2],
  scaleWords: (K) => (K / 256) * 5,
  pack(s, o, b, d) {
    d.scales[d.srow + 5 * b] = rd16(s, o + 208);
    bytes16(s, o + 192, d.scales, d.srow + 5 * b + 1); // int8 scales, one per 16, in element order
    for (let n = 0; n < 2; n++) {
      // Half n (128 codes): low nibbles of ql[0..32), ql[32..64), then their high nibbles; 2 high bits each in qh.
      const ql = o + 64 * n, v = 8 * b + 4 * n;
      nibbleVecs(s, ql, d.codes, d.row + d.lo[v], d.row + d.lo[v + 2]);
      nibbleVecs(s, ql + 32, d.codes, d.row + d.lo[v + 1], d.row + d.lo[v + 3]);
      twoBitVec(s, o + 128 + 32 * n, 0, d.codes, d.row + d.hi[v >> 1]);
      twoBitVec(s, o + 128 + 32 * n, 4, d.codes, d.row + d.hi[(v >> 1) + 1]);
    }
  },
};
/** Q2_K / Q3_K's 2-bit codes: 128 per half super-block, from the 32 bytes at qs + 32n, 4 shifts of 32 codes. */
function twoBitCodes(s: Uint8Array, qs: number, b: number, d: RowDst): void {
  for (let v = 0; v < 4; v++) twoBitVec(s, qs + 32 * (v >> 1), 4 * (v & 1), d.codes, d.row + d.lo[4 * b + v]);
}
const Q2_K: GgufLayout = {
  ggml: 'Q2_K', blockElems: 256, blockBytes: 84, planes: [2],
  scaleWords: (K) => (K / 256) * 5,
  pack(s, o, b, d) {
    d.scales[d.srow + 5 * b] = rd32(s, o + 80); // d | dmin << 16
    bytes16(s, o, d.scales, d.srow + 5 * b + 1); // sc | m << 4, one per 16, in element order
    twoBitCodes(s, o + 16, b, d);
  },
};
const Q3_K: GgufLayout = {
  ggml: 'Q3_K', blockElems: 256, blockBytes: 110, planes: [2, 1],
  scaleWords: (K) => (K / 256) * 5,
  pack(s, o, b, d) {
    const at = d.srow + 5 * b;
    d.scales[at] = rd16(s, o + 108);
    // ggml's 12 bytes of 6-bit scales, unpacked as dequantize_row_q3_K does (kmask1 0x03.., kmask2 0x0f..).
    const a0 = rd32(s, o + 96), a1 = rd32(s, o + 100), tmp = rd32(s, o + 104);
    const k1 = 0x03030303;
    const k2 = 0x0f0f0f0f;
    d.scales[at + 1] = (a0 & k2) | ((tmp & k1) << 4);
    d.scales[at + 2] = (a1 & k2) | (((tmp >>> 2) & k1) << 4);
    d.scales[at + 3] = ((a0 >>> 4) & k2) | (((tmp >>> 4) & k1) << 4);
    d.scales[at + 4] = ((a1 >>> 4) & k2) | (((tmp >>> 6) & k1) << 4);
    twoBitCodes(s, o + 32, b, d);
    // The high bit is ggml's hmask bit 4n + j of byte l (set: no -4), so code = low | h << 2, w = d * (code - 4).
    for (let h = 0; h < 2; h++) bitVec(s, o, 4 * h, d.codes, d.row + d.hi[2 * b + h]);
  },
};
/** Four 6-bit scales of IQ4_XS as bytes: the 4 nibbles of `lo`, each with its 2 high bits (from `hi`) at bits 4, 5. */
function iq4xsScales(lo: number, hi: number): number {
  const n = (lo & 0xf) | ((lo & 0xf0) << 4) | ((lo & 0xf00) << 8) | ((lo & 0xf000) << 12);
  const h = (hi & 3) | ((hi & 0xc) << 6) | ((hi & 0x30) << 12) | ((hi & 0xc0) << 18);
  return n | (h << 4);
}
const IQ4_XS: GgufLayout = {
  ggml: 'IQ4_XS', blockElems: 256, blockBytes: 136, planes: [4],
  scaleWords: (K) => (K / 256) * 3,
  pack(s, o, b, d) {
    const ls = rd32(s, o + 4), hi = rd16(s, o + 2);
    d.scales[d.srow + 3 * b] = rd16(s, o);
    d.scales[d.srow + 3 * b + 1] = iq4xsScales(ls & 0xffff, hi & 0xff);
    d.scales[d.srow + 3 * b + 2] = iq4xsScales(ls >>> 16, hi >> 8);
    for (let i = 0; i < 8; i++) nibbleVec16(s, o + 8 + 16 * i, d.codes, d.row + d.lo[8 * b + i]);
  },
};

export const GGUF_LAYOUTS = {
  q4_1: Q4_1,
  q5_0: Q5_0,
  q5_1: Q5_1,
  q2_k: Q2_K,
  q3_k: Q3_K,
  q4_k: Q4_K,
  q5_k: Q5_K,
  q6_k: Q6_K,
  iq4_nl: IQ4_NL,
  iq4_xs: IQ4_XS,
} as const satisfies Record<string, GgufLayout>;
export type GgufFormat = keyof typeof GGUF_LAYOUTS;

/** Words of one bit plane of a row: ceil(K * bits / 128) vec4s. */
const planeWords = (bits: number, K: number) => Math.ceil((K * bits) / 128) * 4;

/** GPU code words per row: every plane's codes, each plane padded to whole vec4s. */
export const planeRowWords = (l: { planes: readonly number[] }, K: number) => l.planes.reduce((a, bits) => a + planeWords(bits, K), 0);

/**
 * The vec4 of a row that holds code k of plane `plane`. One plane: its vec4s in order. Two (low, high):
 * chunks of one high vec4's codes (128 / high bits), each its low vec4s then its high vec4; the last
 * chunk holds only the low vec4s it needs (shaders/weights/planes.wgsl, load_codes).
 */
export function planeVec(l: GgufLayout, K: number, plane: number, k: number): number {
  const loPer = 128 / l.planes[0];
  if (l.planes.length === 1) return Math.floor(k / loPer);
  const hiPer = 128 / l.planes[1];
  const chunkLo = hiPer / loPer;
  const c = Math.floor(k / hiPer);
  const at = c * (chunkLo + 1);
  if (plane === 0) return at + Math.floor((k % hiPer) / loPer);
  return at + Math.min(chunkLo, Math.ceil((K - c * hiPer) / loPer));
}

/**
 * Where item j (a vec4, a word) of row r sits for `per` items a row: row-major (tile 1), or in tiles of
 * `tile` rows, item j of a tile's rows together ((tiles, per, tile)); tiled_index in shaders/tiled_index.wgsl.
 */
export const tiledIndex = (r: number, j: number, per: number, tile: number) =>
  (Math.floor(r / tile) * per + j) * tile + (r % tile);

/**
 * The word offset from a row's first word of each vec4 of plane `plane`, in element order (planeVec,
 * once per matrix); in tiles of `tile` rows a row's vec4s are `tile` vec4s apart.
 */
function vecWords(l: GgufLayout, K: number, plane: number, tile: number): Int32Array {
  if (plane >= l.planes.length) return new Int32Array(0);
  const per = 128 / l.planes[plane];
  const at = new Int32Array(Math.ceil(K / per));
  for (let v = 0; v < at.length; v++) at[v] = 4 * tile * planeVec(l, K, plane, v * per);
  return at;
}

/** GPU code words per row with the codes widened (`wide`): a byte a code, K / 16 vec4s. */
export const wideRowWords = (K: number) => K / 4;

/** Code words per row of a layout on the GPU: its planes, or widened to a byte a code. */
const gpuCodeWords = (l: Pick<GgufLayout, 'planes'>, K: number, wide: boolean) => (wide ? wideRowWords(K) : planeRowWords(l, K));

/** The 4 `n`-bit fields at the bottom of x (field i at bit n * i) as the 4 bytes of a word. */
function fieldBytes(x: number, n: number): number {
  const m = (1 << n) - 1;
  return (x & m) | (((x >>> n) & m) << 8) | (((x >>> (2 * n)) & m) << 16) | (((x >>> (3 * n)) & m) << 24);
}

/**
 * One row's codes from its planes (`row`, row-major, the planes' vec4s at word offsets lo and hi) into one 8-bit plane
 * at out[at ..], its vec4s `4 * tile` words apart: vec4 q holds codes 16q .. 16q + 15, code e of it in word e % 4 at
 * byte e / 4 (the planes' order with 8-bit slots), each the low plane's bits with the high plane's above them.
 */
function widenRow(l: GgufLayout, K: number, row: Uint32Array, lo: Int32Array, hi: Int32Array, out: Uint32Array, at: number, tile: number): void {
  const [loBits, hiBits] = l.planes;
  const loPer = 128 / loBits, hiPer = 128 / hiBits;
  for (let q = 0, k = 0; k < K; q++, k += 16) {
    const l0 = lo[Math.floor(k / loPer)], lShift = (loBits * (k % loPer)) / 4;
    const h0 = hi[Math.floor(k / hiPer)], hShift = (hiBits * (k % hiPer)) / 4;
    for (let j = 0; j < 4; j++) {
      out[at + 4 * tile * q + j] = fieldBytes(row[l0 + j] >>> lShift, loBits) | (fieldBytes(row[h0 + j] >>> hShift, hiBits) << loBits);
    }
  }
}

/**
 * Rows of raw ggml blocks (rows x K/blockElems blocks) into their code planes and scale records. In a
 * plane of `bits`-bit codes, each vec4 (4 words) holds G = 128 / bits codes, code e of it in word e % 4
 * at bit position bits * floor(e / 4): the 4 codes of a piece (k .. k+3) sit at one shift in the 4 words
 * (shaders/weights/planes.wgsl). Where the vec4s go: planeVec. The formats' `pack` work on whole words
 * (repack_words.ts); test/repack.test.ts checks them against a per-element reference. `out`: arrays to
 * fill (at least rows x row words each, rows padded to whole tiles; zeroed here), instead of new ones.
 * `tile` > 1: rows in tiles (tiledIndex by vec4 for the codes, by word for the scales), the last padded.
 * `wide`: the codes of a two-plane layout widened to one 8-bit plane (widenRow; GpuWeights.wideCodes).
 */
export function repackGguf(
  l: GgufLayout, src: Uint8Array, rows: number, K: number, out?: { codes: Uint32Array; scales: Uint32Array }, tile = 1, wide = false,
): { codes: Uint32Array; scales: Uint32Array } {
  if (l.planes.length > 2) throw new Error(`${l.ggml}: at most two bit planes`);
  if (wide && l.planes.length !== 2) throw new Error(`${l.ggml}: only codes in two planes are widened`);
  const nb = K / l.blockElems;
  const cw = gpuCodeWords(l, K, wide);
  const sw = l.scaleWords(K);
  const padded = Math.ceil(rows / tile) * tile;
  const scales = out ? out.scales.subarray(0, padded * sw).fill(0) : new Uint32Array(padded * sw);
  const codes = out ? out.codes.subarray(0, padded * cw).fill(0) : new Uint32Array(padded * cw);
  // Widened: each row packed into its planes here first (tile 1), then widened into `codes`.
  const planes = wide ? new Uint32Array(planeRowWords(l, K)) : codes;
  const d: RowDst = {
    codes: planes,
    scales: tile > 1 ? new Uint32Array(sw) : scales, // tiled: each row's record here, then spread out
    row: 0, srow: 0, lo: vecWords(l, K, 0, wide ? 1 : tile), hi: vecWords(l, K, 1, wide ? 1 : tile),
  };
  for (let r = 0; r < rows; r++) {
    const at = 4 * tiledIndex(r, 0, cw / 4, tile);
    if (wide) planes.fill(0);
    else d.row = at;
    if (tile === 1) d.srow = r * sw;
    else d.scales.fill(0);
    packRow(l, src, r * nb * l.blockBytes, nb, d);
    if (wide) widenRow(l, K, planes, d.lo, d.hi, codes, at, tile);
    if (tile > 1) for (let j = 0, at = tiledIndex(r, 0, sw, tile); j < sw; j++) scales[at + j * tile] = d.scales[j];
  }
  return { codes, scales };
}

/** Words of the scratch that repackGgufPieces reuses (16 MB): a few rows of the largest matrices. */
export const PIECE_WORDS = 1 << 22;
let scratch: Uint32Array | undefined;

/**
 * repackGguf in pieces of rows that fit `pieceWords` (codes and scales; at least one row, or one tile of
 * `tile` rows: pieces of whole tiles, the last padded), all into one scratch buffer kept for the next
 * call: each piece is handed to `emit` with its first row, and its arrays are overwritten after emit
 * returns (copy them out, e.g. queue.writeBuffer). Why: memory touched for the first time costs a page
 * fault per 4 KB, which measured ~5 ms a MB on the 2-core VM (more than the repacking itself), and a
 * model's load would otherwise repack into ~1 GB of fresh arrays.
 */
export function repackGgufPieces(
  l: GgufLayout, src: Uint8Array, rows: number, K: number,
  emit: (codes: Uint32Array, scales: Uint32Array, firstRow: number) => void, pieceWords = PIECE_WORDS, tile = 1, wide = false,
): void {
  const cw = gpuCodeWords(l, K, wide), sw = l.scaleWords(K);
  const per = Math.max(1, Math.floor(pieceWords / (cw + sw) / tile)) * tile;
  const need = Math.min(per, Math.ceil(rows / tile) * tile) * (cw + sw);
  if (!scratch || scratch.length < need) scratch = new Uint32Array(Math.max(need, Math.min(PIECE_WORDS, pieceWords)));
  const rowBytes = (K / l.blockElems) * l.blockBytes;
  for (let r = 0; r < rows; r += per) {
    const n = Math.min(per, rows - r), padded = Math.ceil(n / tile) * tile;
    const out = { codes: scratch.subarray(0, padded * cw), scales: scratch.subarray(padded * cw, padded * (cw + sw)) };
    const piece = repackGguf(l, src.subarray(r * rowBytes, (r + n) * rowBytes), n, K, out, tile, wide);
    emit(piece.codes, piece.scales, r);
  }
}

/**
 * One row's nb blocks from src[o ..]. A function of its own (called per row), so V8 optimizes it as a
 * whole from the first matrix on, rather than on-stack-replacing one long loop that then deoptimizes.
 */
function packRow(l: GgufLayout, src: Uint8Array, o: number, nb: number, d: RowDst): void {
  for (let b = 0; b < nb; b++, o += l.blockBytes) l.pack(src, o, b, d);
}

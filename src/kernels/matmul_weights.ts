import { EmberError } from '../errors.ts';
import { writeBuffer, type Allocator } from '../gpu/buffers.ts';
import { ceilDiv } from './dispatch.ts';
import { FORMATS, OFFSET_FLIP, WEIGHT_FORMATS, WIDE_CODES, isFp8, isGguf, type WeightFormat } from './weight_formats.ts';
import { GGUF_LAYOUTS, PIECE_WORDS, repackGgufPieces, tiledIndex, wideRowWords, type GgufFormat } from './weight_layouts.ts';
import { hasE4m3Nan } from '../quant/fp8.ts';
import type { Gpu, GpuCaps } from '../gpu/device.ts';
import { isLavapipe, LAVAPIPE_LANES, matmulTuning } from './matmul_tuning.ts';

/**
 * Weight matrices for the matmul (src/kernels/matmul.ts): their CPU layout (WeightData), scale layouts,
 * validation, and the upload into row chunks in the layout the decoders read (GGUF block formats
 * repacked, rows padded to whole blocks, block scales repeated per row).
 */
/**
 * One f32 scale per block of blockRows x blockCols weights; blocks at the right and bottom edges may
 * be partial. Per-row: {1, cols}; per-group: {1, 32}; native FP8 checkpoints: {128, 128}. The GPU
 * takes blockRows = 1 only: `rowScales` replicates taller blocks' scales per row at upload (4 bytes
 * per blockCols weights per row), so any rows can be stacked (concatRows) or split into chunks.
 */
export interface ScaleLayout {
  blockRows: number;
  blockCols: number;
}

/** A whole weight matrix on the CPU, rows x cols (N x K), in the layout of its format. */
export interface WeightData {
  format: WeightFormat;
  rows: number;
  cols: number;
  /**
   * f32: Float32Array (rows*cols). f16, bf16: Uint32Array (rows*cols/2), element 2i in the low half of word i.
   * q8, fp8: Uint32Array (rows*cols/4), int8 / FP8 codes, element 4i in the low byte. q4: Uint32Array
   * (rows*cols/8), each 32-block is GGUF Q4_0's 16 bytes (byte j: element j in the low nibble, j+16 in
   * the high one). GGUF block formats (q4_1 ... iq4_xs): Uint8Array, ggml's raw blocks exactly as in
   * the file, rows*cols/blockElems blocks of blockBytes (GGUF_LAYOUTS); a row is a byte range.
   */
  data: Uint32Array | Float32Array | Uint8Array;
  /**
   * q8, q4, fp8: (ceil(rows/blockRows), ceil(cols/blockCols)) f32, w = scale * code (q4: code - 8).
   * None for the GGUF block formats (their scales are in their blocks).
   */
  scales?: Float32Array;
  /** Default {1, 32} (GGUF's Q8_0 and Q4_0). q4: {1, 32} only; q8: blockCols a multiple of 32. */
  scaleLayout?: ScaleLayout;
  /**
   * f32, f16 or bf16 values to be stored in this scheme, converted on the GPU at upload (quantize_weights.ts
   * uploadMatrix) to the codes and scales the CPU's conversion would give. Only the model builder asks for these
   * (WeightSource.matrix's gpuQuant); the weights are then the values, not yet their codes.
   */
  gpuQuant?: GpuQuant;
}

/** The schemes the GPU applies to f32, f16 or bf16 values as it uploads them (quantize_weights.ts), and the format each stores. */
export const GPU_QUANT_FORMATS = {
  'int8-g32': 'q8', int8: 'q8', 'fp8-e4m3': 'fp8e4m3', 'fp8-e5m2': 'fp8e5m2', 'fp8-e4m3-g32': 'fp8e4m3', 'fp8-e5m2-g32': 'fp8e5m2', f16: 'f16',
} as const satisfies Record<string, WeightFormat>;
export type GpuQuant = keyof typeof GPU_QUANT_FORMATS;

/** The format `w` takes on the GPU: its own, or its scheme's for values the GPU converts (gpuQuant). */
export function storedFormat(w: Pick<WeightData, 'format' | 'gpuQuant'>): WeightFormat {
  return w.gpuQuant ? GPU_QUANT_FORMATS[w.gpuQuant] : w.format;
}

/** Rows [rowStart, rowStart + rows) of a matrix, in buffers small enough to bind. */
export interface WeightChunk {
  rowStart: number;
  rows: number;
  data: GPUBuffer; // (rows, rowWords) u32 / f32; tiled (GpuWeights.rowTile): (tiles, blocks, rowTile, block words)
  scales?: GPUBuffer; // (rows, groups) f32 (halfScales: f16 pairs, a u32 per 2 groups); tiled: (tiles, groups, rowTile); GGUF block formats: (rows, scale words) u32 records
  // GGUF block formats tiled: data (tiles, row vec4s, rowTile, 4), scales (tiles, scale words, rowTile)
}

export interface GpuWeights {
  format: WeightFormat;
  rows: number;
  cols: number;
  /**
   * Weights per scale group along a row (<= cols; the last group of a row may be partial) for q8, q4
   * and fp8; for the other formats the group their decoder loads scales for (FormatSpec.group).
   */
  group: number;
  chunks: WeightChunk[];
  bytes: number; // on the GPU, codes and scales
  /** fp8e4m3: whether any code is a NaN (0x7F, 0xFF); the matmul's decoder skips the check where none is. */
  nanCodes?: boolean;
  /**
   * fp8e4m3: whether the CPU adapters' f32-bit decode (MatmulTuning.fp8Bits, FP8_BITS in shaders/weights/fp8.wgsl)
   * can take these weights: no NaN code, and every scale below 2^60 in magnitude (the decode's unit is folded in).
   */
  fp8Bits?: boolean;
  /**
   * Rows per tile (1: row-major): a chunk's rows in tiles of rowTile rows (the last one padded), decoder block b
   * (q8, q4, fp8), vec4 b of the code planes (GGUF), vec4 b (f32) or vec2 b (f16) of a tile's rows stored together,
   * and the scales (words) likewise (shaders/tiled_index.wgsl): the rows one SIMD group of the CPU
   * GEMV reads at once are one stream in memory.
   */
  rowTile?: number;
  /**
   * q8 or q4 with a scale per 32-block, all of them f16 values (GGUF's Q8_0, Q4_0): two blocks' scales in a word
   * (pairedScales), and `group` is 64, so the decoder (shaders/weights/block_half_scales.wgsl) loads one scale word per
   * two blocks.
   */
  halfScales?: true;
  /**
   * A GGUF format whose codes have high bits (Q5_0, Q5_1, Q5_K, Q6_K, Q3_K: WIDE_CODES), its codes widened at upload
   * to a byte each (weight_layouts.ts widenRow), decoded by a shift and a mask a piece (shaders/weights/planes.wgsl).
   */
  wideCodes?: true;
  /**
   * q8 codes stored offset by 128 (each byte flipped: 0..255), which lavapipe's GEMV multiplies as unsigned bytes by x's
   * signed ones in 16-bit multiply-adds (shaders/matmul_x_q8.wgsl piece_dot_unsigned); every other reader flips them back
   * (CODE_FLIP in shaders/weights/q8.wgsl).
   */
  offsetCodes?: true;
}

/**
 * The tile for `format` on this device. lavapipe's GEMV lanes each read their own rows, lane by lane:
 * in tiles of 16 (the 16 rows of 8 lanes x 2) the q8 GEMV streamed 6.2-6.7 GB/s against 4.5-4.9 row-major
 * (113 MB matrix, one process, 3 runs), 1.1-1.2x at 1.8 MB. The GGUF block formats gained less (they
 * decode more per byte): 512x49152 GEMV 5.0 against 6.1 ms in q4_k, 11.8 against 13.1-13.4 in q6_k,
 * q5_0 and q4_1 (576x49152) 6.7-7.9 and 6.0-6.2 against 8.5-10.7 and 7.1; 1536x576 and GEMMs unchanged.
 * So a tile is the rows one SIMD group reads, LAVAPIPE_LANES x matmulTuning's gemvR: 32 for the formats of 4 rows a
 * lane (FP8, f16), 16 for the rest (f32, 2 rows a lane since its tiles, was measured with 4: 16 rows were better there
 * already). bench/matmul_ab.ts --tokens 1 --variant rowTile=1 --variant rowTile=16 --variant rowTile=32, one process (us):
 *   FP8 E4M3 (tiles of 16 before): 576x49152 (the LM head) 5,177-5,243 with 32 against 5,636-5,767 with 16,
 *     2048x5632 1,999 against 2,081, SmolLM2's other shapes the same (int8, 2 rows a lane, took 1.06x the time
 *     with 32 on the LM head);
 *   f16 (row-major before): 576x49152 11,321 with 32, 11,534 with 16, 15,270 row-major; 576x1536 344 / 344 / 410;
 *     1536x576 344 / 360 / 410;
 *   f32: 576x49152 26,542 with 32, 24,724 with 16, 30,523 row-major; 576x1536 770 / 754 / 852; 1536x576 754 / 754 / 983.
 * The 64-token GEMMs took the same time (within 3%) in every tile.
 */
export function rowTileFor(caps: GpuCaps, format: WeightFormat): number {
  if (isLavapipe(caps)) return LAVAPIPE_LANES * matmulTuning(caps, format).gemvR;
  return matmulTuning(caps, format).gemv === 'flat' ? FLAT_TILE : 1;
}

/**
 * SwiftShader's flat kernels: the 16 rows of one SIMD group (its 4 lanes x 4 rows) together, as on lavapipe. Chromium,
 * bench/browser.ts matmul_page 'formats=q8&layouts=flat&rowTile=1|16' alternating twice: the 576x49152 LM head (32 MB,
 * streamed from memory) 30.4-32.5 ms against 34.3-39.3 row-major; 576x3072 (2 MB) 2.46-2.49 against 2.30-2.52;
 * 1536x12288 Q5_0 37.6-40.8 against 48.7-54.5, Q4_K 50.2-59.1 against 48.5-58.1 (compute-bound there). SmolLM2-135M
 * Q8_0 decode in chromium, alternating with the row-major build 4 times (a slow hour): 3.5, 4.0, 4.0, 4.4 against 3.5,
 * 3.5, 4.0, 3.7 tok/s; Q4_K_M twice: 2.4 (disturbed), 3.7 against 3.6, 2.9.
 */
const FLAT_TILE = 16;

/** The row tiles uploadWeights takes: 16 rows (8 SIMD lanes x 2 rows), 32 (x 4), and 8 for tests; powers of two (tiled_index masks). */
const ROW_TILES = [8, 16, 32];

/** u32 words a tiled item holds: a decoder block's codes (q8: 32 codes, q4: 32, fp8: 16), f32's vec4, f16's and bf16's vec2. */
export const TILE_UNIT: Partial<Record<WeightFormat, number>> = { q8: 8, q4: 4, fp8e4m3: 4, fp8e5m2: 4, f32: 4, f16: 2, bf16: 2 };

/**
 * A chunk's rows (`per` items of `unit` words each) into `buf` in tiles of `tile` rows (the last padded with zeros),
 * each item's rows together: (tiles, per, tile, unit). Whole tiles at a time through one scratch kept for the next
 * call, each piece written out (queue.writeBuffer copies it), as repackGgufPieces does: a tiled copy of the whole
 * chunk was as much fresh memory as the weights, and fresh memory costs a page fault per 4 KB. Word by word:
 * 8-word subarray copies took 9x as long (a 49152 x 576 q8 matrix: ~400 against ~45 ms).
 */
function writeTiled(gpu: Gpu, buf: GPUBuffer, a: Uint32Array | Float32Array, rows: number, per: number, unit: number, tile: number, pieceWords: number, flip: number): void {
  const words = new Uint32Array(a.buffer, a.byteOffset, a.length); // bits, whatever the type: one loop for both
  const tileWords = tile * per * unit;
  const tiles = Math.max(1, Math.floor(pieceWords / tileWords));
  if (!tileScratch || tileScratch.length < tiles * tileWords) tileScratch = new Uint32Array(Math.max(tiles * tileWords, PIECE_WORDS));
  const step = tile * unit; // from an item of a row to the row's next item
  for (let r0 = 0, src = 0; r0 < rows; r0 += tiles * tile) {
    const n = Math.min(tiles * tile, rows - r0);
    const piece = tileScratch.subarray(0, Math.ceil(n / tile) * tileWords);
    if (n % tile) piece.fill(0, Math.floor(n / tile) * tileWords); // the padded tile's missing rows
    for (let r = 0; r < n; r++) {
      for (let j = 0, dst = tiledIndex(r, 0, per, tile) * unit; j < per; j++, dst += step) {
        for (let u = 0; u < unit; u++) piece[dst + u] = words[src++] ^ flip;
      }
    }
    writeBuffer(gpu, buf, piece, tiledIndex(r0, 0, per, tile) * unit * 4);
  }
}
let tileScratch: Uint32Array | undefined;

/** Bytes of `rows` rows of `per` items of `unit` words in tiles of `tile` rows (the last one padded). */
export const tiledBytes = (rows: number, per: number, unit: number, tile: number) => Math.ceil(rows / tile) * tile * per * unit * 4;

/**
 * `a`, a chunk's rows of `per` items of `unit` words, uploaded row-major (tile 1) or in tiles (writeTiled), each word
 * XORed with `flip` (offset codes: GpuWeights.offsetCodes).
 */
function uploadRows(alloc: Allocator, name: string, a: Uint32Array | Float32Array, rows: number, per: number, unit: number, tile: number, pieceWords: number, flip = 0): GPUBuffer {
  if (tile === 1) return alloc.upload(name, flip ? a.map((v) => v ^ flip) : a);
  const buf = alloc.storage(name, tiledBytes(rows, per, unit, tile));
  writeTiled(alloc.gpu, buf, a, rows, per, unit, tile, pieceWords, flip);
  return buf;
}

/** Formats with a separate f32 scale array (`WeightData.scales`). */
export const hasScaleArray = (f: WeightFormat) => f === 'q8' || f === 'q4' || isFp8(f);

/**
 * Words (u32 or f32) of codes per row on the GPU: f32 and f16 rows are zero-padded to whole vec4s, FP8 rows to whole
 * decoder blocks (x is masked past K, so the padding adds zeros).
 */
export function gpuRowWords(format: WeightFormat, K: number, wideCodes = false): number {
  return wideCodes ? wideRowWords(K) : FORMATS[format].rowWords(K);
}

/** Whether uploadWeights widens `format`'s codes to a byte each on this device (UploadOptions.wideCodes; `asked` overrides). */
export function widensCodes(caps: Pick<GpuCaps, 'cpu'>, format: WeightFormat, asked?: boolean): boolean {
  return WIDE_CODES.includes(format as GgufFormat) && (asked ?? caps.cpu);
}

/**
 * Whether uploadWeights stores `format`'s codes offset by 128 on this device (UploadOptions.offsetCodes; `asked` overrides):
 * q8 on lavapipe, where LLVM compiles an unsigned byte's product with a signed one to a 16-bit multiply-add and dot4I8Packed's
 * to a 32-bit multiply (see docs/kernels.md, "Unsigned codes on lavapipe").
 */
export function offsetsCodes(caps: GpuCaps, format: WeightFormat, asked?: boolean): boolean {
  return format === 'q8' && (asked ?? isLavapipe(caps));
}

/** Elements per row of `WeightData.data` (GGUF block formats: bytes). */
function cpuRowLength(format: WeightFormat, K: number): number {
  if (isGguf(format)) return (K / GGUF_LAYOUTS[format].blockElems) * GGUF_LAYOUTS[format].blockBytes;
  return { f32: K, f16: K / 2, bf16: K / 2, q8: K / 4, q4: K / 8, fp8e4m3: K / 4, fp8e5m2: K / 4 }[format];
}

/** The scale layout of a quantized matrix ({1, 32} unless it says otherwise). */
export function scaleLayoutOf(w: Pick<WeightData, 'scaleLayout'>): ScaleLayout {
  return w.scaleLayout ?? { blockRows: 1, blockCols: 32 };
}

/** Scales per row of blocks: ceil(cols / blockCols). */
export function scalesPerRow(w: Pick<WeightData, 'cols' | 'scaleLayout'>): number {
  return ceilDiv(w.cols, scaleLayoutOf(w).blockCols);
}

/**
 * The same matrix with blockRows = 1: each block's scale repeated for each of its rows (the values
 * are unchanged). Matrices that already have per-row(-group) scales are returned as they are.
 */
export function rowScales(w: WeightData): WeightData {
  const { blockRows, blockCols } = scaleLayoutOf(w);
  if (!w.scales || blockRows === 1) return w;
  const spr = scalesPerRow(w);
  const scales = new Float32Array(w.rows * spr);
  for (let r = 0; r < w.rows; r++) {
    const src = Math.floor(r / blockRows) * spr;
    scales.set(w.scales.subarray(src, src + spr), r * spr);
  }
  return { ...w, scales, scaleLayout: { blockRows: 1, blockCols } };
}

function checkWeights(label: string, w: WeightData): void {
  const { format, rows, cols } = w;
  const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `weights ${label} (${format}, ${rows}x${cols}): ${msg}`);
  if (!WEIGHT_FORMATS.includes(format)) throw bad(`unknown format`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) throw bad('rows and cols must be positive integers');
  if ((format === 'f16' || format === 'bf16') && cols % 2) throw bad(`${format} rows must have an even length`);
  if ((format === 'q8' || format === 'q4') && cols % 32) throw bad('quantized rows must be a multiple of 32 long');
  if (isFp8(format) && cols % 4) throw bad(`FP8 rows must be a multiple of 4 long (whole u32 words of codes), got ${cols}`);
  if (isGguf(format) && cols % GGUF_LAYOUTS[format].blockElems) {
    throw bad(`${GGUF_LAYOUTS[format].ggml} rows must be whole blocks of ${GGUF_LAYOUTS[format].blockElems}, got ${cols}`);
  }
  const words = rows * cpuRowLength(format, cols);
  const type = format === 'f32' ? Float32Array : isGguf(format) ? Uint8Array : Uint32Array;
  if (!(w.data instanceof type)) throw bad(`data must be a ${type.name}`);
  if (w.data.length !== words) throw bad(`expected ${words} data ${isGguf(format) ? 'bytes' : 'words'}, got ${w.data.length}`);
  if (!hasScaleArray(format)) {
    if (w.scales) throw bad('this format keeps its scales in its data, not in `scales`');
    return;
  }
  const { blockRows, blockCols } = scaleLayoutOf(w);
  if (!(Number.isInteger(blockRows) && Number.isInteger(blockCols) && blockRows >= 1 && blockCols >= 1)) {
    throw bad(`scale blocks must be positive integers, got ${blockRows}x${blockCols}`);
  }
  const perRow = blockCols >= cols;
  if (format === 'q4' && (blockRows !== 1 || blockCols !== 32)) throw bad(`q4 scales are one per 32 weights of a row (1x32 blocks), got ${blockRows}x${blockCols}`);
  // A scale never changes inside a 32-block of Q8_0 x (q8) or a vec4 of 16 codes (fp8).
  if (format === 'q8' && blockCols % 32) throw bad(`q8 scale blocks must be a multiple of 32 wide, got ${blockCols}`);
  if (isFp8(format) && !perRow && blockCols % 16) throw bad(`FP8 scale blocks must be a multiple of 16 wide or span the row, got ${blockCols}`);
  const n = ceilDiv(rows, blockRows) * ceilDiv(cols, blockCols);
  if (w.scales?.length !== n) throw bad(`expected ${n} scales (${blockRows}x${blockCols} blocks), got ${w.scales?.length ?? 'none'}`);
}

/**
 * A q8 or q4 matrix's scales as f16 pairs, (rows, ceil(groups / 2)) u32 (group 2j in the low half, 2j + 1 in the high
 * one, 0 past the row's end), where its scales are one per 32-block of a row, each an f16 value (GGUF's Q8_0 and Q4_0:
 * exact), and a row has at least two blocks; else undefined (the f32 scales stay). The same weights in fewer bytes
 * (Q8_0 1.0625 a weight, not 1.125; Q4_0 0.5625, not 0.625) and half the scale loads.
 */
export function pairedScales(w: WeightData): Uint32Array | undefined {
  if ((w.format !== 'q8' && w.format !== 'q4') || !w.scales || scaleLayoutOf(w).blockCols !== 32 || scaleLayoutOf(w).blockRows !== 1 || w.cols < 64) return undefined;
  const spr = scalesPerRow(w);
  const ppr = ceilDiv(spr, 2);
  const bits = new Uint32Array(w.scales.buffer, w.scales.byteOffset, w.scales.length);
  const out = new Uint32Array(w.rows * ppr);
  for (let r = 0; r < w.rows; r++) {
    for (let g = 0; g < spr; g++) {
      const h = f16Exact(bits[r * spr + g]);
      if (h < 0) return undefined; // not an f16 value: all stay f32
      out[r * ppr + (g >> 1)] |= h << (16 * (g & 1));
    }
  }
  return out;
}

/**
 * The f16 bits of the f32 whose bits are `b`, where that f32 is an f16 value; else -1 (bits lost, out of range, inf,
 * NaN). Bit operations, not a round trip through numbers: it runs once per scale of every Q8_0 matrix a GPU loads.
 */
export function f16Exact(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0) return mant === 0 ? sign : -1; // +-0; f32 subnormals are far below f16's range
  const e = exp - 112; // the f16 biased exponent
  if (e >= 31) return -1; // beyond f16's range, inf, NaN
  if (e >= 1) return mant & 0x1fff ? -1 : sign | (e << 10) | (mant >>> 13);
  // An f16 subnormal: (1.mant) * 2^(exp - 127) = m * 2^-24, m = (mant | 2^23) >> (14 - e), if no bit is shifted out.
  const shift = 14 - e;
  const full = mant | 0x800000;
  return shift > 24 || full & ((1 << shift) - 1) ? -1 : sign | (full >>> shift);
}

/**
 * One chunk's codes and scales as the GPU binds them (not the GGUF block formats: uploadGgufChunk), with their
 * bytes on the GPU; tiled as the rows' items (a decoder block's, f32's vec4, f16's and bf16's vec2) and one scale per group.
 */
function uploadChunk(
  alloc: Allocator, name: string, w: WeightData, rowStart: number, rows: number, rowTile: number, pieceWords: number, paired?: Uint32Array, offset = false,
): { chunk: WeightChunk; bytes: number } {
  const { format, cols: K } = w;
  const cpuLen = cpuRowLength(format, K);
  const part = w.data.subarray(rowStart * cpuLen, (rowStart + rows) * cpuLen);
  const spr = paired ? ceilDiv(scalesPerRow(w), 2) : w.scales ? scalesPerRow(w) : 0;
  const scales = (paired ?? w.scales)?.subarray(rowStart * spr, (rowStart + rows) * spr);
  const gpuLen = gpuRowWords(format, K);
  let data = part as Uint32Array | Float32Array;
  if (gpuLen !== cpuLen) { // rows padded to whole decoder blocks (fp8), vec4s (f32, f16) or vec2s (bf16)
    data = new (part.constructor as typeof Uint32Array | typeof Float32Array)(rows * gpuLen);
    for (let r = 0; r < rows; r++) data.set(part.subarray(r * cpuLen, (r + 1) * cpuLen), r * gpuLen);
  }
  const unit = rowTile === 1 ? gpuLen : TILE_UNIT[format]!;
  const chunk: WeightChunk = { rowStart, rows, data: uploadRows(alloc, name, data, rows, gpuLen / unit, unit, rowTile, pieceWords, offset ? OFFSET_FLIP : 0) };
  let bytes = tiledBytes(rows, gpuLen / unit, unit, rowTile);
  if (scales) {
    chunk.scales = uploadRows(alloc, `${name}.scales`, scales, rows, spr, 1, rowTile, pieceWords);
    bytes += tiledBytes(rows, spr, 1, rowTile);
  }
  return { chunk, bytes };
}

/**
 * A chunk of a GGUF block format: buffers of its GPU layout's size, written piece by piece as
 * repackGgufPieces repacks its rows into a reused scratch (fresh arrays per chunk cost more in page
 * faults than the repacking; queue.writeBuffer copies each piece before the scratch is reused).
 */
function uploadGgufChunk(alloc: Allocator, name: string, w: WeightData, rowStart: number, rows: number, rowTile: number, wide: boolean, pieceWords: number): WeightChunk {
  const l = GGUF_LAYOUTS[w.format as GgufFormat], K = w.cols;
  const cw = gpuRowWords(w.format, K, wide), sw = l.scaleWords(K), rowBytes = cpuRowLength(w.format, K);
  const padded = ceilDiv(rows, rowTile) * rowTile; // tiled: the last tile's rows padded
  const data = alloc.storage(name, padded * cw * 4); // (rows, cw) u32: code planes; tiled (tiles, cw / 4, rowTile, 4)
  const scales = alloc.storage(`${name}.scales`, padded * sw * 4); // (rows, sw) u32: scale records; tiled (tiles, sw, rowTile)
  const blocks = (w.data as Uint8Array).subarray(rowStart * rowBytes, (rowStart + rows) * rowBytes);
  // Pieces of whole tiles: a piece's first row starts a tile, so its words start at r * row words.
  repackGgufPieces(l, blocks, rows, K, (codes, scaleWords, r) => {
    writeBuffer(alloc.gpu, data, codes, r * cw * 4);
    writeBuffer(alloc.gpu, scales, scaleWords, r * sw * 4);
  }, pieceWords, rowTile, wide);
  return { rowStart, rows, data, scales };
}

/** How uploadWeights lays a matrix out; every field has a default. */
export interface UploadOptions {
  /** Codes per chunk at most (a chunk's codes must fit one storage binding): default the device's limit; tests pass less to force a split. */
  maxChunkBytes?: number;
  /** Chunks start on multiples of it: 1, or 2 for the GLU matmul's gate/up pairs. */
  rowAlign?: number;
  /** Rows per tile (GpuWeights.rowTile): default rowTileFor the device and format. */
  rowTile?: number;
  /** Words a tiled or GGUF matrix is written in at a time (at least a tile or a row): default PIECE_WORDS; tests pass less to force pieces. */
  pieceWords?: number;
  /**
   * q8 and q4 scales as f16 pairs where they are f16 values (pairedScales): default on GPUs, where Q8_0 and Q4_0
   * matrices then take GGUF's own 8.5 and 4.5 bits a weight of memory and bandwidth, not 9 and 5. Not on CPU adapters:
   * on lavapipe the pairs' GEMV took 1.06x the CPU time on 576x3072 and 1.11-1.18x on 576x49152 (bench/matmul_ab.ts
   * --variant halfScales=0 --variant halfScales=1), the scale loads saved costing less than the unpacking and the extra
   * branch per two blocks.
   */
  halfScales?: boolean;
  /**
   * A GGUF format's codes of 5, 6 or 3 bits widened to a byte each (GpuWeights.wideCodes): default on CPU adapters, where
   * decoding their high bits cost more than their bytes save (lavapipe, bench/matmul_ab.ts --variant wideCodes=0
   * --variant wideCodes=1: see docs/kernels.md). GPUs keep the planes, a third to a half fewer bytes.
   */
  wideCodes?: boolean;
  /**
   * q8 codes offset by 128 (GpuWeights.offsetCodes): default on lavapipe, whose integer GEMV then takes 16-bit multiply-adds
   * (see offsetsCodes).
   */
  offsetCodes?: boolean;
}

/** A row tile uploadWeights takes (1, or ROW_TILES), else a BAD_ARGUMENT. */
export function checkRowTile(label: string, format: WeightFormat, rowTile: number): void {
  if (rowTile !== 1 && !ROW_TILES.includes(rowTile)) {
    throw new EmberError('BAD_ARGUMENT', `weights ${label} (${format}): rowTile ${rowTile}; tiles are of 8, 16 or 32 rows`);
  }
}

/**
 * How a matrix of N rows of `rowWords` code words splits into chunks that each fit one binding: even chunks of whole row
 * groups (rowAlign), of whole tiles where a tile fits (a chunk is tiled on its own, its last tile padded).
 */
export function chunkRows(
  caps: Pick<GpuCaps, 'maxStorageBindingSize' | 'maxBufferSize'>, label: string, N: number, rowWords: number,
  o: { maxChunkBytes: number; rowAlign: number; rowTile: number },
): { nChunks: number; rowsPer: number } {
  const limit = Math.min(o.maxChunkBytes, caps.maxStorageBindingSize, caps.maxBufferSize);
  let align = o.rowAlign;
  let perChunk = Math.floor(limit / (rowWords * 4 * align)) * align;
  if (perChunk < 1) {
    throw new EmberError('DEVICE', `weights ${label}: ${o.rowAlign} row(s) take ${rowWords * 4 * o.rowAlign} bytes, more than the ${limit} a binding may hold`);
  }
  if (o.rowTile > 1 && perChunk >= o.rowTile * o.rowAlign) {
    align = o.rowTile * o.rowAlign; // rowAlign is 1 or 2, rowTile 8, 16 or 32: their product is a common multiple
    perChunk = Math.floor(perChunk / align) * align;
  }
  const nChunks = ceilDiv(N, perChunk);
  return { nChunks, rowsPer: ceilDiv(ceilDiv(N, nChunks), align) * align };
}

/**
 * Uploads a matrix, split into row chunks (UploadOptions). GGUF block formats are repacked here, chunk by chunk and
 * piece by piece, into their GPU layout (weight_layouts.ts).
 */
export function uploadWeights(alloc: Allocator, label: string, weights: WeightData, opts: UploadOptions = {}): GpuWeights {
  const { maxChunkBytes = alloc.gpu.caps.maxStorageBindingSize, rowAlign = 1, rowTile = rowTileFor(alloc.gpu.caps, weights.format) } = opts;
  const halfScales = opts.halfScales ?? !alloc.gpu.caps.cpu;
  checkWeights(label, weights);
  if (weights.gpuQuant) throw new EmberError('BAD_ARGUMENT', `weights ${label}: values the GPU quantizes go up by uploadMatrix`);
  const wide = widensCodes(alloc.gpu.caps, weights.format, opts.wideCodes);
  const offset = offsetsCodes(alloc.gpu.caps, weights.format, opts.offsetCodes);
  checkRowTile(label, weights.format, rowTile);
  const w = rowScales(weights);
  const { format, rows: N, cols: K } = w;
  const gpuWords = gpuRowWords(format, K, wide);
  const { nChunks, rowsPer } = chunkRows(alloc.gpu.caps, label, N, gpuWords, { maxChunkBytes, rowAlign, rowTile });
  const paired = halfScales ? pairedScales(w) : undefined;
  const pieceWords = opts.pieceWords ?? PIECE_WORDS;
  const chunks: WeightChunk[] = [];
  let bytes = 0;
  for (let c = 0; c < nChunks; c++) {
    const rowStart = c * rowsPer;
    const rows = Math.min(rowsPer, N - rowStart);
    const name = nChunks > 1 ? `${label}[${c}]` : label;
    if (isGguf(format)) {
      chunks.push(uploadGgufChunk(alloc, name, w, rowStart, rows, rowTile, wide, pieceWords));
      bytes += ceilDiv(rows, rowTile) * rowTile * (gpuWords + GGUF_LAYOUTS[format].scaleWords(K)) * 4;
      continue;
    }
    const up = uploadChunk(alloc, name, w, rowStart, rows, rowTile, pieceWords, paired, offset);
    bytes += up.bytes;
    chunks.push(up.chunk);
  }
  const group = paired ? 64 : w.scales ? Math.min(scaleLayoutOf(w).blockCols, K) : FORMATS[format].group;
  const nanCodes = format === 'fp8e4m3' ? hasE4m3Nan(w.data as Uint32Array) : undefined;
  const fp8Bits = format === 'fp8e4m3' ? !nanCodes && w.scales!.every((s) => Math.abs(s) < 2 ** 60) : undefined;
  return {
    format, rows: N, cols: K, group, chunks, bytes, nanCodes, fp8Bits,
    ...(rowTile > 1 ? { rowTile } : {}), ...(paired ? { halfScales: true as const } : {}), ...(wide ? { wideCodes: true as const } : {}),
    ...(offset ? { offsetCodes: true as const } : {}),
  };
}

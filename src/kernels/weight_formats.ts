import f32Decoder from '../../shaders/weights/f32.wgsl?raw';
import f16Decoder from '../../shaders/weights/f16.wgsl?raw';
import bf16Decoder from '../../shaders/weights/bf16.wgsl?raw';
import floatPiecesLib from '../../shaders/weights/float_pieces.wgsl?raw';
import q8Decoder from '../../shaders/weights/q8.wgsl?raw';
import blockScalesLib from '../../shaders/weights/block_scales.wgsl?raw';
import blockHalfScalesLib from '../../shaders/weights/block_half_scales.wgsl?raw';
import q4Decoder from '../../shaders/weights/q4.wgsl?raw';
import fp8Decoder from '../../shaders/weights/fp8.wgsl?raw';
import planesLib from '../../shaders/weights/planes.wgsl?raw';
import iq4ValuesLib from '../../shaders/weights/iq4_values.wgsl?raw';
import affine32Lib from '../../shaders/weights/affine32.wgsl?raw';
import d32Lib from '../../shaders/weights/d32.wgsl?raw';
import kquantMinLib from '../../shaders/weights/kquant_min.wgsl?raw';
import q4_1Decoder from '../../shaders/weights/q4_1.wgsl?raw';
import q5_0Decoder from '../../shaders/weights/q5_0.wgsl?raw';
import q5_1Decoder from '../../shaders/weights/q5_1.wgsl?raw';
import q2_kDecoder from '../../shaders/weights/q2_k.wgsl?raw';
import q3_kDecoder from '../../shaders/weights/q3_k.wgsl?raw';
import q4_kDecoder from '../../shaders/weights/q4_k.wgsl?raw';
import q5_kDecoder from '../../shaders/weights/q5_k.wgsl?raw';
import q6_kDecoder from '../../shaders/weights/q6_k.wgsl?raw';
import iq4_nlDecoder from '../../shaders/weights/iq4_nl.wgsl?raw';
import iq4_xsDecoder from '../../shaders/weights/iq4_xs.wgsl?raw';
import { FP8_CODES_LIB } from './wgsl_lib.ts';
import { GGUF_LAYOUTS, planeRowWords, type GgufFormat } from './weight_layouts.ts';

/**
 * The weight formats and what each brings to the one matmul design (shaders/matmul.wgsl): its WGSL
 * decoder, the x mode it takes, its block, and its GPU row size. Adding a format is a decoder file,
 * an entry here and (for a GGUF block format) its repacking in weight_layouts.ts.
 *
 * f32, f16, bf16 (f32's values in half the bytes: a Hugging Face checkpoint's, as it is); q8: int8 codes (per-group or per-row scales); q4: GGUF Q4_0; fp8e4m3 / fp8e5m2: OCP FP8
 * codes (src/quant/fp8.ts) with per-group, per-row or per-block scales; the GGUF block formats
 * q4_1 ... iq4_xs (GGUF_LAYOUTS), kept as ggml's blocks on the CPU and repacked at upload.
 */
export type WeightFormat = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4' | 'fp8e4m3' | 'fp8e5m2' | GgufFormat;
export const GGUF_FORMATS = Object.keys(GGUF_LAYOUTS) as GgufFormat[];
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'bf16', 'q8', 'q4', 'fp8e4m3', 'fp8e5m2', ...GGUF_FORMATS];

/**
 * How x enters the dot products: 'f32' (f32 products of the decoded weights: the exact function of
 * the dequantized weights), 'f16' (x rounded to f16 first, llama.cpp's f16 numerics), 'q8' (x in
 * Q8_0, integer block dots: llama.cpp's CPU numerics for Q8_0 and Q4_0). The GGUF block formats take
 * f32 x: with 8-bit activations their greedy ids part from llama.cpp's and from a float64 reference at
 * near ties (../shared/models/kquants-real: 31 of 36 runs exact, 36 of 36 with f32 or f16 x).
 */
export type XMode = 'f32' | 'f16' | 'q8';

export interface FormatSpec {
  decoder: string; // WGSL: BLOCK, BlockInfo, block_info, block_piece, block_combine, and the bindings 4-5
  x: XMode;
  block: number; // weights per decoder block (BLOCK); rows of f32 / f16 / fp8 are padded to whole blocks
  /** Weights per scale group (load_group) when the scales are in the data: the ggml block; else the block. */
  group: number;
  /** u32 words per row of codes on the GPU. */
  rowWords: (K: number) => number;
  /** Override constants the decoder declares. */
  constants?: Record<string, number>;
}

/** The decoder's BLOCK, read from its WGSL (declared once, there). */
function blockOf(decoder: string): number {
  const m = /const BLOCK: u32 = (\d+)u;/.exec(decoder);
  if (!m) throw new Error('a weight decoder must declare `const BLOCK: u32 = <n>u;`');
  return Number(m[1]);
}
/** The XOR that offsets a q8 code word's 4 bytes by 128 (GpuWeights.offsetCodes). */
export const OFFSET_FLIP = 0x80808080;
/** The q8 decoder: scales f32 or in f16 pairs (halfScales), codes as they are or offset by 128 (its CODE_FLIP). */
const q8With = (halfScales: boolean, offset: boolean) =>
  `${halfScales ? blockHalfScalesLib : blockScalesLib}\nconst CODE_FLIP: u32 = ${offset ? `0x${OFFSET_FLIP.toString(16)}u` : '0u'};\n${q8Decoder}`;
const padded = (K: number, block: number, perWord: number) => (Math.ceil(K / block) * block) / perWord;
const spec = (decoder: string, x: XMode, rowWords: (K: number, block: number) => number, constants?: Record<string, number>): FormatSpec => {
  const block = blockOf(decoder);
  return { decoder, x, block, group: block, rowWords: (K) => rowWords(K, block), constants };
};
/** The planes' bits of a GGUF layout as the decoders read them (shaders/weights/planes.wgsl). */
const planeBits = (planes: readonly number[]) => `const LO_BITS: u32 = ${planes[0]}u;\nconst HI_BITS: u32 = ${planes[1] ?? 0}u;`;
/** Each GGUF block format's decoder after the plane layout: the decoder families it uses, then its file. */
const GGUF_DECODERS: Readonly<Record<GgufFormat, readonly string[]>> = {
  q4_1: [affine32Lib, q4_1Decoder],
  q5_0: [d32Lib, q5_0Decoder],
  q5_1: [affine32Lib, q5_1Decoder],
  q2_k: [q2_kDecoder],
  q3_k: [q3_kDecoder],
  q4_k: [kquantMinLib, q4_kDecoder],
  q5_k: [kquantMinLib, q5_kDecoder],
  q6_k: [q6_kDecoder],
  iq4_nl: [d32Lib, iq4ValuesLib, iq4_nlDecoder],
  iq4_xs: [iq4ValuesLib, iq4_xsDecoder],
};
/** A GGUF block format's decoder with its planes' bits, its layout's or the widened codes' ([8]). */
const ggufDecoder = (f: GgufFormat, planes: readonly number[]) => [planeBits(planes), planesLib, ...GGUF_DECODERS[f]].join('\n');
const gguf = (f: GgufFormat): FormatSpec => ({
  ...spec(ggufDecoder(f, GGUF_LAYOUTS[f].planes), 'f32', (K) => planeRowWords(GGUF_LAYOUTS[f], K)),
  group: GGUF_LAYOUTS[f].blockElems,
});

export const FORMATS: Readonly<Record<WeightFormat, FormatSpec>> = {
  f32: spec(`${floatPiecesLib}\n${f32Decoder}`, 'f32', (K) => padded(K, 4, 1)), // whole vec4s
  f16: spec(f16Decoder, 'f16', (K) => padded(K, 8, 2)), // whole vec4<u32>
  bf16: spec(`${floatPiecesLib}\n${bf16Decoder}`, 'f32', (K) => padded(K, 4, 2)), // whole vec2<u32>
  q8: spec(q8With(false, false), 'q8', (K) => K / 4),
  q4: spec(`${blockScalesLib}\n${q4Decoder}`, 'q8', (K) => K / 8),
  fp8e4m3: spec(`${FP8_CODES_LIB}\n${fp8Decoder}`, 'f32', (K, b) => padded(K, b, 4), { E5M2: 0 }),
  fp8e5m2: spec(`${FP8_CODES_LIB}\n${fp8Decoder}`, 'f32', (K, b) => padded(K, b, 4), { E5M2: 1 }),
  q4_1: gguf('q4_1'),
  q5_0: gguf('q5_0'),
  q5_1: gguf('q5_1'),
  q2_k: gguf('q2_k'),
  q3_k: gguf('q3_k'),
  q4_k: gguf('q4_k'),
  q5_k: gguf('q5_k'),
  q6_k: gguf('q6_k'),
  iq4_nl: gguf('iq4_nl'),
  iq4_xs: gguf('iq4_xs'),
};

/** The q4 decoder for scales in f16 pairs (GpuWeights.halfScales); q8's comes from q8With. */
const HALF_SCALES_DECODERS: Partial<Record<WeightFormat, string>> = {
  q4: `${blockHalfScalesLib}\n${q4Decoder}`,
};

/**
 * The GGUF formats whose codes have high bits (5, 6 or 3 bits in two planes), which CPU adapters widen at load to
 * one 8-bit plane (GpuWeights.wideCodes, weight_layouts.ts widenRow): their decoders with the planes' bits 8 and 0.
 */
export const WIDE_CODES: readonly GgufFormat[] = GGUF_FORMATS.filter((f) => GGUF_LAYOUTS[f].planes.length > 1);
const WIDE_DECODERS = Object.fromEntries(WIDE_CODES.map((f) => [f, ggufDecoder(f, [8])])) as Partial<Record<WeightFormat, string>>;

/** The decoder of uploaded weights: q8's from q8With (scale pairs, offset codes), q4's with f16 scale pairs, a GGUF format's with widened codes, else their format's. */
export function decoderOf(w: { format: WeightFormat; halfScales?: boolean; wideCodes?: boolean; offsetCodes?: boolean }): string {
  if (w.format === 'q8') return q8With(!!w.halfScales, !!w.offsetCodes);
  if (w.offsetCodes) throw new Error(`${w.format} has no offset codes`);
  if (w.wideCodes) {
    const d = WIDE_DECODERS[w.format];
    if (!d) throw new Error(`${w.format} has no widened codes`);
    return d;
  }
  if (!w.halfScales) return FORMATS[w.format].decoder;
  const d = HALF_SCALES_DECODERS[w.format];
  if (!d) throw new Error(`${w.format} has no f16 scale pairs`);
  return d;
}

export const isGguf = (f: WeightFormat): f is GgufFormat => f in GGUF_LAYOUTS;
export const isFp8 = (f: WeightFormat) => f === 'fp8e4m3' || f === 'fp8e5m2';

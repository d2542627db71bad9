import { EmberError } from '../errors.ts';
import { nodeHostIfAny } from '../node_host.ts';
import { readTensorBytes, type GGUFFile, type TensorInfo } from '../gguf/reader.ts';
import { bf16Packed, f32ToF16Bits, q4_0ToPacked, toQ8Packed, q8_0ToPacked, quantizeQ8G32, toF16Packed, toF32, wordsOf } from '../gguf/convert.ts';
import type { WeightData } from '../kernels/matmul.ts';
import type { GgmlValues } from '../kernels/quantize_ggml.ts';
import { GPU_QUANT_FORMATS, type GpuQuant } from '../kernels/matmul_weights.ts';
import { quantizeFp8, type Fp8Format } from '../quant/fp8.ts';
import { quantizeInt8 } from '../quant/int8.ts';
import { ggmlDequantize, ggmlQuantize } from '../quant/ggml/index.ts';
import { fallbackType } from '../quant/ggml/mixture.ts';
import { GGUF_LAYOUTS, planeRowWords, type GgufFormat } from '../kernels/weight_layouts.ts';

/** How weights are stored on the GPU: as in the file ('auto'), or converted at load. */
export type QuantScheme =
  | 'auto' | 'f32' | 'f16' | 'int8' | 'int8-g32' | 'fp8-e4m3' | 'fp8-e5m2' | 'fp8-e4m3-g32' | 'fp8-e5m2-g32'
  | 'q4_0' | 'q4_1' | 'q4_k' | 'q5_k' | 'q6_k';
export const QUANT_SCHEMES: readonly QuantScheme[] = [
  'auto', 'f32', 'f16', 'int8', 'int8-g32', 'fp8-e4m3', 'fp8-e5m2', 'fp8-e4m3-g32', 'fp8-e5m2-g32',
  'q4_0', 'q4_1', 'q4_k', 'q5_k', 'q6_k',
];

/** `v` as a scheme, or a BAD_ARGUMENT naming the schemes (the API's quant, the CLI's --quant, quality's). */
export function checkQuantScheme(v: unknown): QuantScheme {
  if (!QUANT_SCHEMES.includes(v as QuantScheme)) {
    throw new EmberError('BAD_ARGUMENT', `quant "${String(v)}" is not one of ${QUANT_SCHEMES.join(', ')}`, { option: 'quant' });
  }
  return v as QuantScheme;
}

/**
 * The ggml block schemes: ggml's reference quantizers (src/quant/ggml, byte-equal to llama-quantize without
 * an imatrix), with llama.cpp's fallbacks for rows that do not fit the block: Q4_K -> Q5_0, Q5_K -> Q5_1,
 * Q6_K -> Q8_0 (rows not a multiple of 256), then F16 (rows not a multiple of 32).
 */
const GGML_SCHEMES: Partial<Record<QuantScheme, string>> = { q4_0: 'Q4_0', q4_1: 'Q4_1', q4_k: 'Q4_K', q5_k: 'Q5_K', q6_k: 'Q6_K' };

export interface QuantInfo {
  /** GPU bytes per weight of a converted matrix, scales included (per-row schemes: plus `rowBytes` per row); null: as in the file. */
  readonly bytesPerParam: number | null;
  readonly rowBytes: number; // per-row scale bytes
  readonly describe: string;
}

/**
 * What each scheme stores. Rows whose length does not fit a scheme's grouping stay f32 (as llama.cpp
 * leaves them): int8 and int8-g32 need a multiple of 32 (x is quantized to Q8_0 per 32), the FP8
 * per-row schemes a multiple of 4, the FP8 -g32 schemes a multiple of 32.
 */
export const QUANT_INFO: Readonly<Record<QuantScheme, QuantInfo>> = Object.freeze({
  auto: { bytesPerParam: null, rowBytes: 0, describe: 'as in the file (BF16 kept, widened in the shader; F32 f32; native FP8 kept)' },
  f32: { bytesPerParam: 4, rowBytes: 0, describe: 'f32' },
  f16: { bytesPerParam: 2, rowBytes: 0, describe: 'f16' },
  int8: { bytesPerParam: 1, rowBytes: 4, describe: 'int8, one f32 scale per row' },
  'int8-g32': { bytesPerParam: 1.125, rowBytes: 0, describe: 'int8, one scale per 32 (Q8_0 numerics)' },
  'fp8-e4m3': { bytesPerParam: 1, rowBytes: 4, describe: 'FP8 E4M3, one f32 scale per row' },
  'fp8-e5m2': { bytesPerParam: 1, rowBytes: 4, describe: 'FP8 E5M2, one f32 scale per row' },
  'fp8-e4m3-g32': { bytesPerParam: 1.125, rowBytes: 0, describe: 'FP8 E4M3, one f32 scale per 32' },
  'fp8-e5m2-g32': { bytesPerParam: 1.125, rowBytes: 0, describe: 'FP8 E5M2, one f32 scale per 32' },
  q4_0: { bytesPerParam: 0.625, rowBytes: 0, describe: 'ggml Q4_0 (4-bit codes, scale per 32; f32 scales on the GPU)' },
  q4_1: { bytesPerParam: gpuBytesPerParam('q4_1'), rowBytes: 0, describe: 'ggml Q4_1 (4-bit codes, scale and min per 32)' },
  q4_k: { bytesPerParam: gpuBytesPerParam('q4_k'), rowBytes: 0, describe: 'ggml Q4_K (4-bit, 6-bit scales/mins per 32, per 256)' },
  q5_k: { bytesPerParam: gpuBytesPerParam('q5_k'), rowBytes: 0, describe: 'ggml Q5_K (5-bit, 6-bit scales/mins per 32, per 256)' },
  q6_k: { bytesPerParam: gpuBytesPerParam('q6_k'), rowBytes: 0, describe: 'ggml Q6_K (6-bit, int8 scales per 16, per 256)' },
});

/** "int8 (1 B/param + 4 B/row)", for help texts. */
export function quantLabel(q: QuantScheme): string {
  const i = QUANT_INFO[q];
  if (i.bytesPerParam === null) return q;
  return `${q} (${i.bytesPerParam} B/param${i.rowBytes ? ` + ${i.rowBytes} B/row` : ''})`;
}

/**
 * Where a model's tensors come from. Names are GGUF's (token_embd.weight, blk.N.attn_q.weight, ...);
 * other formats map their names onto these. Matrices are `rows` outputs by `cols` inputs.
 */
export interface WeightSource {
  readonly name: string;
  has(tensor: string): boolean;
  /** n values; `shape` (row-major, default [n]) for a small tensor of more dimensions read whole (LFM2's conv kernels, [D, taps]). */
  vector(tensor: string, n: number, shape?: readonly number[]): Promise<Float32Array>;
  matrix(tensor: string, rows: number, cols: number, quant: QuantScheme, opts?: MatrixOptions): Promise<WeightData>;
}

export interface MatrixOptions {
  /**
   * A conversion of f32, f16 or bf16 values that the GPU makes (int8-g32, int8, the FP8 schemes, f16) is left to it: the
   * values come back marked (WeightData.gpuQuant) for uploadMatrix to convert as it uploads them. The model builder asks
   * for this; CPU readers (references, caches) do not.
   */
  gpuQuant?: boolean;
  /**
   * ggml's quantizer for a ggml scheme's conversion (the same bytes as ggmlQuantize) of f32 values, or of an F16 or BF16
   * tensor's words as they are: the model builder's runs on its GPU (src/kernels/quantize_ggml.ts). Without it the CPU
   * converts (worker threads on the Node host).
   */
  ggmlQuantize?: (type: string, values: GgmlValues) => Promise<Uint8Array>;
}

/**
 * An F32, F16 or BF16 tensor (a GGUF type name or a safetensors dtype; rows x cols of whole 32-blocks) converted to
 * `quant` at load: its values marked for the GPU to convert as it uploads them where `opts` asks for that and the GPU
 * makes that scheme (GPU_QUANT_FORMATS; not F16 to f16, which stays as it is); a ggml scheme's blocks made by
 * `opts.ggmlQuantize` from the file's words as they are (no f32 copy); else int8-g32 quantized here a chunk of rows at
 * a time (toQ8Packed, without a whole f32 copy first: a Llama-3.2-1B BF16 took 29.5 s to load with one).
 * Null for any other tensor or scheme (the caller converts it).
 */
export async function convertFloats(
  type: string, name: string, bytes: Uint8Array, rows: number, cols: number, quant: QuantScheme, opts: MatrixOptions | undefined,
): Promise<WeightData | null> {
  if (cols % 32 !== 0 || !['F32', 'F16', 'BF16'].includes(type)) return null;
  const t = { name, ne: [cols, rows], type };
  const ggml = GGML_SCHEMES[quant];
  const ggmlType = ggml && fallbackType(ggml, cols);
  if (opts?.ggmlQuantize && ggmlType && ggmlType !== 'F16') {
    const words = wordsOf(bytes);
    const values = type === 'F32' ? new Float32Array(words.buffer, words.byteOffset, words.length) : { format: type === 'F16' ? 'f16' as const : 'bf16' as const, words };
    return ggmlWeightData(ggmlType, rows, cols, await opts.ggmlQuantize(ggmlType, values));
  }
  if (opts?.gpuQuant && quant in GPU_QUANT_FORMATS && !(quant === 'f16' && type === 'F16')) {
    // The file's words as they are (a view, not a copy): the GPU reads them, nothing changes them.
    const words = wordsOf(bytes);
    const values = type === 'F32' ? { format: 'f32' as const, data: new Float32Array(words.buffer, words.byteOffset, words.length) }
      : { format: type === 'F16' ? 'f16' as const : 'bf16' as const, data: words };
    return { ...values, rows, cols, gpuQuant: quant as GpuQuant };
  }
  if (quant !== 'int8-g32') return null;
  const q = toQ8Packed(t, bytes);
  return { format: 'q8', rows, cols, data: q.q, scales: q.scales };
}

/** Values a ggml conversion takes before it goes to worker threads where the host has them (Node): 64K (a message costs ~1 ms). */
const PARALLEL_VALUES = 1 << 16;

/**
 * storeF32 for a weight source: a ggml scheme's conversion runs where `opts` says (the model builder's GPU), else, for a
 * large matrix, on the Node host's worker threads (the same bytes: NodeHost.ggmlQuantize); everything else as storeF32
 * does it.
 */
export async function convertF32(data: Float32Array, rows: number, cols: number, quant: QuantScheme, opts?: MatrixOptions): Promise<WeightData> {
  const ggml = GGML_SCHEMES[quant];
  if (!ggml) return storeF32(data, rows, cols, quant);
  const type = fallbackType(ggml, cols);
  const host = nodeHostIfAny();
  const quantize = opts?.ggmlQuantize ?? (host && data.length >= PARALLEL_VALUES ? host.ggmlQuantize : null);
  if (!quantize) return storeF32(data, rows, cols, quant);
  return ggmlWeightData(type, rows, cols, await quantize(type, data));
}

/**
 * Converts f32 values to the requested storage, once, at load, on the CPU: 4 (int8) to 30 (FP8 per 32)
 * ms per million weights on one core, so seconds for small models but 15-30 s for FP8 on a 1B model
 * (the model builder leaves the schemes the GPU makes to it: convertFloats). `auto` keeps f32; rows that
 * do not fit a scheme's grouping stay f32.
 */
export function storeF32(data: Float32Array, rows: number, cols: number, quant: QuantScheme): WeightData {
  const ggml = GGML_SCHEMES[quant];
  if (ggml) {
    const type = fallbackType(ggml, cols);
    return ggmlWeightData(type, rows, cols, ggmlQuantize(type, data));
  }
  if (quant === 'int8-g32' && cols % 32 === 0) {
    const q = quantizeQ8G32(data, rows, cols);
    return { format: 'q8', rows, cols, data: q.q, scales: q.scales };
  }
  if (quant === 'int8' && cols % 32 === 0) {
    const q = quantizeInt8(data, rows, cols, cols);
    return { format: 'q8', rows, cols, data: q.q, scales: q.scales, scaleLayout: { blockRows: 1, blockCols: cols } };
  }
  const fp8 = /^fp8-(e4m3|e5m2)(-g32)?$/.exec(quant);
  if (fp8) {
    const fmt = fp8[1] as Fp8Format;
    const group = fp8[2] ? 32 : cols;
    if (cols % 4 === 0 && cols % group === 0) {
      const q = quantizeFp8(data, rows, cols, fmt, group);
      return { format: fmt === 'e4m3' ? 'fp8e4m3' : 'fp8e5m2', rows, cols, data: q.q, scales: q.scales, scaleLayout: { blockRows: 1, blockCols: group } };
    }
  }
  if (quant === 'f16') {
    const h = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) h[i] = f32ToF16Bits(data[i]);
    return { format: 'f16', rows, cols, data: new Uint32Array(h.buffer) };
  }
  // f32, auto, and rows a quantized scheme cannot group (as llama.cpp leaves them unquantized)
  return { format: 'f32', rows, cols, data };
}

/** GPU bytes per weight of a GGUF block format in its upload layout (weight_layouts.ts), for rows of 256. */
function gpuBytesPerParam(f: GgufFormat): number {
  const l = GGUF_LAYOUTS[f];
  return (planeRowWords(l, 256) + l.scaleWords(256)) * 4 / 256;
}

/**
 * ggml blocks of `type` (rows x cols, whole blocks per row) as the kernels take them: F16 and BF16 packed (BF16
 * rows of odd length widened), Q8_0 and Q4_0 reordered into q8 / q4, the other GGUF block formats as their raw
 * bytes (uploadWeights repacks them), F32 as it is.
 */
export function ggmlWeightData(type: string, rows: number, cols: number, bytes: Uint8Array): WeightData {
  const t = { name: `${rows}x${cols} ${type}`, ne: [cols, rows], type };
  if (type === 'F16') return { format: 'f16', rows, cols, data: toF16Packed(t, bytes) };
  if (type === 'BF16' && cols % 2 === 0) return { format: 'bf16', rows, cols, data: bf16Packed(t, bytes) };
  if (type === 'Q8_0') {
    const q = q8_0ToPacked(t, bytes);
    return { format: 'q8', rows, cols, data: q.q, scales: q.scales };
  }
  if (type === 'Q4_0') {
    const q = q4_0ToPacked(t, bytes);
    return { format: 'q4', rows, cols, data: q.q, scales: q.scales };
  }
  const format = type.toLowerCase();
  if (format in GGUF_LAYOUTS) return { format: format as GgufFormat, rows, cols, data: bytes };
  return { format: 'f32', rows, cols, data: ['F32', 'BF16'].includes(type) ? toF32(t, bytes) : ggmlDequantize(type, bytes, rows * cols) };
}

/** Any tensor the reader accepts, as f32: ggml's dequantize_row_* for the block types. */
export function tensorF32(t: TensorInfo, bytes: Uint8Array): Float32Array {
  return ['F32', 'F16', 'BF16'].includes(t.type) ? toF32(t, bytes) : ggmlDequantize(t.type, bytes, t.numel);
}

export function ggufWeights(f: GGUFFile): WeightSource {
  const tensor = (name: string, ne: readonly number[]): TensorInfo => {
    const t = f.tensors.get(name);
    if (!t) throw new EmberError('BAD_MODEL', `${f.source.name}: tensor ${name} is missing`, { tensor: name });
    const same = t.ne.length >= ne.length && ne.every((v, i) => t.ne[i] === v) && t.ne.slice(ne.length).every((v) => v === 1);
    if (!same) throw new EmberError('BAD_MODEL', `${f.source.name}: tensor ${name} has shape [${t.ne.join(', ')}], expected [${ne.join(', ')}]`, { tensor: name });
    return t;
  };
  return {
    name: f.source.name,
    has: (name) => f.tensors.has(name),
    async vector(name, n, shape = [n]) {
      const t = tensor(name, [...shape].reverse()); // ggml order
      return tensorF32(t, await readTensorBytes(f, t));
    },
    async matrix(name, rows, cols, quant, opts) {
      // ggml order: ne = [in, out]; a mixture's experts (ffn_*_exps) [in, out, experts], read as their rows stacked
      const experts = /_exps\.weight$/.test(name) ? f.tensors.get(name)?.ne[2] ?? 1 : 1;
      const t = tensor(name, experts > 1 && rows % experts === 0 ? [cols, rows / experts, experts] : [cols, rows]);
      const bytes = await readTensorBytes(f, t);
      const converted = await convertFloats(t.type, name, bytes, rows, cols, quant, opts);
      if (converted) return converted;
      // As in the file: 'auto', or a scheme the tensor is already in (no second rounding).
      const ggml = GGML_SCHEMES[quant];
      const asIs = quant === 'auto' || (quant === 'int8-g32' && t.type === 'Q8_0') || (quant === 'f16' && t.type === 'F16')
        || (ggml !== undefined && t.type === fallbackType(ggml, cols));
      if (asIs && t.type !== 'F32' && !(t.type === 'BF16' && cols % 2)) return ggmlWeightData(t.type, rows, cols, bytes);
      return convertF32(tensorF32(t, bytes), rows, cols, quant, opts); // F32, BF16 rows of odd length, or a conversion
    },
  };
}

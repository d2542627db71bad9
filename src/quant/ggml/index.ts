/**
 * ggml's block formats on the CPU: the type table, dequantizers bit-exact with ggml's dequantize_row_*,
 * ggml's reference quantizers and valid random blocks. Plain TypeScript, no GPU imports.
 *
 * Quantizers (`ggmlQuantize`): Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (round-to-nearest per 32, as
 * quantize_row_*_ref), Q4_K and Q5_K (make_qkx2_quants: a weighted least-squares search over 21 / 16
 * candidate scales per 32-value sub-block, 6-bit scales and mins), Q6_K (make_qx_quants over 19 scales
 * per 16-value sub-block, int8 scales). These are ggml's `_ref` paths, i.e. what llama-quantize writes
 * without an importance matrix; every C float operation is one f32 rounding here, so the bytes equal
 * ggml-quants.c compiled with -ffp-contract=off (test/ggml_quant.test.ts checks it on a fixture from
 * that C). A build that fuses multiply-adds may differ in a rare code or scale. Not implemented: the
 * imatrix variants (quantize_*_impl with quant_weights) and the Q2_K/Q3_K/IQ quantizers.
 */
import { EmberError } from '../../errors.ts';
import { bf16ToF32, f32ToBF16Bits, f32ToF16Bits } from '../../gguf/convert.ts';
import { dequantIQ4_NL, dequantQ4_0, dequantQ4_1, dequantQ5_0, dequantQ5_1, dequantQ8_0 } from './dequant_32.ts';
import { dequantIQ4_XS, dequantQ2_K, dequantQ3_K, dequantQ4_K, dequantQ5_K, dequantQ6_K } from './dequant_k.ts';
import { f16Table } from './f16.ts';
import { quantQ4_0, quantQ4_1, quantQ5_0, quantQ5_1, quantQ8_0 } from './quant_32.ts';
import { quantQ4_K, quantQ5_K, quantQ6_K } from './quant_k.ts';
import { RANDOM_BLOCK_TYPES, randomBlocks } from './random.ts';
import { GGML_TYPES, type GgmlType } from './types.ts';

export { GGML_TYPES, ggmlTypeById, type GgmlType } from './types.ts';

type BlockFn<A, B> = (src: A, dst: B, nBlocks: number) => void;

const DEQUANT: Record<string, BlockFn<Uint8Array, Float32Array>> = {
  F32: (b, y, n) => y.set(new Float32Array(b.slice(0, 4 * n).buffer)),
  F16: (b, y, n) => {
    const lut = f16Table();
    for (let i = 0; i < n; i++) y[i] = lut[b[2 * i] | (b[2 * i + 1] << 8)];
  },
  BF16: (b, y, n) => {
    for (let i = 0; i < n; i++) y[i] = bf16ToF32(b[2 * i] | (b[2 * i + 1] << 8));
  },
  Q4_0: dequantQ4_0,
  Q4_1: dequantQ4_1,
  Q5_0: dequantQ5_0,
  Q5_1: dequantQ5_1,
  Q8_0: dequantQ8_0,
  IQ4_NL: dequantIQ4_NL,
  Q2_K: dequantQ2_K,
  Q3_K: dequantQ3_K,
  Q4_K: dequantQ4_K,
  Q5_K: dequantQ5_K,
  Q6_K: dequantQ6_K,
  IQ4_XS: dequantIQ4_XS,
};

const QUANT: Record<string, BlockFn<Float32Array, Uint8Array>> = {
  F32: (x, out, n) => out.set(new Uint8Array(x.buffer, x.byteOffset, 4 * n)),
  F16: (x, out, n) => {
    for (let i = 0; i < n; i++) [out[2 * i], out[2 * i + 1]] = [f32ToF16Bits(x[i]) & 255, f32ToF16Bits(x[i]) >> 8];
  },
  BF16: (x, out, n) => {
    for (let i = 0; i < n; i++) [out[2 * i], out[2 * i + 1]] = [f32ToBF16Bits(x[i]) & 255, f32ToBF16Bits(x[i]) >> 8];
  },
  Q4_0: quantQ4_0,
  Q4_1: quantQ4_1,
  Q5_0: quantQ5_0,
  Q5_1: quantQ5_1,
  Q8_0: quantQ8_0,
  Q4_K: quantQ4_K,
  Q5_K: quantQ5_K,
  Q6_K: quantQ6_K,
};

/** Types `ggmlDequantize` decodes / `ggmlQuantize` encodes / `ggmlRandomBlocks` draws. */
export const GGML_DEQUANT_TYPES: readonly string[] = Object.keys(DEQUANT);
export const GGML_QUANT_TYPES: readonly string[] = Object.keys(QUANT);
export const GGML_RANDOM_TYPES: readonly string[] = RANDOM_BLOCK_TYPES;

/** The type named `type`, checked to be one of `supported` and to fit `count` values in whole blocks. */
function typeFor(what: string, type: string, count: number, supported: readonly string[]): GgmlType {
  const t = GGML_TYPES[type];
  if (!t || !supported.includes(type)) {
    const list = supported.join(', ');
    throw new EmberError('UNSUPPORTED', `${what}: ggml type ${type} is not supported (supported: ${list})`, { type });
  }
  if (!Number.isInteger(count) || count < 0 || count % t.blockElems !== 0) {
    const msg = `${what}: ${count} values are not a whole number of ${type} blocks of ${t.blockElems}`;
    throw new EmberError('BAD_ARGUMENT', msg, { type, count });
  }
  return t;
}

/** The first `count` values of ggml blocks of `type` in `bytes`, as ggml's dequantize_row_* gives them. */
export function ggmlDequantize(type: string, bytes: Uint8Array, count: number): Float32Array {
  const t = typeFor('ggmlDequantize', type, count, GGML_DEQUANT_TYPES);
  const nb = count / t.blockElems;
  if (bytes.byteLength < nb * t.blockBytes) {
    const msg = `ggmlDequantize: ${count} ${type} values need ${nb * t.blockBytes} bytes, got ${bytes.byteLength}`;
    throw new EmberError('BAD_FILE', msg, { type, count });
  }
  const out = new Float32Array(count);
  DEQUANT[type](bytes, out, t.blockElems === 1 ? count : nb);
  return out;
}

/** `values` (a whole number of blocks) as ggml's reference quantizer of `type` writes them. */
export function ggmlQuantize(type: string, values: Float32Array): Uint8Array {
  const t = typeFor('ggmlQuantize', type, values.length, GGML_QUANT_TYPES);
  const nb = values.length / t.blockElems;
  const out = new Uint8Array(nb * t.blockBytes);
  QUANT[type](values, out, t.blockElems === 1 ? values.length : nb);
  return out;
}

/**
 * `count` values of valid random blocks of `type` whose values have a std of about `std` (default 0.04,
 * the range of trained weights): random codes and sub-block scales, an f16 d per block (x exp(U(-0.2,
 * 0.2))). Float types get normal values of that std. `rand` returns uniform numbers in [0, 1).
 */
export function ggmlRandomBlocks(type: string, count: number, rand: () => number, std = 0.04): Uint8Array {
  typeFor('ggmlRandomBlocks', type, count, GGML_RANDOM_TYPES);
  if (type === 'F32' || type === 'F16' || type === 'BF16') {
    const v = new Float32Array(count);
    for (let i = 0; i < count; i++) v[i] = std * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return ggmlQuantize(type, v);
  }
  return randomBlocks(type, count, rand, std, ggmlDequantize);
}

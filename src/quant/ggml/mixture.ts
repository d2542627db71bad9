import { EmberError } from '../../errors.ts';
import { GGML_TYPES } from './types.ts';

/**
 * The tensor types llama-quantize writes for a llama-architecture model (no experts, not Falcon), ported
 * from llama.cpp's llama_tensor_get_type / tensor_type_fallback (src/llama-quant.cpp, de3ff81) for the
 * file types below. `pure` is llama-quantize --pure: every matrix in the base type, only the fallbacks.
 */
export const LLAMA_FTYPES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K_S', 'Q4_K_M', 'Q5_K_S', 'Q5_K_M', 'Q6_K'] as const;
export type LlamaFtype = (typeof LLAMA_FTYPES)[number];

/** The llama_ftype ids written to general.file_type. */
export const LLAMA_FTYPE_ID: Readonly<Record<LlamaFtype, number>> = {
  Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18,
};

const BASE: Readonly<Record<LlamaFtype, string>> = {
  Q4_0: 'Q4_0', Q4_1: 'Q4_1', Q5_0: 'Q5_0', Q5_1: 'Q5_1', Q8_0: 'Q8_0',
  Q4_K_S: 'Q4_K', Q4_K_M: 'Q4_K', Q5_K_S: 'Q5_K', Q5_K_M: 'Q5_K', Q6_K: 'Q6_K',
};

/** tensor_type_fallback: a type whose block does not divide the row length -> llama.cpp's substitute. */
const FALLBACK: Readonly<Record<string, string>> = {
  Q2_K: 'Q4_0', Q3_K: 'Q4_0', Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0', IQ4_XS: 'IQ4_NL',
};
export function fallbackType(type: string, rowLength: number): string {
  if (rowLength % GGML_TYPES[type].blockElems === 0) return type;
  const t = FALLBACK[type] ?? type;
  return rowLength % GGML_TYPES[t].blockElems === 0 ? t : 'F16'; // "must use F16 due to unusual shape"
}

/** use_more_bits: the first and last eighth of the layers and every third one between get more bits. */
const useMoreBits = (i: number, n: number) => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;

export interface MixtureTensor {
  readonly name: string; // GGUF name: token_embd.weight, output.weight, blk.N.attn_v.weight, ...
  readonly ne: readonly number[];
}

/**
 * The ggml type llama-quantize gives `t` in a `ftype` file of a model with `nLayer` layers (`tied`: no
 * output.weight, so token_embd is quantized as the output). 1-D tensors (norms, biases) stay F32.
 */
export function llamaTensorType(ftype: LlamaFtype | 'pure', base: string, t: MixtureTensor, nLayer: number, tied: boolean): string {
  if (t.ne.filter((d) => d > 1).length < 2 || !t.name.endsWith('.weight')) return 'F32';
  const nx = t.ne[0];
  let type = ftype === 'pure' ? base : BASE[ftype];
  if (ftype === 'pure') return fallbackType(type, nx);
  const layer = Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1);
  const role = t.name.replace(/^blk\.\d+\./, '').replace(/\.weight$/, '');
  if (role === 'output' || (tied && role === 'token_embd')) {
    type = nx % GGML_TYPES[type].blockElems !== 0 ? 'Q8_0' : type !== 'Q8_0' ? 'Q6_K' : type;
  } else if (role === 'attn_v' || role === 'ffn_down') {
    if ((ftype === 'Q4_K_M' || ftype === 'Q5_K_M') && useMoreBits(layer, nLayer)) type = 'Q6_K';
    else if (ftype === 'Q4_K_S' && (role === 'attn_v' ? layer < 4 : layer < Math.floor(nLayer / 8))) type = 'Q5_K';
  }
  return fallbackType(type, nx);
}

export function resolveFtype(name: string): LlamaFtype {
  const f = LLAMA_FTYPES.find((x) => x.toLowerCase() === name.toLowerCase());
  if (!f) throw new EmberError('BAD_ARGUMENT', `unknown llama.cpp file type "${name}" (known: ${LLAMA_FTYPES.join(', ')})`);
  return f;
}

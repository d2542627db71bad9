import { EmberError } from '../errors.ts';
import { readTensorBytes, type GGUFFile, type TensorInfo } from '../gguf/reader.ts';
import { f32ToF16Bits, q4_0ToPacked, q8_0ToPacked, quantizeQ8G32, toF16Packed, toF32 } from '../gguf/convert.ts';
import type { WeightData } from '../kernels/matmul.ts';

/** How weights are stored on the GPU: as in the file ('auto'), or converted at load. */
export type QuantScheme = 'auto' | 'f32' | 'f16' | 'int8-g32';
export const QUANT_SCHEMES: readonly QuantScheme[] = ['auto', 'f32', 'f16', 'int8-g32'];

/**
 * Where a model's tensors come from. Names are GGUF's (token_embd.weight, blk.N.attn_q.weight, ...);
 * other formats map their names onto these. Matrices are `rows` outputs by `cols` inputs.
 */
export interface WeightSource {
  readonly name: string;
  has(tensor: string): boolean;
  vector(tensor: string, n: number): Promise<Float32Array>;
  matrix(tensor: string, rows: number, cols: number, quant: QuantScheme): Promise<WeightData>;
}

/** Converts f32 values to the requested storage; `auto` keeps f32. */
export function storeF32(data: Float32Array, rows: number, cols: number, quant: QuantScheme): WeightData {
  if (quant === 'int8-g32' && cols % 32 === 0) {
    const q = quantizeQ8G32(data, rows, cols);
    return { format: 'q8', rows, cols, data: q.q, scales: q.scales };
  }
  if (quant === 'f16') {
    const h = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) h[i] = f32ToF16Bits(data[i]);
    return { format: 'f16', rows, cols, data: new Uint32Array(h.buffer) };
  }
  // f32, auto, and int8-g32 rows that are not a multiple of 32 (as llama.cpp leaves them unquantized)
  return { format: 'f32', rows, cols, data };
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
    async vector(name, n) {
      const t = tensor(name, [n]);
      return toF32(t, await readTensorBytes(f, t));
    },
    async matrix(name, rows, cols, quant) {
      const t = tensor(name, [cols, rows]); // ggml order: ne = [in, out]
      const bytes = await readTensorBytes(f, t);
      if (quant === 'auto' || (quant === 'int8-g32' && t.type === 'Q8_0') || (quant === 'f16' && t.type === 'F16')) {
        if (t.type === 'F16') return { format: 'f16', rows, cols, data: toF16Packed(t, bytes) };
        if (t.type === 'Q8_0') {
          const q = q8_0ToPacked(t, bytes);
          return { format: 'q8', rows, cols, data: q.q, scales: q.scales };
        }
        if (t.type === 'Q4_0') {
          const q = q4_0ToPacked(t, bytes);
          return { format: 'q4', rows, cols, data: q.q, scales: q.scales };
        }
      }
      return storeF32(toF32(t, bytes), rows, cols, quant); // F32, BF16, or a conversion
    },
  };
}

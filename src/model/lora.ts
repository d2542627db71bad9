/**
 * LoRA adapters merged into a model's weights at load, as llama.cpp's export-lora merges them: W + s B A, s the
 * adapter's scale times alpha / rank (its scale alone where alpha is 0), which is what llama.cpp adds at run time
 * (scale B (A x)). The merged matrix is stored as the file stored it (its ggml type requantized by ggml's reference
 * quantizers; BF16, and the types emberlm does not quantize to, as f16) or as `quant` asks.
 * Adapters are GGUF files as llama.cpp's convert_lora_to_gguf.py writes them: general.type adapter, adapter.type lora,
 * adapter.lora.alpha, and for a base tensor W (out x in) <name>.lora_a (rank x in) and <name>.lora_b (out x rank).
 */
import { EmberError } from '../errors.ts';
import { metaNumber, metaString, readTensorBytes, type GGUFFile } from '../gguf/reader.ts';
import { dequantize } from '../kernels/ref/matmul.ts';
import { GGUF_LAYOUTS, type GgufFormat } from '../kernels/weight_layouts.ts';
import type { WeightData } from '../kernels/matmul.ts';
import { ggmlQuantize } from '../quant/ggml/index.ts';
import { convertF32, ggmlWeightData, storeF32, tensorF32, type WeightSource } from './weight_source.ts';

/**
 * One base tensor's low-rank pair, f32: for a matrix, A (rank x cols) and B (rows x rank); for the embeddings
 * (`lookup`: token_embd, whose rows llama.cpp looks up in A too), A (rows x rank) and B (cols x rank), row t's delta
 * B A[t].
 */
interface LoraPair { a: Float32Array; b: Float32Array; rank: number; cols: number; rows: number; lookup: boolean }

export interface LoraAdapter {
  readonly name: string;
  /** general.architecture: llama.cpp's name of the base model's architecture. */
  readonly arch: string;
  readonly alpha: number;
  readonly scale: number;
  /** By base tensor name (token_embd.weight, blk.N.attn_q.weight, ...). */
  readonly pairs: ReadonlyMap<string, LoraPair>;
}

/** The ggml types whose matrices are requantized after the merge (ggml's reference quantizers; the rest become f16). */
const REQUANTIZED = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];

/** A LoRA adapter GGUF's pairs, as f32, at `scale` (the user's: 1 by default). */
export async function readLoraAdapter(f: GGUFFile, scale: number): Promise<LoraAdapter> {
  const name = f.source.name;
  const bad = (msg: string, details: Record<string, unknown> = {}) => new EmberError('BAD_MODEL', `${name}: ${msg}`, details);
  const type = metaString(f, 'general.type', '');
  if (type !== 'adapter' || metaString(f, 'adapter.type', '') !== 'lora') {
    throw new EmberError('BAD_ARGUMENT', `${name} is not a LoRA adapter (general.type ${JSON.stringify(type)}, adapter.type ${JSON.stringify(f.metadata.get('adapter.type') ?? null)}; expected "adapter" and "lora", as llama.cpp's convert_lora_to_gguf.py writes)`, { file: name });
  }
  if (!(Number.isFinite(scale))) throw new EmberError('BAD_ARGUMENT', `${name}: the LoRA scale ${scale} is not a finite number`, { file: name });
  const alpha = metaNumber(f, 'adapter.lora.alpha', 0);
  if (!(Number.isFinite(alpha) && alpha >= 0)) throw bad(`adapter.lora.alpha is ${alpha}; expected a finite number, 0 or above`, { key: 'adapter.lora.alpha' });
  const pairs = new Map<string, LoraPair>();
  for (const [tensor, a] of f.tensors) {
    if (!tensor.endsWith('.lora_a')) {
      if (!tensor.endsWith('.lora_b')) throw bad(`tensor ${tensor} is neither a .lora_a nor a .lora_b`, { tensor });
      if (!f.tensors.has(tensor.replace(/\.lora_b$/, '.lora_a'))) throw bad(`tensor ${tensor} has no .lora_a`, { tensor });
      continue;
    }
    const base = tensor.slice(0, -'.lora_a'.length);
    const b = f.tensors.get(`${base}.lora_b`);
    if (!b) throw bad(`tensor ${tensor} has no .lora_b`, { tensor });
    // ggml order: a [in, rank], b [rank, out]; the embeddings' a [rank, vocab], b [rank, n_embd] (llama.cpp's lookup)
    const lookup = base === 'token_embd.weight';
    const [rank, rows, cols] = lookup ? [a.ne[0], a.ne[1], b.ne[1]] : [a.ne[1], b.ne[1], a.ne[0]];
    if (a.ne.length !== 2 || b.ne.length !== 2 || b.ne[0] !== rank || rank < 1) {
      const want = lookup ? '[r, vocab] and [r, n_embd]' : '[in, r] and [r, out]';
      throw bad(`tensors ${tensor} [${a.ne.join(', ')}] and ${base}.lora_b [${b.ne.join(', ')}] are not a rank-r pair (${want})`, { tensor });
    }
    if (/_exps\.weight$/.test(base)) throw new EmberError('UNSUPPORTED', `${name}: a LoRA on the experts' tensor ${base} is not supported`, { tensor: base });
    pairs.set(base, { a: tensorF32(a, await readTensorBytes(f, a)), b: tensorF32(b, await readTensorBytes(f, b)), rank, cols, rows, lookup });
  }
  if (pairs.size === 0) throw bad('holds no LoRA tensors');
  return { name, arch: metaString(f, 'general.architecture', ''), alpha, scale, pairs };
}

/** W += s B A in place (W rows x cols, row-major), s the adapter's scale times alpha / rank. */
function addDelta(w: Float32Array, p: LoraPair, s: number): void {
  const { a, b, rank, cols } = p;
  if (p.lookup) { // row t += s B A[t]
    for (let t = 0; t < p.rows; t++) {
      for (let e = 0; e < cols; e++) {
        let d = 0;
        for (let k = 0; k < rank; k++) d += a[t * rank + k] * b[e * rank + k];
        w[t * cols + e] += s * d;
      }
    }
    return;
  }
  for (let o = 0; o < p.rows; o++) {
    const row = o * cols;
    for (let k = 0; k < rank; k++) {
      const f = s * b[o * rank + k];
      if (f === 0) continue;
      const ak = k * cols;
      for (let i = 0; i < cols; i++) w[row + i] += f * a[ak + i];
    }
  }
}

/**
 * `base` with the adapters' pairs merged into the matrices they name (every named tensor must be a matrix of the model),
 * those read from `source` (the file itself where `base` is a cache of it).
 */
export function withLora(base: WeightSource, adapters: readonly LoraAdapter[], source: WeightSource = base): WeightSource {
  for (const ad of adapters) {
    for (const tensor of ad.pairs.keys()) {
      if (!base.has(tensor)) throw new EmberError('BAD_MODEL', `${ad.name}: tensor ${tensor} is not in ${base.name}`, { tensor });
    }
  }
  return {
    name: base.name,
    has: (t) => base.has(t),
    vector: (t, n, shape) => base.vector(t, n, shape),
    async matrix(tensor, rows, cols, quant, opts) {
      const mine = adapters.filter((ad) => ad.pairs.has(tensor));
      if (mine.length === 0) return base.matrix(tensor, rows, cols, quant, opts);
      const stored = await source.matrix(tensor, rows, cols, quant === 'auto' ? 'auto' : 'f32'); // (no gpuQuant: the values themselves)
      const w = dequantize(stored);
      for (const ad of mine) {
        const p = ad.pairs.get(tensor)!;
        if (p.rows !== rows || p.cols !== cols) {
          throw new EmberError('BAD_MODEL', `${ad.name}: the pair of ${tensor} is ${p.rows} x ${p.cols}, the model's ${rows} x ${cols}`, { tensor });
        }
        addDelta(w, p, ad.alpha > 0 ? (ad.scale * ad.alpha) / p.rank : ad.scale);
      }
      return quant === 'auto' ? storedAs(stored, w) : convertF32(w, rows, cols, quant, opts);
    },
  };
}

/** Merged values `w` stored as `was` was: f32 as f32, ggml blocks requantized where ggml's quantizers make them, else f16. */
function storedAs(was: WeightData, w: Float32Array): WeightData {
  const { rows, cols } = was;
  const ggml = was.format === 'q8' ? 'Q8_0' : was.format === 'q4' ? 'Q4_0' : was.format in GGUF_LAYOUTS ? GGUF_LAYOUTS[was.format as GgufFormat].ggml : null;
  if (ggml && REQUANTIZED.includes(ggml)) return ggmlWeightData(ggml, rows, cols, ggmlQuantize(ggml, w));
  return storeF32(w, rows, cols, was.format === 'f32' ? 'f32' : 'f16');
}

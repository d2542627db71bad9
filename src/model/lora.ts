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
import { convertF32, ggmlWeightData, storeF32, tensorF32, type MatrixOptions, type WeightSource } from './weight_source.ts';
import type { ModelFolder } from '../hf/folder.ts';
import { readSafetensors, readTensorBytes as readSafeBytes, tensorToF32, type SafetensorsFile } from '../hf/safetensors.ts';

/**
 * One base tensor's low-rank pair, f32: for a matrix, A (rank x cols) and B (rows x rank); for the embeddings
 * (`lookup`: token_embd, whose rows llama.cpp looks up in A too), A (rows x rank) and B (cols x rank), row t's delta
 * B A[t].
 */
interface LoraPair {
  a: Float32Array; b: Float32Array; rank: number; cols: number; rows: number; lookup: boolean;
  /** Where its rows start in the base tensor when it is a part of a fused one (a PEFT q_proj's in jina-embeddings-v3's Wqkv); else the whole. */
  part?: number;
  /** A PEFT adapter's own copy of the base weight (save_embedding_layers: `<module>.base_layer.weight`), merged into in its place. */
  base?: Float32Array;
}

export interface LoraAdapter {
  readonly name: string;
  /** general.architecture: llama.cpp's name of the base model's architecture. */
  readonly arch: string;
  readonly alpha: number;
  readonly scale: number;
  /** By base tensor name (token_embd.weight, blk.N.attn_q.weight, ...); several for the parts of a fused tensor. */
  readonly pairs: ReadonlyMap<string, readonly LoraPair[]>;
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
  const pairs = new Map<string, LoraPair[]>();
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
    pairs.set(base, [{ a: tensorF32(a, await readTensorBytes(f, a)), b: tensorF32(b, await readTensorBytes(f, b)), rank, cols, rows, lookup }]);
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
  // Four of A's rows a pass over W's row (2.4x the speed of one: W's row read and written a quarter as often)
  for (let o = 0; o < p.rows; o++) {
    const row = o * cols, bo = o * rank;
    let k = 0;
    for (; k + 4 <= rank; k += 4) {
      const f0 = s * b[bo + k], f1 = s * b[bo + k + 1], f2 = s * b[bo + k + 2], f3 = s * b[bo + k + 3];
      const a0 = k * cols, a1 = a0 + cols, a2 = a1 + cols, a3 = a2 + cols;
      for (let i = 0; i < cols; i++) w[row + i] += f0 * a[a0 + i] + f1 * a[a1 + i] + f2 * a[a2 + i] + f3 * a[a3 + i];
    }
    for (; k < rank; k++) {
      const f = s * b[bo + k], ak = k * cols;
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
      // (a bias or a norm is read as a vector: a pair for it would be left unapplied, so it is refused)
      if (/(\.bias|norm\.weight|norm_\d+\.weight)$/.test(tensor)) throw new EmberError('UNSUPPORTED', `${ad.name}: a LoRA pair for ${tensor} (a bias or a norm) is not supported`, { tensor });
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
      const own = mine.flatMap((ad) => ad.pairs.get(tensor)!).map((p) => p.base).find((b) => b !== undefined);
      const w = own && own.length === rows * cols ? Float32Array.from(own) : dequantize(stored);
      for (const ad of mine) {
        for (const p of ad.pairs.get(tensor)!) {
          const from = p.part ?? 0;
          if (p.cols !== cols || (p.part === undefined ? p.rows !== rows : from + p.rows > rows)) {
            const at = p.part === undefined ? '' : ` at row ${from}`;
            throw new EmberError('BAD_MODEL', `${ad.name}: the pair of ${tensor}${at} is ${p.rows} x ${p.cols}, the model's ${rows} x ${cols}`, { tensor });
          }
          addDelta(w.subarray(from * cols), p, ad.alpha > 0 ? (ad.scale * ad.alpha) / p.rank : ad.scale);
        }
      }
      return quant === 'auto' ? storedAs(stored, w, opts) : convertF32(w, rows, cols, quant, opts);
    },
  };
}

/**
 * Merged values `w` stored as `was` was: f32 as f32, ggml blocks requantized where ggml's quantizers make them (by the
 * model builder's, on its GPU where it has them: `opts.ggmlQuantize`; the same bytes), else f16.
 */
async function storedAs(was: WeightData, w: Float32Array, opts?: MatrixOptions): Promise<WeightData> {
  const { rows, cols } = was;
  const ggml = was.format === 'q8' ? 'Q8_0' : was.format === 'q4' ? 'Q4_0' : was.format in GGUF_LAYOUTS ? GGUF_LAYOUTS[was.format as GgufFormat].ggml : null;
  if (ggml && REQUANTIZED.includes(ggml)) return ggmlWeightData(ggml, rows, cols, opts?.ggmlQuantize ? await opts.ggmlQuantize(ggml, w) : ggmlQuantize(ggml, w));
  return storeF32(w, rows, cols, was.format === 'f32' ? 'f32' : 'f16');
}

/**
 * Where a PEFT module's pair goes: the model's tensor (GGUF name) and the row its part starts at (a module the checkpoint
 * keeps fused: jina-embeddings-v3's q_proj in mixer.Wqkv), or null for a module the model has not.
 */
export type PeftTarget = (module: string) => { tensor: string; part?: number } | null;

/** PEFT's LoRA options emberlm merges (adapter_config.json); the others' values are refused by name when set. */
const PEFT_PLAIN: ReadonlyArray<readonly [string, (v: unknown) => boolean, string]> = [
  ['fan_in_fan_out', (v) => v === false || v == null, 'false (GPT-2 Conv1D layers)'],
  ['use_dora', (v) => v === false || v == null, 'false (DoRA)'],
  ['bias', (v) => v === 'none' || v == null, '"none"'],
  ['lora_bias', (v) => v === false || v == null, 'false'],
  ['modules_to_save', (v) => v == null || (Array.isArray(v) && v.length === 0), 'none (whole modules saved beside the adapter)'],
  ['layer_replication', (v) => v == null, 'none'],
  ['rank_pattern', (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0), '{} (one r for every module)'],
  ['alpha_pattern', (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0), '{} (one lora_alpha for every module)'],
];

/**
 * A PEFT LoRA folder (adapter_config.json, adapter_model.safetensors: `base_model.model.<module>.lora_A.weight` r x in
 * and `.lora_B.weight` out x r; an embedding's `lora_embedding_A` r x vocab and `lora_embedding_B` dim x r) for a
 * model whose HF tensor names `gguf` maps to emberlm's. Scaling lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora.
 */
export async function readPeftAdapter(folder: ModelFolder, target: PeftTarget, scale: number): Promise<LoraAdapter> {
  const name = folder.label('adapter_config.json');
  const cfg = await folder.json('adapter_config.json', true) as Record<string, unknown>;
  const bad = (msg: string, details: Record<string, unknown> = {}) => new EmberError('BAD_MODEL', `${name}: ${msg}`, { file: name, ...details });
  if (cfg.peft_type !== 'LORA') throw new EmberError('UNSUPPORTED', `${name}: peft_type ${JSON.stringify(cfg.peft_type ?? null)} is not supported (LORA)`, { file: name, field: 'peft_type' });
  for (const [field, ok, want] of PEFT_PLAIN) {
    if (!ok(cfg[field])) throw new EmberError('UNSUPPORTED', `${name}: ${field} ${JSON.stringify(cfg[field])} is not supported (emberlm merges LoRA with ${want})`, { file: name, field });
  }
  const r = cfg.r, alpha = cfg.lora_alpha ?? 8;
  if (!(typeof r === 'number' && Number.isInteger(r) && r > 0)) throw bad(`field r is ${JSON.stringify(r)}; expected a positive integer`, { field: 'r' });
  if (!(typeof alpha === 'number' && Number.isFinite(alpha))) throw bad(`field lora_alpha is ${JSON.stringify(alpha)}; expected a number`, { field: 'lora_alpha' });
  if (!Number.isFinite(scale)) throw new EmberError('BAD_ARGUMENT', `${name}: the LoRA scale ${scale} is not a finite number`, { file: name });
  const src = await folder.source('adapter_model.safetensors');
  try {
    return await peftPairs(name, await readSafetensors(src), target, scale, cfg.use_rslora === true ? alpha * Math.sqrt(r) : alpha, folder.label(''));
  } finally {
    await src.close?.();
  }
}

/** The pairs of a PEFT adapter's safetensors, as readPeftAdapter's adapter (alpha' folds rsLoRA's sqrt(r) in). */
async function peftPairs(name: string, st: SafetensorsFile, target: PeftTarget, scale: number, alpha: number, label: string): Promise<LoraAdapter> {
  const bad = (msg: string, details: Record<string, unknown> = {}) => new EmberError('BAD_MODEL', `${name}: ${msg}`, { file: name, ...details });
  const f32 = async (t: string) => tensorToF32(st.tensors.get(t)!, await readSafeBytes(st.tensors.get(t)!));
  const pairs = new Map<string, LoraPair[]>();
  for (const [t, info] of st.tensors) {
    const m = /^base_model\.model\.(.+)\.(lora_A|lora_embedding_A)(?:\.default)?(?:\.weight)?$/.exec(t);
    if (!m) {
      if (!/\.(lora_B|lora_embedding_B|base_layer)(\.default)?(\.weight)?$/.test(t)) throw bad(`tensor ${t} is not a LoRA pair's (lora_A, lora_B)`, { tensor: t });
      continue;
    }
    const module = m[1], embedding = m[2] === 'lora_embedding_A';
    const to = target(module);
    if (!to) throw bad(`tensor ${t}: the model has no ${module}.weight`, { tensor: t });
    const bName = t.replace(embedding ? 'lora_embedding_A' : 'lora_A', embedding ? 'lora_embedding_B' : 'lora_B');
    const b = st.tensors.get(bName);
    if (!b) throw bad(`tensor ${t} has no ${bName}`, { tensor: t });
    // A (r x in) and B (out x r); an embedding's A (r x vocab) and B (dim x r), its row t's delta B A[:, t]
    const [rank, inner] = info.shape, [outer] = b.shape;
    if (info.shape.length !== 2 || b.shape.length !== 2 || b.shape[1] !== rank) throw bad(`tensors ${t} [${info.shape.join(', ')}] and ${bName} [${b.shape.join(', ')}] are not a rank-r pair`, { tensor: t });
    const a = await f32(t);
    const own = st.tensors.get(`base_model.model.${module}.base_layer.weight`);
    const base = own ? await f32(own.name) : undefined;
    const pair = embedding
      ? { a: transpose(a, rank, inner), b: await f32(bName), rank, rows: inner, cols: outer, lookup: true, base }
      : { a, b: await f32(bName), rank, rows: outer, cols: inner, lookup: false, base, part: to.part };
    pairs.set(to.tensor, [...(pairs.get(to.tensor) ?? []), pair]);
  }
  if (pairs.size === 0) throw bad('adapter_model.safetensors holds no LoRA pairs');
  return { name: label, arch: '', alpha, scale, pairs };
}

/** An (rows x cols) row-major matrix transposed. */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = m[i * cols + j];
  return t;
}

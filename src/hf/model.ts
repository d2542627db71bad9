import { EmberError } from '../errors.ts';
import { ownBuffer } from '../util/own_bytes.ts';
import type { ScaleLayout, WeightData } from '../kernels/matmul.ts';
import type { ModelConfig } from '../model/config.ts';
import { checkQuantScheme, convertF32, convertFloats, type QuantScheme, type WeightSource } from '../model/weight_source.ts';
import { dequantizeFp8Blocks } from '../quant/fp8.ts';
import { bf16Packed } from '../gguf/convert.ts';
import { printableJson } from '../util/printable.ts';
import { tokenizerFromHF, type Tokenizer } from '../tokenizer/index.ts';
import { ENCODER_TYPES, configFromHF, type HFExtra, type HFModelType } from './config.ts';
import { sentenceModules, type SentenceModules } from './sentence.ts';
import { openFolder, type ModelFolder } from './folder.ts';
import { expectedTensors, expertTensorName, ggufTensorName, hfTensorName } from './names.ts';
import { checkDtype, DTYPE_BYTES, openShards, openSingle, readTensorBytes, tensorToF32, type SafeTensorInfo, type TensorSet } from './safetensors.ts';

/** GGUF's name of a mixture's stacked experts (blk.L.ffn_gate_exps.weight): its layer's prefix and which matrix. */
const STACKED_EXPERTS = /^(blk\.\d+\.)ffn_(gate|up|down)_exps\.weight$/;

/**
 * A native FP8 weight matrix as `matrix` returns it for quant 'auto' (and 'fp8-e4m3' / 'fp8-e5m2' on
 * a checkpoint of that format): the checkpoint's codes packed four per u32 and its block scales,
 * w[r][c] = fp8(code) * scales[floor(r/blockRows) * ceil(cols/blockCols) + floor(c/blockCols)], blocks
 * at the right and bottom edges partial. A `WeightData`; the upload replicates each block's scale per
 * row (`rowScales` in src/kernels/matmul.ts: +4 bytes per blockCols weights of a row).
 */
export type Fp8WeightData = WeightData & {
  format: 'fp8e4m3' | 'fp8e5m2';
  /** (rows, cols/4) u32: element 4i of a row in the low byte of word i. */
  data: Uint32Array;
  /** (ceil(rows/blockRows), ceil(cols/blockCols)) f32 */
  scales: Float32Array;
  scaleLayout: ScaleLayout;
};

/** A `WeightSource` over HF tensors, addressed by GGUF names. */
export type HFWeightSource = WeightSource;

export interface HFModel {
  readonly config: ModelConfig;
  readonly extra: HFExtra;
  readonly weights: HFWeightSource;
  /** Its isEndOfGeneration also stops at generation_config.json's eos_token_id(s). */
  readonly tokenizer: Tokenizer;
  /** eos ids from generation_config.json, else the tokenizer's eos. */
  readonly eosTokenIds: readonly number[];
  /** A sentence-transformers folder's modules after the transformer (modules.json), or null. */
  readonly sentence: SentenceModules | null;
  /** Closes the safetensors files (weights cannot be read after). */
  close(): Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Loads a Hugging Face model folder: config.json, model.safetensors (or model.safetensors.index.json
 * and its shards), tokenizer.json, and the optional tokenizer_config.json and generation_config.json.
 * Every tensor the forward pass reads is checked (present, shape, dtype, FP8 scales) before this
 * returns; tensor data is read only when `weights` is asked for it. `quant` is checked here and is
 * what the caller will pass to `weights.matrix`.
 */
export async function loadHFModel(base: string | URL | ModelFolder, quant: QuantScheme = 'auto'): Promise<HFModel> {
  checkQuantScheme(quant);
  const folder = typeof base === 'string' || base instanceof URL ? await openFolder(base) : base;
  const configJson = await requiredJson(folder, 'config.json');
  const path = typeof base === 'string' || base instanceof URL ? String(base) : folder.label('');
  const folderName = folder.name ?? (path.replace(/\/+$/, '').split('/').pop() || 'model');
  const { config: declared, extra } = configFromHF(configJson, folder.label('config.json'), folderName);

  const baseTokenizer = await folderTokenizer(folder);
  if (baseTokenizer.vocabSize > declared.vocab) {
    // fewer tokens than embedding rows is a padded embedding (Qwen); more cannot be run
    throw new EmberError('BAD_MODEL', `${folder.label('tokenizer.json')}: ${baseTokenizer.vocabSize} tokens, but config.json field vocab_size is ${declared.vocab}`, { file: folder.label('tokenizer.json'), field: 'vocab_size' });
  }
  const eosTokenIds = eosIds(await folder.json('generation_config.json'), folder.label('generation_config.json'), baseTokenizer);
  const tokenizer = withEos(baseTokenizer, eosTokenIds);

  const sentence = await sentenceModules(folder, declared.nEmbd);
  const { set, bare } = await openTensors(folder, extra.modelType);
  // A bare decoder has no LM head, whatever its config says (Qwen3-Embedding-8B's: untied): its embedding stands in, as
  // llama.cpp takes token_embd for a missing output; its generations mean nothing, its embeddings are what it is for.
  const headless = bare && !declared.tiedEmbeddings && !set.tensors.has('lm_head.weight');
  const config = Object.freeze({ ...declared, ...(headless ? { tiedEmbeddings: true } : {}), ...(sentence ? { pooling: sentence.pooling } : {}) });
  try {
    const weights = hfWeights(set, config, extra, folder.label(''));
    validate(set, weights.name, config, extra);
    return { config, extra, weights, tokenizer, eosTokenIds, sentence, close: set.close };
  } catch (e) {
    await set.close();
    throw e;
  }
}

/** The tokenizer of a model folder: tokenizer.json (required) and tokenizer_config.json (optional). */
async function folderTokenizer(folder: ModelFolder): Promise<Tokenizer> {
  // Some repos ship only SentencePiece's tokenizer.model (ERNIE 4.5, older Llama ports), which is not read here.
  const tokenizerJson = await requiredJson(folder, 'tokenizer.json', 'a folder with only a SentencePiece tokenizer.model needs one: save it with transformers (AutoTokenizer.from_pretrained(folder).save_pretrained(folder)), or load the model\'s GGUF, which carries its vocabulary');
  const tokenizerConfig = (await folder.json('tokenizer_config.json')) ?? {};
  const bad = (file: string) => new EmberError('BAD_MODEL', `${folder.label(file)}: expected a JSON object`, { file: folder.label(file) });
  if (!isObject(tokenizerJson)) throw bad('tokenizer.json');
  if (!isObject(tokenizerConfig)) throw bad('tokenizer_config.json');
  return typedTokenizer(tokenizerJson, tokenizerConfig, folder.label('tokenizer.json'));
}

/** Only the tokenizer of a Hugging Face model folder (no weights read): `emberlm tokenize`. */
export async function loadHFTokenizer(base: string | URL | ModelFolder): Promise<Tokenizer> {
  const folder = typeof base === 'string' || base instanceof URL ? await openFolder(base) : base;
  const tokenizer = await folderTokenizer(folder);
  return withEos(tokenizer, eosIds(await folder.json('generation_config.json'), folder.label('generation_config.json'), tokenizer));
}

/** tokenizerFromHF, with the library's own plain errors (a malformed tokenizer.json) made typed. */
function typedTokenizer(json: object, config: object, label: string): Tokenizer {
  try {
    return tokenizerFromHF(json, config);
  } catch (e) {
    if (e instanceof EmberError) throw new EmberError(e.code, `${label}: ${e.message.replace(/^\[[A-Z_]+\] /, '')}`, { ...e.details, file: label });
    throw new EmberError('BAD_MODEL', `${label}: the tokenizer library rejected it (${(e as Error).message})`, { file: label });
  }
}

/** `file`'s JSON, or BAD_FILE saying it is missing (and `how` to get one, where given). */
async function requiredJson(folder: ModelFolder, file: string, how?: string): Promise<unknown> {
  const v = await folder.json(file, true);
  if (v === undefined) throw new EmberError('BAD_FILE', `${folder.label(file)}: file is missing${how ? ` (${how})` : ''}`, { file: folder.label(file) });
  return v;
}

async function openTensors(folder: ModelFolder, modelType: HFModelType): Promise<{ set: TensorSet; bare: boolean }> {
  const set = await openFiles(folder);
  const prefix = ENCODER_TYPES[modelType];
  if (modelType === 't5') return { set: renamed(withoutPrefix(set, prefix!), (n) => n.replace('DenseReluDense.wi_1.', 'DenseReluDense.wi.')), bare: false };
  if (modelType === 'new' || modelType === 'gte') return { set: withHalves(withoutPrefix(set, prefix!), /^(.+\.mlp\.)up_gate_proj\.weight$/, ['up_proj.weight', 'gate_proj.weight']), bare: false };
  // (openai-community/gpt2 saves GPT2Model's names, wte.weight, h.N...; distilgpt2 GPT2LMHeadModel's, transformer.wte.weight)
  if (modelType === 'gpt2' && set.tensors.has('wte.weight')) return { set: renamed(set, (n) => (n === 'lm_head.weight' ? n : `transformer.${n}`)), bare: false };
  return prefix ? { set: withoutPrefix(set, prefix), bare: false } : underModel(set);
}

/** The set with each tensor under `rename(name)` (a prefix taken off or put on; T5 v1.1's up projection, wi_1, looked up as v1.0's wi). */
function renamed(set: TensorSet, rename: (name: string) => string): TensorSet {
  return { tensors: new Map([...set.tensors].map(([n, t]) => [rename(n), t] as const)), close: () => set.close() };
}

/**
 * The set with each tensor that `fused` matches also read as its two halves of rows (a contiguous byte range each), named
 * by the match's first group and `halves` (GTE's up_gate_proj: up's rows, then the gate's). An odd row count leaves the
 * second half a row longer, for the shape check to name.
 */
function withHalves(set: TensorSet, fused: RegExp, halves: readonly [string, string]): TensorSet {
  const tensors = new Map(set.tensors);
  for (const [name, t] of set.tensors) {
    const m = fused.exec(name);
    if (!m || t.shape.length !== 2) continue;
    const rowBytes = t.byteLength / t.shape[0], first = Math.floor(t.shape[0] / 2);
    const part = (rows: number, skip: number, which: string): SafeTensorInfo => ({ ...t, name: `${name} (its ${which} half)`, shape: [rows, t.shape[1]], offset: t.offset + skip * rowBytes, byteLength: rows * rowBytes });
    tensors.set(m[1] + halves[0], part(first, 0, 'first'));
    tensors.set(m[1] + halves[1], part(t.shape[0] - first, first, 'second'));
  }
  return { tensors, close: () => set.close() };
}

/** A BertFor* checkpoint keeps the encoder under `bert.` (RoBERTa's `roberta.`, ModernBERT's `model.`; its head's tensors beside it, `classifier.*`): looked up as BertModel's. */
function withoutPrefix(set: TensorSet, prefix: string): TensorSet {
  if (![...set.tensors.keys()].some((n) => n.startsWith(prefix))) return set;
  return renamed(set, (n) => (n.startsWith(prefix) ? n.slice(prefix.length) : n));
}

/**
 * A checkpoint saved from the bare decoder (Qwen3-Embedding's: embed_tokens.weight, layers.N..., norm.weight) names its
 * tensors as the full model's do under `model.`: they are looked up by those names.
 */
function underModel(set: TensorSet): { set: TensorSet; bare: boolean } {
  if (!set.tensors.has('embed_tokens.weight') || [...set.tensors.keys()].some((n) => n.startsWith('model.'))) return { set, bare: false };
  return { set: renamed(set, (n) => (n === 'lm_head.weight' ? n : `model.${n}`)), bare: true };
}

async function openFiles(folder: ModelFolder): Promise<TensorSet> {
  const indexName = 'model.safetensors.index.json';
  const index = await folder.json(indexName);
  if (index !== undefined) return openShards(index, folder.label(indexName), (f) => folder.source(f));
  let src;
  try {
    src = await folder.source('model.safetensors');
  } catch (e) {
    const why = e instanceof EmberError ? e.message.replace(/^\[[A-Z_]+\] /, '') : String(e);
    throw new EmberError('BAD_FILE', `${folder.label('model.safetensors')}: cannot open, and there is no ${indexName} either (${why})`, { file: folder.label('model.safetensors') });
  }
  return openSingle(src);
}

function eosIds(gen: unknown, label: string, tok: Tokenizer): number[] {
  const v = isObject(gen) ? gen.eos_token_id : undefined;
  const ids = v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
  if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize)) {
    throw new EmberError('BAD_MODEL', `${label}: field eos_token_id is ${printableJson(v)}; expected token ids below ${tok.vocabSize}`, { file: label, field: 'eos_token_id' });
  }
  if (ids.length === 0 && tok.eosId !== null) ids.push(tok.eosId);
  return ids as number[];
}

/** The tokenizer, with generation_config's eos ids also ending a generation. */
function withEos(tok: Tokenizer, eos: readonly number[]): Tokenizer {
  const extra = new Set(eos);
  return {
    vocabSize: tok.vocabSize,
    bosId: tok.bosId,
    eosId: tok.eosId ?? eos[0] ?? null,
    addBos: tok.addBos,
    endIds: tok.endIds,
    pairWrap: tok.pairWrap,
    addSpacePrefix: tok.addSpacePrefix,
    encode: (text, opts) => tok.encode(text, opts),
    tokenBytes: (id) => tok.tokenBytes(id),
    decode: (ids, opts) => tok.decode(ids, opts),
    isEndOfGeneration: (id) => extra.has(id) || tok.isEndOfGeneration(id),
  };
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
/**
 * Shapes that lay the same values out alike: equal once their dimensions of 1 are dropped (LFM2's conv kernels: [D, 1,
 * taps]), or a file's vector where as many values are read in rows (a grouped norm's weight: GGUF's [groups, width]).
 */
const sameLayout = (file: readonly number[], want: readonly number[]) => {
  const [f, w] = [file.filter((d) => d !== 1), want.filter((d) => d !== 1)];
  return sameShape(f, w) || (f.length === 1 && f[0] === w.reduce((n, d) => n * d, 1));
};
const isFp8 = (t: SafeTensorInfo) => t.dtype === 'F8_E4M3' || t.dtype === 'F8_E5M2';
const scaleName = (hfName: string) => hfName.replace(/\.weight$/, '.weight_scale_inv');

/** Looks tensors up by GGUF name and checks them; shared by the load-time validation and the reads. */
function checker(set: TensorSet, c: ModelConfig, extra: HFExtra, name: string) {
  const [blockRows, blockCols] = extra.fp8BlockSize ?? [128, 128];

  /** The HF tensor behind a GGUF name, checked against `shape` (HF order: [rows, cols] or [n]) and dtype. */
  const tensor = (gguf: string, shape: readonly number[]): SafeTensorInfo => {
    const hf = hfTensorName(gguf, extra.modelType);
    const t = hf === null || (gguf === 'output.weight' && c.tiedEmbeddings) ? undefined : set.tensors.get(hf);
    if (!t) {
      const why = c.tiedEmbeddings && gguf === 'output.weight' ? ' (the model ties its embeddings)' : '';
      throw new EmberError('BAD_MODEL', `${name}: tensor ${hf ?? gguf} (${gguf}) is missing${why}`, { tensor: hf ?? gguf });
    }
    if (!sameLayout(t.shape, shape)) {
      throw new EmberError('BAD_MODEL', `${t.source.name}: tensor ${t.name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { file: t.source.name, tensor: t.name });
    }
    checkDtype(t);
    if (isFp8(t) && shape.length !== 2) {
      throw new EmberError('UNSUPPORTED', `${t.source.name}: tensor ${t.name} is a vector stored as ${t.dtype}; emberlm reads vectors from F32, F16 or BF16`, { file: t.source.name, tensor: t.name });
    }
    return t;
  };

  /** The block scales of an FP8 matrix (`weight_scale_inv`), checked against its shape. */
  const scalesOf = (t: SafeTensorInfo, rows: number, cols: number): SafeTensorInfo => {
    const sName = scaleName(t.name);
    const s = set.tensors.get(sName);
    if (!s) {
      throw new EmberError('BAD_MODEL', `${t.source.name}: tensor ${t.name} is ${t.dtype} but its block scales ${sName} are missing`, { file: t.source.name, tensor: sName });
    }
    const want = [Math.ceil(rows / blockRows), Math.ceil(cols / blockCols)];
    if (!sameShape(s.shape, want)) {
      throw new EmberError('BAD_MODEL', `${s.source.name}: tensor ${sName} has shape [${s.shape.join(', ')}], expected [${want.join(', ')}] (${blockRows}x${blockCols} blocks of a ${rows}x${cols} weight)`, { file: s.source.name, tensor: sName });
    }
    checkDtype(s);
    if (isFp8(s)) throw new EmberError('UNSUPPORTED', `${s.source.name}: tensor ${sName} has dtype ${s.dtype}; scales must be F32, F16 or BF16`, { file: s.source.name, tensor: sName });
    return s;
  };

  return { tensor, scalesOf, blockRows, blockCols };
}

function hfWeights(set: TensorSet, c: ModelConfig, extra: HFExtra, name: string): HFWeightSource {
  const { tensor, scalesOf, blockRows, blockCols } = checker(set, c, extra, name);
  // Gemma and Qwen3.5 store RMSNorm weights as w and apply (1 + w) (computed in f32); folded in here, once, as
  // llama.cpp's converter does, so the forward pass runs one RMSNorm for every family. (Qwen3.5's gated norm, ssm_norm,
  // multiplies by its weight as it is.)
  const normPlusOne = ['gemma2', 'gemma3_text', 'qwen3_5', 'qwen3_5_text'].includes(extra.modelType);
  const neoxQkv = extra.modelType === 'gpt_neox' ? (gguf: string) => gguf.endsWith('.attn_qkv.weight') || gguf.endsWith('.attn_qkv.bias') : () => false;
  // GPT-2's Conv1D weights are stored [in, out]: read transposed into the kernels' [out, in] rows
  const conv1d = extra.modelType === 'gpt2' ? (gguf: string) => /\.(attn_qkv|attn_output|ffn_up|ffn_down)\.weight$/.test(gguf) : () => false;
  const one = async (gguf: string, rows: number, cols: number) => {
    if (conv1d(gguf)) {
      const t = tensor(gguf, [cols, rows]);
      if (isFp8(t)) throw new EmberError('UNSUPPORTED', `${t.source.name}: tensor ${t.name} is a Conv1D weight stored as ${t.dtype}; emberlm reads GPT-2's from F32, F16 or BF16`, { tensor: t.name });
      return { t: { ...t, shape: [rows, cols] }, bytes: transposed(await readTensorBytes(t), cols, rows, DTYPE_BYTES[t.dtype]) };
    }
    const t = tensor(gguf, [rows, cols]);
    const bytes = await readTensorBytes(t);
    return { t, bytes: neoxQkv(gguf) ? qkvByPart(bytes, c.nHead) : bytes };
  };
  // Granite's experts: down as the 3-D tensor it is; gate and up each expert's first or second half of input_linear's rows.
  const graniteExperts = async (gguf: string, rows: number, cols: number) => {
    const [, b, which] = STACKED_EXPERTS.exec(gguf)!;
    const n = c.moe!.experts, per = rows / n;
    const t = which === 'down' ? tensor(gguf, [n, per, cols]) : tensor(`${b}ffn_gate_up_exps.weight`, [n, 2 * per, cols]);
    if (isFp8(t)) throw new EmberError('UNSUPPORTED', `${t.source.name}: tensor ${t.name} is ${t.dtype}; emberlm reads a mixture's experts from F32, F16 or BF16`, { tensor: t.name });
    const all = await readTensorBytes(t);
    if (which === 'down') return { t: { ...t, shape: [rows, cols] }, bytes: all };
    const expert = per * cols * DTYPE_BYTES[t.dtype]; // one expert's gate (or up) rows
    const bytes = new Uint8Array(n * expert);
    for (let e = 0; e < n; e++) bytes.set(all.subarray((2 * e + (which === 'up' ? 1 : 0)) * expert, (2 * e + (which === 'up' ? 2 : 1)) * expert), e * expert);
    return { t: { ...t, name: gguf, shape: [rows, cols], byteLength: bytes.length }, bytes };
  };
  // A mixture's experts, one tensor each, read as one matrix of them stacked (GGUF's ffn_*_exps): alike dtypes, no FP8.
  const stackedExperts = async (gguf: string, rows: number, cols: number) => {
    if (extra.modelType === 'granitemoe' || extra.modelType === 'granitemoehybrid') return graniteExperts(gguf, rows, cols);
    const n = c.moe?.experts ?? 0;
    if (!(n > 0 && rows % n === 0)) throw new EmberError('BAD_MODEL', `${name}: ${gguf} read as ${rows} rows of ${n} experts`, { tensor: gguf });
    const parts = await Promise.all(Array.from({ length: n }, (_, e) => one(expertTensorName(gguf, e), rows / n, cols)));
    const first = parts[0].t;
    const odd = parts.find((p) => p.t.dtype !== first.dtype || isFp8(p.t));
    if (odd) {
      throw new EmberError('UNSUPPORTED', `${odd.t.source.name}: tensor ${odd.t.name} is ${odd.t.dtype} beside ${first.name}'s ${first.dtype}; emberlm stacks experts of one dtype, F32, F16 or BF16`, { tensor: odd.t.name });
    }
    const bytes = new Uint8Array(parts.reduce((sum, p) => sum + p.bytes.length, 0));
    parts.reduce((at, p) => (bytes.set(p.bytes, at), at + p.bytes.length), 0);
    return { t: { ...first, name: gguf, shape: [rows, cols], byteLength: bytes.length }, bytes };
  };
  return {
    name,
    has: (gguf) => {
      const hf = hfTensorName(gguf, extra.modelType);
      return hf !== null && set.tensors.has(hf) && !(gguf === 'output.weight' && c.tiedEmbeddings);
    },
    async vector(gguf, n, shape = [n]) {
      const t = tensor(gguf, shape);
      const bytes = await readTensorBytes(t);
      const v = tensorToF32(t, neoxQkv(gguf) ? qkvByPart(bytes, c.nHead) : bytes);
      if (normPlusOne && gguf.endsWith('norm.weight') && !gguf.endsWith('ssm_norm.weight')) for (let i = 0; i < v.length; i++) v[i] = 1 + v[i];
      if (/\.ssm_a$/.test(gguf)) for (let i = 0; i < v.length; i++) v[i] = -Math.exp(v[i]); // A = -exp(A_log)
      return v;
    },
    async matrix(gguf, rows, cols, quant, opts) {
      // HF linear weights are [out, in]: already the kernels' row layout; a mixture's experts stacked along rows
      const { t, bytes } = STACKED_EXPERTS.test(gguf) ? await stackedExperts(gguf, rows, cols) : await one(gguf, rows, cols);
      const converted = await convertFloats(t.dtype, gguf, bytes, rows, cols, quant, opts);
      if (converted) return converted;
      if (isFp8(t)) {
        const s = scalesOf(t, rows, cols);
        const scales = tensorToF32(s, await readTensorBytes(s));
        const format = t.dtype === 'F8_E4M3' ? 'e4m3' : 'e5m2';
        // Kept as FP8 (not widened, not quantized twice) for 'auto' and the scheme of its own format,
        // when rows of codes fill whole u32 words and a scale never changes inside 16 codes (the
        // kernels' vec4); otherwise widened like any conversion.
        if ((quant === 'auto' || quant === `fp8-${format}`) && cols % 4 === 0 && (blockCols % 16 === 0 || blockCols >= cols)) {
          const data = new Uint32Array(ownBuffer(bytes));
          const w: Fp8WeightData = { format: `fp8${format}`, rows, cols, data, scales, scaleLayout: { blockRows, blockCols } };
          return w;
        }
        return convertF32(dequantizeFp8Blocks(bytes, scales, rows, cols, blockRows, blockCols, format), rows, cols, quant, opts);
      }
      if (t.dtype === 'F16' && (quant === 'auto' || quant === 'f16') && cols % 2 === 0) {
        return { format: 'f16', rows, cols, data: new Uint32Array(ownBuffer(bytes)) }; // bit for bit
      }
      if (t.dtype === 'BF16' && quant === 'auto' && cols % 2 === 0) {
        return { format: 'bf16', rows, cols, data: bf16Packed({ name: gguf, ne: [cols, rows], type: 'BF16' }, bytes) }; // bit for bit
      }
      return convertF32(tensorToF32(t, bytes), rows, cols, quant, opts); // F32, BF16 of odd rows, or a conversion
    },
  };
}

/** A row-major (rows, cols) matrix of `size`-byte values (2 or 4) as (cols, rows). */
function transposed(bytes: Uint8Array, rows: number, cols: number, size: number): Uint8Array {
  const View = size === 4 ? Uint32Array : Uint16Array;
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice(); // (a view needs its offset aligned)
  const from = new View(aligned.buffer as ArrayBuffer, aligned.byteOffset, rows * cols), to = new View(rows * cols);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) to[k * rows + r] = from[r * cols + k];
  return new Uint8Array(to.buffer);
}

/**
 * GPT-NeoX's query_key_value rows (or bias values) run head by head, each head's q, k and v rows in turn: reordered into
 * all q rows, then k, then v, as the forward pass reads q|k|v (and llama.cpp's converter writes attn_qkv).
 */
function qkvByPart(bytes: Uint8Array, heads: number): Uint8Array {
  const run = bytes.length / (3 * heads); // one head's q (or k, or v) rows
  const out = new Uint8Array(bytes.length);
  for (let h = 0; h < heads; h++) {
    for (let part = 0; part < 3; part++) out.set(bytes.subarray((3 * h + part) * run, (3 * h + part + 1) * run), (part * heads + h) * run);
  }
  return out;
}

/** Checks every tensor the forward pass will read, so a bad checkpoint fails at load, not mid-upload. */
function validate(set: TensorSet, name: string, c: ModelConfig, extra: HFExtra): void {
  const { tensor, scalesOf } = checker(set, c, extra, name);
  for (const e of expectedTensors(c, extra)) {
    const t = tensor(e.name, e.shape);
    if (isFp8(t)) scalesOf(t, e.shape[0], e.shape[1]);
  }
  // jina-bert-v2's remote code has variants of its layers (the -de, -es and -code models' q/k norms, a second norm):
  // a layer's tensor emberlm would not read is refused rather than left out
  const unread = extra.modelType === 'jina_bert' && [...set.tensors.keys()].find((n) => n.startsWith('encoder.layer.') && ggufTensorName(n, extra.modelType) === null);
  if (unread) throw new EmberError('UNSUPPORTED', `${name}: tensor ${unread} is not supported (emberlm runs jina-bert-v2's layers without q/k norms or other additions)`, { tensor: unread });
}

/**
 * The fuzz corpus (valid files) and the case generator: case `i` of seed `s` is always the same
 * mutation of the same base file. GGUF: stories260K (F32 and Q8_0, from ../shared/models) and a
 * generated model carrying the metadata a real one may have (general.alignment, linear RoPE scaling, a
 * rope_freqs tensor), and test/fixtures/qwen3_5's, qwen3_moe's, lfm2_moe's and granite4h-moe's llama.cpp conversions
 * (a Gated DeltaNet model, mixtures of experts: softmax and sigmoid routers, a shared expert), and test/fixtures/nomic_bert's
 * and jina_bert's GGUFs, phi2's and gpt_neox's llama.cpp conversions. Hugging Face: test/fixtures/qwen3_embedding (Qwen3-Embedding's layout), embeddinggemma, bert, modernbert,
 * modernbert_reranker, mpnet and t5_relu (a relative position bias), xlm_roberta_spm (a precompiled charsmap), gte and
 * gte_reranker (GTE's halves of up_gate_proj), deberta_reranker (DeBERTa's disentangled attention), electra_reranker, jina_v3, phi2, gpt_neox, and random folders from models/generate_hf.ts (a single safetensors file; two shards and an index).
 * LoRA: test/fixtures/lora's adapters, changed, loaded with stories260K.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { meta, writeGGUF } from '../src/gguf/writer.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { randomModelFile } from '../models/generate.ts';
import { randomHFModel } from '../models/generate_hf.ts';
import { ggufFields, type Field } from './gguf_fields.ts';
import { embeddingFolder, embeddingGemmaFolder, hfOracleFolder } from '../test/helpers/models.ts';
import { int, jsonText, mutateBytes, mutateGGUFField, mutateJson, pick, type Rng } from './mutate.ts';

export type CaseKind = 'gguf-bytes' | 'gguf-field' | 'safetensors' | 'config.json' | 'tokenizer.json' | 'tokenizer_config.json' | 'lora';
export const CASE_KINDS: readonly CaseKind[] = ['gguf-bytes', 'gguf-field', 'safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'lora'];

/** A file of an HF folder: its bytes, a directory in its place, or absent. */
export type FolderEntry = Uint8Array | 'directory' | 'missing';

export interface FuzzCase {
  readonly index: number;
  readonly kind: CaseKind;
  readonly base: string;
  readonly what: string;
  readonly gguf?: Uint8Array;
  readonly folder?: ReadonlyMap<string, FolderEntry>;
  /** A LoRA adapter (GGUF) the model loads with: `lora` cases, stories260K with a mutated test/fixtures/lora adapter. */
  readonly lora?: Uint8Array;
}

interface GGUFBase { readonly name: string; readonly bytes: Uint8Array; readonly fields: readonly Field[]; readonly headerEnd: number }
interface HFBase { readonly name: string; readonly files: ReadonlyMap<string, Uint8Array> }

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SHARED = process.env.EMBERLM_MODELS ?? resolve(REPO, '../shared/models');

function ggufBase(name: string, bytes: Uint8Array): GGUFBase {
  const { fields, headerEnd } = ggufFields(bytes);
  return { name, bytes, fields, headerEnd };
}

/** A generated llama with the optional keys and tensors real files carry, so that they get mutated too. */
function generatedWithExtras(): Uint8Array {
  const f = randomModelFile({ nEmbd: 64, nLayer: 1, nFf: 96, vocab: 300, seed: 3 });
  return writeGGUF({
    ...f,
    alignment: 64,
    metadata: [...f.metadata, ['llama.rope.scaling.type', meta.str('linear')], ['llama.rope.scaling.factor', meta.f32(2)]],
    tensors: [...f.tensors, { name: 'rope_freqs.weight', ne: [8], type: 'F32', data: new Float32Array(8).fill(1) }],
  });
}

export interface Corpus {
  readonly gguf: readonly GGUFBase[];
  readonly hf: readonly HFBase[];
  /** LoRA adapters for stories260K (the first of `gguf`). */
  readonly lora: readonly GGUFBase[];
}

export function loadCorpus(): Corpus {
  const shared = (rel: string) => {
    const p = resolve(SHARED, rel);
    try {
      return new Uint8Array(readFileSync(p));
    } catch (e) {
      throw new Error(`fuzz corpus file ${p} is missing (../shared/models or $EMBERLM_MODELS): ${(e as Error).message}`);
    }
  };
  const hf = (name: string, m: ReturnType<typeof randomHFModel>): HFBase => ({ name, files: m.files });
  return {
    gguf: [
      ggufBase('stories260K.gguf', shared('stories260K/stories260K.gguf')),
      ggufBase('stories260K-Q8_0.gguf', shared('stories260K-derived/stories260K-Q8_0.gguf')),
      ggufBase('generated-extras.gguf', generatedWithExtras()),
      // Qwen3.5 as llama.cpp converts it: its ssm.* keys size the Gated DeltaNet's state, ring and kernels
      ggufBase('qwen3_5.llama-cpp.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/qwen3_5/qwen3_5.llama-cpp.gguf')))),
      // Qwen3-MoE as llama.cpp converts it: its expert_* keys size the router, the stacked experts and the slots
      ggufBase('qwen3_moe.llama-cpp.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/qwen3_moe/qwen3_moe.llama-cpp.gguf')))),
      // LFM2-MoE (a sigmoid router, its exp_probs_b, dense layers first) and Granite 4.0-H-Tiny's family (the shared
      // expert's ffn_*_shexp and width beside Mamba-2 layers)
      ggufBase('lfm2_moe.llama-cpp.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/lfm2_moe/lfm2_moe.llama-cpp.gguf')))),
      ggufBase('granite4h-moe.llama-cpp.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/granite4h-moe/granite4h-moe.llama-cpp.gguf')))),
      // nomic-bert (nomic-embed-text): BERT's post-norm layers with RoPE, token types, SwiGLU, no projection biases
      ggufBase('nomic-bert-tiny.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/nomic_bert/nomic-bert-tiny.gguf')))),
      // jina-bert-v2 (jina-embeddings-v2): ALiBi (its max bias key sizes the slopes), one gate|up matrix of 2F rows
      ggufBase('jina-bert-v2-tiny.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/jina_bert/jina-bert-v2-tiny.gguf')))),
      // Phi-2 and GPT-NeoX as llama.cpp converts them: LayerNorms with biases, biases on every projection (Phi's LM head
      // too), the FFN beside attention (use_parallel_residual), partial rotary (rope.dimension_count)
      ggufBase('phi2.llama-cpp.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/phi2/phi2.llama-cpp.gguf')))),
      ggufBase('gpt_neox.llama-cpp.gguf', new Uint8Array(readFileSync(resolve(REPO, 'test/fixtures/gpt_neox/gpt_neox.llama-cpp.gguf')))),
    ],
    lora: ['wide', 'keys'].map((a) => ggufBase(`stories260K-lora-${a}.gguf`, new Uint8Array(readFileSync(resolve(REPO, `test/fixtures/lora/stories260K-lora-${a}.gguf`))))),
    hf: [
      hf('hf-llama-f32', randomHFModel({ modelType: 'llama', nLayer: 1, seed: 7 })),
      hf('hf-qwen2-bf16-sharded', randomHFModel({ modelType: 'qwen2', dtype: 'BF16', sharded: true, nLayer: 1, seed: 8 })),
      // Qwen3-Embedding's layout: the bare decoder's tensor names, a post-processor appending an end token
      { name: 'qwen3_embedding', files: folderFiles(embeddingFolder(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      // EmbeddingGemma's: bidirectional attention, sentence-transformers modules in subfolders (pooling, Dense layers, prompts)
      { name: 'embeddinggemma', files: folderFiles(embeddingGemmaFolder(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'config_sentence_transformers.json', '1_Pooling/config.json', '2_Dense/config.json', '2_Dense/model.safetensors', '3_Dense/config.json', '3_Dense/model.safetensors']) },
      // BERT's (all-MiniLM's): learned positions, post-norm LayerNorms, biases everywhere, a WordPiece tokenizer
      { name: 'bert', files: folderFiles(resolve(REPO, 'test/fixtures/bert'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) },
      // ModernBERT's: pre-norm LayerNorms without biases, local and global layers, GeGLU; and its cross-encoder's head
      { name: 'modernbert', files: folderFiles(resolve(REPO, 'test/fixtures/modernbert'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) },
      { name: 'modernbert_reranker', files: folderFiles(resolve(REPO, 'test/fixtures/modernbert_reranker'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      // MPNet's: BERT's layout with a table of relative position biases (attn_rel_b) every layer's attention adds
      { name: 'mpnet', files: folderFiles(resolve(REPO, 'test/fixtures/mpnet'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) },
      // T5's encoder: pre-norm RMSNorm, the relative position bias, ReLU, a Dense layer
      { name: 't5_relu', files: folderFiles(resolve(REPO, 'test/fixtures/t5_relu'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', '2_Dense/config.json', '2_Dense/model.safetensors', '3_Normalize/config.json']) },
      // XLM-R's SentencePiece Unigram tokenizer: a precompiled charsmap (a base64 trie) the normalizer reads
      { name: 'xlm_roberta_spm', files: folderFiles(resolve(REPO, 'test/fixtures/xlm_roberta_spm'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) },
      // GTE's (NewModel): fused q|k|v with its bias, up_gate_proj read as two halves of rows, NTK RoPE scaling keys; its cross-encoder
      { name: 'gte', files: folderFiles(resolve(REPO, 'test/fixtures/gte'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json']) },
      { name: 'gte_reranker', files: folderFiles(resolve(REPO, 'test/fixtures/gte_reranker'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      // DeBERTa-v3's cross-encoder: disentangled attention (rel_embeddings and their LayerNorm, position buckets), a ContextPooler
      { name: 'deberta_reranker', files: folderFiles(resolve(REPO, 'test/fixtures/deberta_reranker'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      // jina-embeddings-v3 as transformers saves it: emb_ln, a fused mixer.Wqkv, RoPE at 20,000, an ungated FFN
      { name: 'jina_v3', files: folderFiles(resolve(REPO, 'test/fixtures/jina_v3'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      // ELECTRA's cross-encoder: BERT under electra., a head of GELU
      { name: 'electra_reranker', files: folderFiles(resolve(REPO, 'test/fixtures/electra_reranker'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      // Phi-2's and GPT-NeoX's (Pythia's): LayerNorms with biases, the FFN beside attention, GPT-NeoX's q|k|v rows per head
      { name: 'phi2', files: folderFiles(hfOracleFolder('phi2'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
      { name: 'gpt_neox', files: folderFiles(hfOracleFolder('gpt_neox'), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) },
    ],
  };
}

/** A folder's files, read into memory. */
const folderFiles = (dir: string, names: string[]) => new Map(names.map((n) => [n, new Uint8Array(readFileSync(resolve(dir, n)))] as const));

/** Case `index` of the campaign seeded `seed`. */
export function makeCase(corpus: Corpus, seed: number, index: number): FuzzCase {
  const r = mulberry32((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const u = r();
  const kind: CaseKind = u < 0.23 ? 'gguf-bytes' : u < 0.46 ? 'gguf-field' : u < 0.58 ? 'safetensors' : u < 0.72 ? 'config.json' : u < 0.86 ? 'tokenizer.json' : u < 0.95 ? 'tokenizer_config.json' : 'lora';
  if (kind === 'lora') { // stories260K with an adapter changed as a GGUF is: bytes or one field
    const base = pick(r, corpus.lora);
    const m = r() < 0.5 ? mutateBytes(r, base.bytes, 0, base.bytes.length) : mutateGGUFField(r, base.bytes, pick(r, base.fields));
    return { index, kind, base: base.name, what: m.what, gguf: corpus.gguf[0].bytes, lora: m.value };
  }
  if (kind === 'gguf-bytes' || kind === 'gguf-field') {
    const base = pick(r, corpus.gguf);
    const m = kind === 'gguf-bytes'
      ? mutateBytes(r, base.bytes, 0, r() < 0.85 ? base.headerEnd + 64 : base.bytes.length)
      : mutateGGUFField(r, base.bytes, pick(r, base.fields));
    return { index, kind, base: base.name, what: m.what, gguf: m.value };
  }
  const base = pick(r, corpus.hf);
  const files = new Map<string, FolderEntry>(base.files);
  const enc = (s: string) => new TextEncoder().encode(s);
  const json = (name: string) => JSON.parse(new TextDecoder().decode(base.files.get(name)));
  let what: string;
  if (kind === 'safetensors') {
    const shards = [...base.files.keys()].filter((f) => f.endsWith('.safetensors'));
    const shard = pick(r, shards);
    const m = mutateSafetensors(r, base.files.get(shard)!);
    what = `${shard}: ${m.what}`;
    files.set(shard, m.value);
  } else {
    const doc = json(kind);
    const focus = kind === 'config.json' ? CONFIG_KEYS : kind === 'tokenizer.json' ? ['model', 'added_tokens', 'normalizer', 'pre_tokenizer', 'decoder', 'post_processor'] : Object.keys(doc);
    const m = mutateJson(r, doc, focus.filter((k) => k in doc), kind === 'config.json' ? CONFIG_KEYS : ['bos_token', 'eos_token', 'add_bos_token', 'chat_template', 'added_tokens_decoder']);
    what = `${kind}: ${m.what}`;
    files.set(kind, enc(m.value));
  }
  if (r() < 0.02) {
    const victim = pick(r, [...files.keys()]);
    const how = r() < 0.5 ? 'directory' : 'missing';
    files.set(victim, how);
    what += `; ${victim} is ${how === 'directory' ? 'a directory' : 'missing'}`;
  }
  return { index, kind, base: base.name, what, folder: files };
}

const CONFIG_KEYS = [
  'model_type', 'architectures', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'intermediate_size', 'vocab_size', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta', 'rope_scaling', 'rope_parameters',
  'hidden_act', 'tie_word_embeddings', 'attention_bias', 'mlp_bias', 'sliding_window', 'use_sliding_window', 'quantization_config',
  'partial_rotary_factor', 'torch_dtype',
];

const DTYPES = ['F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'I64', 'U8', 'BOOL', 'F64', 'Q4', 'f32', ''];

/** One change to a safetensors file: its header length, a header byte, or one field of one tensor's entry. */
function mutateSafetensors(r: Rng, b: Uint8Array): { value: Uint8Array; what: string } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  const u = r();
  if (u < 0.1) {
    const out = b.slice();
    const v = pick(r, [0n, 1n, 2n, BigInt(n - 1), BigInt(n + 1), BigInt(n + 8), BigInt(b.length), 1n << 40n, (1n << 64n) - 1n]);
    new DataView(out.buffer).setBigUint64(0, v, true);
    return { value: out, what: `header length = ${v}` };
  }
  if (u < 0.3) {
    const m = mutateBytes(r, b, 0, r() < 0.9 ? 8 + n : b.length);
    return { value: m.value, what: m.what };
  }
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as Record<string, Record<string, unknown>>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const t = pick(r, names);
  const e = header[t];
  const field = pick(r, ['dtype', 'shape', 'data_offsets', 'data_offsets', 'entry']);
  let what: string;
  if (field === 'dtype') {
    e.dtype = pick(r, DTYPES);
    what = `${t}.dtype = ${String(e.dtype)}`;
  } else if (field === 'shape') {
    const s = [...(e.shape as number[])];
    const k = int(r, 0, 4);
    if (k === 0 && s.length) s[int(r, 0, s.length - 1)] = pick(r, [0, 1, -1, 2 ** 53, 1e9, 0.5, s[0] + 1]);
    else if (k === 1) s.push(pick(r, [1, 2]));
    else if (k === 2) s.pop();
    else if (k === 3) s.reverse();
    else e.shape = pick(r, ['x', null, {}, [[1]], 7]);
    if (k < 4) e.shape = s;
    what = `${t}.shape = ${JSON.stringify(e.shape)}`;
  } else if (field === 'data_offsets') {
    const [a, z] = e.data_offsets as [number, number];
    const other = header[pick(r, names)].data_offsets as [number, number];
    e.data_offsets = pick(r, [[z, a], [a + 4, z + 4], [a - 4, z - 4], [other[0], other[0] + (z - a)], [a, z + 4], [0, z - a], [a, 2 ** 53], [-1, z], [a, a], [a + 0.5, z]]);
    what = `${t}.data_offsets = ${JSON.stringify(e.data_offsets)}`;
  } else {
    const v = pick(r, [null, 'x', [], 1, { dtype: 'F32' }]);
    header[t] = v as Record<string, unknown>;
    what = `${t} = ${JSON.stringify(v)}`;
  }
  let text = jsonText(header);
  text += ' '.repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8);
  const h = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + h.length + (b.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(b.subarray(8 + n), 8 + h.length);
  return { value: out, what };
}

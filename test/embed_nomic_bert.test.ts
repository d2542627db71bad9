/**
 * Engine.embed against llama.cpp on a nomic-bert GGUF (test/fixtures/nomic_bert, made by
 * test/fixtures/make_nomic_bert_oracle.mts): nomic-embed-text's architecture, BERT's post-norm encoder with RoPE in place
 * of learned positions, fused q|k|v, a SwiGLU FFN and no projection biases, mean pooling; the same weights as a
 * Hugging Face folder in nomic's layout (nomic-ai/nomic-embed-text-v1.5's).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { cosine, maxDiff } from './helpers/vectors.ts';
import { expectEmberError } from './helpers/errors.ts';
import { readGGUF, readTensorBytes } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/nomic_bert');
const FILE = join(FOLDER, 'nomic-bert-tiny.gguf');
interface Case { text: string; tokens: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'nomic-bert.llama_cpp.json'), 'utf8')) as { cases: Case[] };
const texts = oracle.cases.map((c) => c.text);
const unit = (v: readonly number[]) => v.map((x) => x / Math.hypot(...v));
const CLS = 2, SEP = 3; // (test/fixtures/bert's vocabulary)

describe.each(VARIANTS)('nomic-bert GGUF (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FILE, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads a post-norm encoder that rotates: no position table, token types, SwiGLU, mean pooling', () => {
    const c = engine.config;
    expect([c.arch, c.postLayerNorms, c.learnedPositions, c.tokenTypes, c.layerRope, c.ropeBase, c.ropeNeox, c.ffnGated, c.ffnAct, c.qkvBias, c.pooling]).toEqual(
      ['bert', true, false, 2, [true, true], 1000, true, true, 'silu', false, 'mean'],
    );
  });

  it('tokenizes as llama.cpp (its [CLS] and [SEP] around) and embeds as llama.cpp does, a list in one call and a text alone', async () => {
    const raw = await engine.embed(texts, { normalize: false });
    const normalised = await engine.embed(texts);
    for (const [i, c] of oracle.cases.entries()) {
      expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual([CLS, ...c.tokens, SEP]);
      expect(maxDiff(raw.embeddings[i], c.embedding), c.text).toBeLessThan(2e-6); // (norms of about 8)
      expect(maxDiff(normalised.embeddings[i], unit(c.embedding)), c.text).toBeLessThan(5e-7);
    }
    const long = oracle.cases[2];
    const [alone] = (await engine.embed(long.text, { normalize: false })).embeddings;
    expect(maxDiff(alone, long.embedding)).toBeLessThan(2e-6);
  });
});

it('nomic-bert as int8-g32 (Q8_0) with the default f16 K/V cache: near llama.cpp\'s', async () => {
  const engine = await Engine.load(FILE, { gpu: await testGpu(), quant: 'int8-g32' });
  try {
    const r = await engine.embed(texts);
    for (const [i, c] of oracle.cases.entries()) expect(cosine(r.embeddings[i], c.embedding), c.text).toBeGreaterThan(0.999);
  } finally {
    await engine.dispose();
  }
});

/**
 * The GGUF's weights as nomic's checkpoints name them, written out here rather than through emberlm's own map: llama.cpp's
 * gguf-py tensor_mapping (nomic-bert) is where these names come from.
 */
const NOMIC_GLOBAL: Record<string, string> = {
  'token_embd.weight': 'embeddings.word_embeddings.weight', 'token_types.weight': 'embeddings.token_type_embeddings.weight',
  'token_embd_norm.weight': 'emb_ln.weight', 'token_embd_norm.bias': 'emb_ln.bias',
};
const NOMIC_LAYER: Record<string, string> = {
  attn_qkv: 'attn.Wqkv', attn_output: 'attn.out_proj', attn_output_norm: 'norm1', ffn_up: 'mlp.fc11', ffn_gate: 'mlp.fc12', ffn_down: 'mlp.fc2', layer_output_norm: 'norm2',
};
const nomicName = (gguf: string) => NOMIC_GLOBAL[gguf] ?? gguf.replace(/^blk\.(\d+)\.(\w+)\.(weight|bias)$/, (_, l, t, p) => `encoder.layers.${l}.${NOMIC_LAYER[t]}.${p}`);
/** nomic-embed-text-v1.5's config.json keys, with the fixture's sizes. */
const NOMIC_CONFIG = {
  architectures: ['NomicBertModel'], model_type: 'nomic_bert', activation_function: 'swiglu', causal: false, prenorm: false, n_embd: 64, n_head: 4, n_layer: 2,
  n_inner: 96, n_positions: 64, max_trained_positions: 64, layer_norm_epsilon: 1e-12, rotary_emb_base: 1000, rotary_emb_fraction: 1.0, rotary_emb_interleaved: false,
  rotary_scaling_factor: null, qkv_proj_bias: false, mlp_fc1_bias: false, mlp_fc2_bias: false, use_rms_norm: false, parallel_block: false, type_vocab_size: 2, vocab_size: 105,
};

describe('nomic-bert Hugging Face folder (nomic-embed-text-v1.5\'s layout)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emberlm-nomic-'));
    const f = await readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(FILE)), 'nomic-bert-tiny.gguf'));
    const tensors = await Promise.all([...f.tensors.values()].map(async (t) => ({ name: nomicName(t.name), dtype: 'F32', shape: [...t.ne].reverse(), bytes: await readTensorBytes(f, t) })));
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(NOMIC_CONFIG));
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) cpSync(resolve(import.meta.dirname, 'fixtures/bert', file), join(dir, file));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('embeds as llama.cpp does on the GGUF (mean pooling without modules.json)', async () => {
    const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      const c = engine.config;
      expect([c.arch, c.bidirectional, c.learnedPositions, c.tokenTypes, c.ropeBase, c.ffnGated, c.ffnAct, c.contextTrain, c.eps]).toEqual(['bert', true, false, 2, 1000, true, 'silu', 64, 1e-12]);
      const r = await engine.embed(texts, { normalize: false });
      for (const [i, o] of oracle.cases.entries()) expect(maxDiff(r.embeddings[i], o.embedding), o.text).toBeLessThan(2e-6);
    } finally {
      await engine.dispose();
    }
  });

  it('refuses what nomic-embed-text is not (another activation, RoPE scaling, biases, a causal model) and writing a GGUF', async () => {
    const edited = async (edit: Record<string, unknown>) => {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...NOMIC_CONFIG, ...edit }));
      return Engine.load(dir, { gpu: await testGpu() });
    };
    try {
      await expectEmberError(() => edited({ activation_function: 'gelu' }), 'UNSUPPORTED', /activation_function "gelu" is not supported \(emberlm runs nomic-bert with swiglu\)/);
      await expectEmberError(() => edited({ rotary_scaling_factor: 2 }), 'UNSUPPORTED', /rotary_scaling_factor 2 is not supported/);
      await expectEmberError(() => edited({ qkv_proj_bias: true }), 'UNSUPPORTED', /qkv_proj_bias true is not supported/);
      await expectEmberError(() => edited({ causal: true }), 'UNSUPPORTED', /causal true is not supported/);
    } finally {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(NOMIC_CONFIG));
    }
    const { hfToGGUFFile } = await import('../models/hf_to_gguf.ts');
    await expectEmberError(() => hfToGGUFFile(dir), 'UNSUPPORTED', /nomic-bert, GTE and jina-bert-v2 folders are not written to GGUF/);
  });
});

/**
 * Engine.embed against llama.cpp on a jina-bert-v2 GGUF (test/fixtures/jina_bert, made by
 * test/fixtures/make_jina_bert_oracle.mts from test/helpers/jina_bert.ts): jina-embeddings-v2's architecture, BERT's
 * post-norm encoder with ALiBi in place of position rows and a GeGLU FFN, mean pooling; ALiBi's slopes; the same weights
 * as a Hugging Face folder in JinaBertModel's layout (jinaai/jina-embeddings-v2-small-en's); what it refuses.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { alibiSlopes, alibiTable } from '../src/model/relative_bias.ts';
import { meta, writeGGUF } from '../src/gguf/writer.ts';
import { readGGUF, readTensorBytes } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { readSafetensors, readTensorBytes as readSafeTensorBytes } from '../src/hf/safetensors.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { maxDiff } from './helpers/vectors.ts';
import { tinyJinaBert } from './helpers/jina_bert.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/jina_bert');
const FILE = join(FOLDER, 'jina-bert-v2-tiny.gguf');
interface Case { text: string; tokens: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'jina-bert.llama_cpp.json'), 'utf8')) as { cases: Case[] };
const texts = oracle.cases.map((c) => c.text);
const CLS = 2, SEP = 3; // (test/fixtures/bert's vocabulary)
// llama.cpp's GEGLU takes GELU's tanh approximation through an f16 table where the model's (and emberlm's) is erf's:
// the vectors (norms 7.2 to 7.7) part by 1.8e-4 to 4.4e-4 (with tanh's GELU here, 0.6e-4 to 3.8e-4)
const LLAMA_CPP_TOL = 1e-3;

async function embedAll(engine: Engine) {
  return (await engine.embed(texts, { normalize: false })).embeddings;
}

describe('ALiBi\'s slopes and table', () => {
  it('are ggml\'s for max_alibi_bias 8: 2^-8(h+1)/H for a power of two, then the odd powers of the next', () => {
    expect(Array.from(alibiSlopes(4, 8))).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256]);
    // 12 heads (jina-embeddings-v2-base-en): 2^-(h+1) for 8, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5 (ALiBi's own rule)
    const twelve = Array.from(alibiSlopes(12, 8));
    expect(twelve.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((k) => 2 ** -k));
    twelve.slice(8).forEach((s, i) => expect(s).toBeCloseTo(2 ** -(i + 0.5), 15));
    // 2 heads (slopes 1/16, 1/256), passes of 3 tokens: distances -2..2, each -slope |r|
    const t = Array.from(alibiTable(2, 8, 3), (v) => v + 0);
    expect(t).toEqual([-2 / 16, -1 / 16, 0, -1 / 16, -2 / 16, -2 / 256, -1 / 256, 0, -1 / 256, -2 / 256]);
  });
});

describe.each(VARIANTS)('jina-bert-v2 GGUF (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FILE, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads BERT\'s post-norm layout with ALiBi in place of positions and GeGLU by erf', () => {
    const c = engine.config;
    expect([c.arch, c.postLayerNorms, c.learnedPositions, c.alibiMaxBias, c.bidirectional, c.ffnGated, c.ffnAct, c.tokenTypes, c.pooling, c.contextTrain]).toEqual(['bert', true, false, 8, true, true, 'gelu', 2, 'mean', 128]);
    expect(c.layerRope.some(Boolean)).toBe(false);
  });

  it('gives llama.cpp\'s tokens and embeddings, a list in one call and each text alone (keys up to 115 apart)', async () => {
    for (const o of oracle.cases) expect([...engine.tokenize(o.text), ...engine.tokenizer.endIds], o.text).toEqual([CLS, ...o.tokens, SEP]);
    expect(oracle.cases.at(-1)!.tokens.length).toBeGreaterThan(100);
    const all = await embedAll(engine);
    for (const [i, o] of oracle.cases.entries()) expect(maxDiff(all[i], o.embedding), o.text).toBeLessThan(LLAMA_CPP_TOL);
    engine.tuning.batchInputs = false;
    try {
      for (const [i, o] of oracle.cases.entries()) expect(maxDiff((await engine.embed(o.text, { normalize: false })).embeddings[0], all[i]), o.text).toBeLessThan(1e-5);
    } finally {
      engine.tuning.batchInputs = true;
    }
  });
});

describe('jina-bert-v2 GGUF, what counts and what is refused', () => {
  it('ALiBi\'s slopes: a file saying max_alibi_bias 4 moves the embeddings by over 1e-2 from llama.cpp\'s', async () => {
    const file = await tinyJinaBert();
    const bytes = writeGGUF({ ...file, metadata: [...file.metadata, ['jina-bert-v2.attention.max_alibi_bias', meta.f32(4)]] });
    const engine = await Engine.load(bytes, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      const all = await embedAll(engine);
      expect(Math.min(...oracle.cases.map((o, i) => maxDiff(all[i], o.embedding)))).toBeGreaterThan(1e-2);
    } finally {
      engine.dispose();
    }
  });

  it('-de / -es\'s q and k LayerNorms over all heads: llama.cpp\'s embeddings; the file without them parts by over 1e-2', async () => {
    const qk = JSON.parse(readFileSync(join(FOLDER, 'jina-bert-qk.llama_cpp.json'), 'utf8')) as { cases: Case[] };
    const file = await tinyJinaBert('qk');
    const without = { ...file, tensors: file.tensors.filter((t) => !/attn_[qk]_norm/.test(t.name)) };
    for (const [bytes, near] of [[readFileSync(join(FOLDER, 'jina-bert-v2-qk-tiny.gguf')), true], [writeGGUF(without), false]] as const) {
      const engine = await Engine.load(new Uint8Array(bytes), { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const all = await embedAll(engine);
        const worst = Math.max(...qk.cases.map((o, i) => maxDiff(all[i], o.embedding)));
        if (near) expect(worst).toBeLessThan(LLAMA_CPP_TOL); // (measured 1.7e-4 to 3.7e-4)
        else expect(worst).toBeGreaterThan(1e-2);
      } finally {
        engine.dispose();
      }
    }
  });

  it('-code\'s layers (q and k norms, a second norm after attention over the layer\'s input again, a bias on the gated up): llama.cpp\'s embeddings; without the second norm or the bias, over 1e-2 away', async () => {
    const code = JSON.parse(readFileSync(join(FOLDER, 'jina-bert-code.llama_cpp.json'), 'utf8')) as { cases: Case[] };
    const file = await tinyJinaBert('code');
    const drop = (pattern: RegExp) => writeGGUF({ ...file, tensors: file.tensors.filter((t) => !pattern.test(t.name)) });
    const cases = [[readFileSync(join(FOLDER, 'jina-bert-v2-code-tiny.gguf')), true], [drop(/attn_norm_2/), false], [drop(/ffn_up\.bias/), false]] as const;
    for (const [bytes, near] of cases) {
      const engine = await Engine.load(new Uint8Array(bytes), { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const all = await embedAll(engine);
        const worst = Math.max(...code.cases.map((o, i) => maxDiff(all[i], o.embedding)));
        if (near) expect(worst).toBeLessThan(LLAMA_CPP_TOL);
        else expect(worst).toBeGreaterThan(1e-2);
      } finally {
        engine.dispose();
      }
    }
  });
});

/**
 * The GGUF's weights as JinaBertModel's checkpoints name them, written out here rather than through emberlm's own map:
 * llama.cpp's gguf-py tensor_mapping (jina-bert-v2) is where these names come from.
 */
const JINA_GLOBAL: Record<string, string> = {
  'token_embd.weight': 'embeddings.word_embeddings.weight', 'token_types.weight': 'embeddings.token_type_embeddings.weight',
  'token_embd_norm.weight': 'embeddings.LayerNorm.weight', 'token_embd_norm.bias': 'embeddings.LayerNorm.bias',
};
const JINA_LAYER: Record<string, string> = {
  attn_q: 'attention.self.query', attn_k: 'attention.self.key', attn_v: 'attention.self.value', attn_output: 'attention.output.dense',
  attn_output_norm: 'attention.output.LayerNorm', ffn_up: 'mlp.gated_layers', ffn_down: 'mlp.wo', layer_output_norm: 'mlp.layernorm',
};
const jinaName = (gguf: string) => JINA_GLOBAL[gguf] ?? gguf.replace(/^blk\.(\d+)\.(\w+)\.(weight|bias)$/, (_, l, t, p) => `encoder.layer.${l}.${JINA_LAYER[t]}.${p}`);
/** jina-embeddings-v2-small-en's config.json keys, with the fixture's sizes. */
const JINA_CONFIG = {
  architectures: ['JinaBertForMaskedLM'], model_type: 'bert', position_embedding_type: 'alibi', feed_forward_type: 'geglu', emb_pooler: 'mean',
  attention_probs_dropout_prob: 0.0, hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: 64, intermediate_size: 96, layer_norm_eps: 1e-12,
  max_position_embeddings: 128, num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: 0, type_vocab_size: 2, vocab_size: 105, window_size: [-1, -1],
};

describe('jina-bert-v2 Hugging Face folder (jina-embeddings-v2-small-en\'s layout)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emberlm-jina-'));
    const f = await readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(FILE)), 'jina-bert-v2-tiny.gguf'));
    const tensors = await Promise.all([...f.tensors.values()].map(async (t) => ({ name: jinaName(t.name), dtype: 'F32', shape: [...t.ne].reverse(), bytes: await readTensorBytes(f, t) })));
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(JINA_CONFIG));
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) cpSync(resolve(import.meta.dirname, 'fixtures/bert', file), join(dir, file));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('embeds as the GGUF does (mean pooling without modules.json), and so as llama.cpp', async () => {
    const [folder, gguf] = [await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' }), await Engine.load(FILE, { gpu: await testGpu(), kvCache: 'f32' })];
    try {
      const c = folder.config;
      expect([c.arch, c.alibiMaxBias, c.learnedPositions, c.tokenTypes, c.ffnGated, c.ffnAct, c.contextTrain, c.eps]).toEqual(['bert', 8, false, 2, true, 'gelu', 128, 1e-12]);
      const [a, b] = [await embedAll(folder), await embedAll(gguf)];
      for (const [i, o] of oracle.cases.entries()) {
        expect(maxDiff(a[i], b[i]), o.text).toBeLessThan(1e-6);
        expect(maxDiff(a[i], o.embedding), o.text).toBeLessThan(LLAMA_CPP_TOL);
      }
    } finally {
      folder.dispose();
      gguf.dispose();
    }
  });

  it('refuses other FFNs, local attention windows and writing a GGUF', async () => {
    const edited = async (edit: Record<string, unknown>) => {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...JINA_CONFIG, ...edit }));
      return Engine.load(dir, { gpu: await testGpu() });
    };
    try {
      await expectEmberError(() => edited({ feed_forward_type: 'reglu' }), 'UNSUPPORTED', /feed_forward_type "reglu" is not supported \(emberlm runs jina-bert-v2 with geglu\)/);
      await expectEmberError(() => edited({ window_size: [64, 64] }), 'UNSUPPORTED', /window_size \[64,64\] \(local attention\) is not supported/);
    } finally {
      writeFileSync(join(dir, 'config.json'), JSON.stringify(JINA_CONFIG));
    }
    const { hfToGGUFFile } = await import('../models/hf_to_gguf.ts');
    await expectEmberError(() => hfToGGUFFile(dir), 'UNSUPPORTED', /nomic-bert, GTE and jina-bert-v2 folders are not written to GGUF/);
    // a layer's tensor of a variant (q/k norms) is refused, not left unread
    const weights = join(dir, 'model.safetensors');
    const original = readFileSync(weights);
    try {
      const st = await readSafetensors(sourceFromBuffer(new Uint8Array(original), 'model.safetensors'));
      const tensors = await Promise.all([...st.tensors.values()].map(async (t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], bytes: await readSafeTensorBytes(t) })));
      writeFileSync(weights, encodeSafetensors([...tensors, { name: 'encoder.layer.0.attention.self.layer_norm_q.weight', dtype: 'F32', shape: [64], bytes: new Uint8Array(256) }]));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /tensor encoder\.layer\.0\.attention\.self\.layer_norm_q\.weight is not supported/);
    } finally {
      writeFileSync(weights, original);
    }
  });
});

/**
 * Engine.embed against sentence-transformers on a BERT folder (test/fixtures/bert, made by
 * test/fixtures/make_bert_oracle.py): all-MiniLM-L6-v2's layout, a BertModel (learned positions, post-norm layers with
 * LayerNorm and biases, GELU by erf, a WordPiece tokenizer putting [CLS] and [SEP] around a text), then mean pooling and
 * Normalize; CLS pooling (bge's); a BertFor* checkpoint's `bert.` names; its GGUF in llama.cpp's bert layout; what such a
 * model refuses.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu, VARIANTS } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { cosine, maxDiff } from './helpers/vectors.ts';
import { hfToGGUFFile } from '../models/hf_to_gguf.ts';
import { writeGGUF } from '../src/gguf/writer.ts';
import { readSafetensors, readTensorBytes } from '../src/hf/safetensors.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';

const FOLDER = resolve(import.meta.dirname, 'fixtures/bert');
interface Case { text: string; ids: number[]; hidden: number[]; mean: number[]; embedding: number[] }
interface Truncated { text: string; max_seq_length: number; ids: number[]; embedding: number[] }
const oracle = JSON.parse(readFileSync(join(FOLDER, 'bert.sentence_transformers.json'), 'utf8')) as { dim: number; cases: Case[]; truncated: Truncated };
const texts = oracle.cases.map((c) => c.text);
const D = oracle.dim;

const normalized = (v: readonly number[]) => v.map((x) => x / Math.hypot(...v));

/** The engine's ids and embeddings for an oracle's texts: the same ids, embeddings within 1e-5. */
async function expectOracle(engine: Engine, cases: readonly { text: string; ids: number[]; embedding: number[] }[]): Promise<void> {
  const r = await engine.embed(cases.map((c) => c.text));
  for (const [i, c] of cases.entries()) {
    expect([...engine.tokenize(c.text), ...engine.tokenizer.endIds], c.text).toEqual(c.ids);
    expect(maxDiff(r.embeddings[i], c.embedding), c.text).toBeLessThan(1e-5);
  }
}

/** A copy of the folder (the BERT fixture's by default), `edit` run on it. */
function changedCopy(edit: (dir: string) => void | Promise<void>, from = FOLDER): Promise<string> | string {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-bert-'));
  cpSync(from, dir, { recursive: true });
  const done = edit(dir);
  return done instanceof Promise ? done.then(() => dir) : dir;
}
const editJson = (dir: string, file: string, edit: (json: Record<string, unknown>) => unknown) =>
  writeFileSync(join(dir, file), JSON.stringify(edit(JSON.parse(readFileSync(join(dir, file), 'utf8')))));

describe.each(VARIANTS)('BERT folder (%s device)', (variant) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(FOLDER, { gpu: await testGpu(variant), kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it('reads an encoder: post-norm layers, learned positions (the context they span), both ways, mean pooling, [CLS] and [SEP]', () => {
    const c = engine.config;
    expect([c.arch, c.postLayerNorms, c.bidirectional, c.ffnGated, c.ffnAct, c.pooling, c.tokenTypes]).toEqual(['bert', true, true, false, 'gelu', 'mean', 2]);
    expect(engine.model.nCtx).toBe(64); // max_position_embeddings
    for (const p of oracle.cases) expect([...engine.tokenize(p.text), ...engine.tokenizer.endIds], p.text).toEqual(p.ids);
  });

  it('gives sentence-transformers\' embeddings (mean of every row, Normalize), and the mean itself with normalize false', async () => {
    const r = await engine.embed(texts);
    expect(r.promptTokens).toBe(oracle.cases.reduce((n, p) => n + p.ids.length, 0));
    for (const [i, p] of oracle.cases.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(1e-5);
    const p = oracle.cases[3];
    const [raw] = (await engine.embed(p.text, { normalize: false })).embeddings;
    expect(maxDiff(raw, p.mean)).toBeLessThan(1e-5);
  });

  it('does not generate, refuses an input past its positions, and embeds after', async () => {
    await expectEmberError(() => engine.complete('Once upon a time', { maxTokens: 2 }), 'UNSUPPORTED', /attends both ways.*does not generate/);
    await expectEmberError(() => engine.rerank('a', ['b']), 'UNSUPPORTED', /does not rerank/);
    await expectEmberError(() => engine.embed(['a', 'the park '.repeat(40)]), 'CONTEXT_OVERFLOW', /input\[1\] is \d+ tokens, past the context of 64/);
    expect((await engine.embed('the park '.repeat(40), { truncate: true })).promptTokens).toBe(64); // (its max_seq_length)
    const [e] = (await engine.embed(oracle.cases[4].text)).embeddings;
    expect(maxDiff(e, oracle.cases[4].embedding)).toBeLessThan(1e-5);
  });
});

describe('BERT folder, other loads', () => {
  it('with the default f16 K/V cache, and weights as int8-g32 (Q8_0) or q4_0: near sentence-transformers\'', async () => {
    for (const [quant, tol, cos] of [['auto', 5e-4, 0.99999], ['int8-g32', 2e-2, 0.999], ['q4_0', 1e-1, 0.99]] as const) {
      const engine = await Engine.load(FOLDER, { gpu: await testGpu(), quant });
      try {
        const r = await engine.embed(texts);
        for (const [i, p] of oracle.cases.entries()) {
          expect(maxDiff(r.embeddings[i], p.embedding), `${quant}: ${p.text}`).toBeLessThan(tol);
          expect(cosine(r.embeddings[i], p.embedding), `${quant}: ${p.text}`).toBeGreaterThan(cos);
        }
      } finally {
        await engine.dispose();
      }
    }
  });

  it('with truncate, cuts a text at the folder\'s max_seq_length, [CLS] and [SEP] kept, as sentence-transformers does; ids are never cut', async () => {
    const t = oracle.truncated;
    const dir = await changedCopy((d) => editJson(d, 'sentence_bert_config.json', (c) => ({ ...c, max_seq_length: t.max_seq_length })));
    try {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const cut = await engine.embed(t.text, { truncate: true });
        expect(cut.promptTokens).toBe(t.ids.length);
        expect(maxDiff(cut.embeddings[0], t.embedding)).toBeLessThan(1e-5);
        const whole = await engine.embed(t.text); // (without it: all 25 tokens, which fit the context)
        expect(maxDiff(whole.embeddings[0], oracle.cases[3].embedding)).toBeLessThan(1e-5);
        await expectEmberError(() => engine.embed([Array<number>(65).fill(9)], { truncate: true }), 'CONTEXT_OVERFLOW', /input\[0\] is 65 tokens, past the context of 64/);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pools the [CLS] row where the folder says so (bge\'s pooling)', async () => {
    const dir = await changedCopy((d) => editJson(d, '1_Pooling/config.json', (c) => ({ ...c, pooling_mode_mean_tokens: false, pooling_mode_cls_token: true })));
    try {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        expect(engine.config.pooling).toBe('cls');
        const r = await engine.embed(texts);
        for (const [i, p] of oracle.cases.entries()) expect(maxDiff(r.embeddings[i], normalized(p.hidden.slice(0, D))), p.text).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pools the mean of every row where the folder has no modules.json, as sentence-transformers would build it', async () => {
    const dir = await changedCopy((d) => rmSync(join(d, 'modules.json')));
    try {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const r = await engine.embed(texts);
        for (const [i, p] of oracle.cases.entries()) expect(maxDiff(r.embeddings[i], normalized(p.mean)), p.text).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a BertFor* checkpoint (its encoder under bert., a head and an I64 position_ids beside it) and a tokenizer with BertProcessing', async () => {
    const dir = await changedCopy(async (d) => {
      const file = join(d, 'model.safetensors');
      const st = await readSafetensors(sourceFromBuffer(new Uint8Array(readFileSync(file)), 'model.safetensors'));
      const tensors = await Promise.all([...st.tensors.values()].map(async (t) => ({ name: `bert.${t.name}`, dtype: t.dtype, shape: [...t.shape], bytes: await readTensorBytes(t) })));
      tensors.push({ name: 'cls.predictions.bias', dtype: 'F32', shape: [4], bytes: new Uint8Array(16) });
      // (older checkpoints keep the position ids buffer, I64, which is never read)
      tensors.push({ name: 'bert.embeddings.position_ids', dtype: 'I64', shape: [1, 64], bytes: new Uint8Array(new BigInt64Array(64).map((_, i) => BigInt(i)).buffer) });
      writeFileSync(file, encodeSafetensors(tensors));
      editJson(d, 'config.json', (c) => ({ ...c, architectures: ['BertForMaskedLM'] }));
      // an older tokenizer.json: [CLS] and [SEP] by BertProcessing, which names no `single` template; truncation and
      // padding as all-MiniLM-L6-v2's has them, which the tokenizer library does not apply (the engine checks lengths)
      const post_processor = { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] };
      const truncation = { direction: 'Right', max_length: 8, strategy: 'LongestFirst', stride: 0 };
      const padding = { strategy: { Fixed: 32 }, direction: 'Right', pad_to_multiple_of: null, pad_id: 0, pad_type_id: 0, pad_token: '[PAD]' };
      editJson(d, 'tokenizer.json', (t) => ({ ...t, post_processor, truncation, padding }));
    });
    try {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        for (const p of oracle.cases) expect([...engine.tokenize(p.text), ...engine.tokenizer.endIds], p.text).toEqual(p.ids);
        const r = await engine.embed(texts);
        for (const [i, p] of oracle.cases.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes WordPiece: continuation pieces joined to their word, lowercased as encoded, [UNK] left out', async () => {
    const engine = await Engine.load(FOLDER, { gpu: await testGpu() });
    try {
      // (the library's decode cleans up the spaces before punctuation too: "play, shouting?"; emberlm's keeps them, lossless for other tokenizers)
      expect(engine.tokenizer.decode(engine.tokenize('Lily was playing in the parks, SHOUTING? treetop!'))).toBe('lily was playing in the parks , shouting ? treetop');
    } finally {
      await engine.dispose();
    }
  });

  it.each([
    ['position_embedding_type relative_key', (c: Record<string, unknown>) => ({ ...c, position_embedding_type: 'relative_key' }), /position_embedding_type "relative_key" is not supported/],
    ['is_decoder', (c: Record<string, unknown>) => ({ ...c, is_decoder: true }), /is_decoder true is not supported/],
    ['hidden_act relu', (c: Record<string, unknown>) => ({ ...c, hidden_act: 'relu' }), /hidden_act "relu" is not supported/],
  ])('refuses config.json with %s', async (_, edit, message) => {
    const dir = await changedCopy((d) => editJson(d, 'config.json', edit));
    try {
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a context past its learned positions', async () => {
    await expectEmberError(async () => Engine.load(FOLDER, { gpu: await testGpu(), contextLength: 65 }), 'BAD_ARGUMENT', /contextLength 65 is past bert's 64 learned positions/);
  });

  it('its GGUF (llama.cpp\'s bert: a phantom-space WordPiece vocabulary, LayerNorm epsilon, causal false, pooling_type) tokenizes and embeds alike', async () => {
    const file = await hfToGGUFFile(FOLDER);
    const key = (k: string) => file.metadata.find(([name]) => name === k)?.[1];
    expect([key('general.architecture'), key('tokenizer.ggml.model'), key('bert.attention.causal'), key('bert.pooling_type')].map((v) => v?.value)).toEqual(['bert', 'bert', false, 1]);
    const tokens = key('tokenizer.ggml.tokens')!.value as string[];
    expect([tokens[2], tokens[9], tokens.find((t) => t === 'ing')]).toEqual(['[CLS]', '\u2581a', 'ing']); // (a control token, a word, "##ing")
    const engine = await Engine.load(writeGGUF(file), { gpu: await testGpu(), kvCache: 'f32' });
    try {
      expect([engine.config.arch, engine.config.postLayerNorms, engine.config.bidirectional, engine.config.tokenTypes, engine.config.pooling]).toEqual(['bert', true, true, 2, 'mean']);
      for (const p of oracle.cases) expect([...engine.tokenize(p.text), ...engine.tokenizer.endIds], p.text).toEqual(p.ids);
      const r = await engine.embed(texts);
      for (const [i, p] of oracle.cases.entries()) expect(maxDiff(r.embeddings[i], p.embedding), p.text).toBeLessThan(1e-5);
      expect(engine.tokenizer.decode(engine.tokenize('Lily was playing in the parks, SHOUTING? treetop!'))).toBe('lily was playing in the parks , shouting ? treetop');
      await expectEmberError(() => engine.complete('a', { maxTokens: 1 }), 'UNSUPPORTED', /attends both ways/);
    } finally {
      await engine.dispose();
    }
  });
});

describe('XLM-RoBERTa folder (multilingual-e5\'s layout: positions from padding_idx + 1, one token type)', () => {
  const XLMR = resolve(import.meta.dirname, 'fixtures/xlm_roberta');
  const xlmr = JSON.parse(readFileSync(join(XLMR, 'xlm_roberta.sentence_transformers.json'), 'utf8')) as { cases: { text: string; ids: number[]; embedding: number[]; unshifted: number[] }[] };

  it('embeds as sentence-transformers does, its positions counted from padding_idx + 1', async () => {
    const engine = await Engine.load(XLMR, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      expect([engine.config.arch, engine.config.positionOffset, engine.config.contextTrain, engine.config.tokenTypes]).toEqual(['bert', 1, 64, 1]);
      await expectOracle(engine, xlmr.cases);
      for (const c of xlmr.cases) expect(maxDiff(c.unshifted, c.embedding)).toBeGreaterThan(0.04); // (counted from 0 the embedding is elsewhere)
    } finally {
      await engine.dispose();
    }
  });

  it('reads an XLMRobertaFor* checkpoint\'s roberta. names, and its GGUF (positions from row 0: the first pad_token_id + 1 dropped); refuses a classifier of several labels', async () => {
    const dir = await (async () => {
      const d = mkdtempSync(join(tmpdir(), 'emberlm-xlmr-'));
      cpSync(XLMR, d, { recursive: true });
      const file = join(d, 'model.safetensors');
      const st = await readSafetensors(sourceFromBuffer(new Uint8Array(readFileSync(file)), 'model.safetensors'));
      writeFileSync(file, encodeSafetensors(await Promise.all([...st.tensors.values()].map(async (t) => ({ name: `roberta.${t.name}`, dtype: t.dtype, shape: [...t.shape], bytes: await readTensorBytes(t) })))));
      return d;
    })();
    try {
      const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        const [e] = (await engine.embed(xlmr.cases[1].text)).embeddings;
        expect(maxDiff(e, xlmr.cases[1].embedding)).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
      editJson(dir, 'config.json', (c) => ({ ...c, architectures: ['XLMRobertaForSequenceClassification'], id2label: { 0: 'a', 1: 'b', 2: 'c' } }));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /XLMRobertaForSequenceClassification of 3 labels is not supported/);
      const gguf = await Engine.load(writeGGUF(await hfToGGUFFile(XLMR)), { gpu: await testGpu(), kvCache: 'f32' });
      try {
        expect([gguf.config.positionOffset, gguf.config.contextTrain]).toEqual([0, 64]);
        await expectOracle(gguf, xlmr.cases);
      } finally {
        await gguf.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('DistilBERT folder (msmarco-distilbert\'s layout: its own names and config keys, no token types)', () => {
  const DISTIL = resolve(import.meta.dirname, 'fixtures/distilbert');
  const distil = JSON.parse(readFileSync(join(DISTIL, 'distilbert.sentence_transformers.json'), 'utf8')) as { cases: { text: string; ids: number[]; embedding: number[] }[] };

  it('embeds as sentence-transformers does, from its folder and from its GGUF (bert, no token_types)', async () => {
    const file = await hfToGGUFFile(DISTIL);
    expect(file.tensors.some((t) => t.name === 'token_types.weight')).toBe(false);
    for (const input of [DISTIL, writeGGUF(file)]) {
      const engine = await Engine.load(input, { gpu: await testGpu(), kvCache: 'f32' });
      try {
        expect([engine.config.arch, engine.config.tokenTypes, engine.config.nEmbd, engine.config.nFf]).toEqual(['bert', 0, 64, 128]);
        await expectOracle(engine, distil.cases);
      } finally {
        await engine.dispose();
      }
    }
  });

  it('refuses sinusoidal positions', async () => {
    const dir = await changedCopy((d) => editJson(d, 'config.json', (c) => ({ ...c, sinusoidal_pos_embds: true })), DISTIL);
    try {
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'UNSUPPORTED', /sinusoidal_pos_embds true is not supported/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

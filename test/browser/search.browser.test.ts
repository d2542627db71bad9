/**
 * The search example (examples/search) as a user meets it, in chromium on SwiftShader: an EmbeddingGemma-shaped model
 * and a reranker named by Hub ids (a local mock of the Hub, `?hub=`), the sample documents, a query typed and searched.
 * Every document's cosine score must equal what emberlm computes for it in Node (lavapipe; SwiftShader's kernels sum in
 * their own order), the list sorted by it, and the reranker's scores those of Engine.rerank.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join, resolve } from 'node:path';
import type { ViteDevServer } from 'vite';
import { serveExample } from './example_server.ts';
import { Engine } from '../../src/engine.ts';
import { embeddingGemmaFolder, hfOracleFolder } from '../helpers/models.ts';
import { testGpu } from '../helpers/gpu.ts';
import { collectLogs, launchChromium, type Chromium } from './chromium.ts';
type Page = Awaited<ReturnType<Chromium['context']['newPage']>>;
import { MockHub } from '../helpers/mock_hub.ts';

const WAIT = { timeout: 180_000 };

/**
 * Searches "gravity" on the page with its loaded embedder and checks each of the 6 hits' scores against the model in
 * `folder` in Node (lavapipe: within 1e-3, SwiftShader's kernels summing in their own order); `shot`: its screenshot.
 */
async function expectRanksAsNode(page: Page, folder: string, shot: string): Promise<void> {
  await page.fill('#query', 'gravity');
  await page.press('#query', 'Enter');
  await expect.poll(() => page.locator('#results li').count(), WAIT).toBe(6);
  if (process.env.EMBERLM_SCREENSHOTS) await page.screenshot({ path: join(process.env.EMBERLM_SCREENSHOTS, shot), fullPage: true });
  const items = await page.locator('#results li').evaluateAll((lis) => lis.map((li) => ({ text: li.lastChild!.textContent!, score: Number((li as HTMLElement).dataset.score) })));
  const engine = await Engine.load(folder, { gpu: await testGpu() });
  try {
    const [q, ...docs] = (await engine.embed(['gravity', ...items.map((i) => i.text)], { truncate: true })).embeddings; // (as the page embeds)
    items.forEach((it, i) => expect(Math.abs(it.score - docs[i].reduce((s, v, j) => s + v * q[j], 0)), it.text).toBeLessThan(1e-3));
  } finally {
    await engine.dispose();
  }
}
const QUERY = 'What is the capital of China?';
const EMBEDDER = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'config_sentence_transformers.json',
  '1_Pooling/config.json', '2_Dense/config.json', '2_Dense/model.safetensors', '3_Dense/config.json', '3_Dense/model.safetensors'];
const RERANKER = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const BERT = resolve(import.meta.dirname, '../fixtures/bert');
const BERT_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json'];
const CROSS_ENCODER = resolve(import.meta.dirname, '../fixtures/bert_reranker');
const MODERNBERT = resolve(import.meta.dirname, '../fixtures/modernbert');
const MPNET = resolve(import.meta.dirname, '../fixtures/mpnet');
const T5 = resolve(import.meta.dirname, '../fixtures/t5_relu');
const GTE = resolve(import.meta.dirname, '../fixtures/gte');
const DEBERTA = resolve(import.meta.dirname, '../fixtures/deberta_reranker');
const CROSS_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const T5_FILES = [...BERT_FILES, '2_Dense/config.json', '2_Dense/model.safetensors', '3_Normalize/config.json'];

describe('examples/search in chromium (WebGPU on SwiftShader)', () => {
  let server: ViteDevServer;
  let hub: MockHub;
  let browser: Chromium;
  beforeAll(async () => {
    const gemma = embeddingGemmaFolder(), smol = hfOracleFolder('llama-smollm2-bf16');
    hub = await new MockHub()
      .repo('ember/embeddinggemma-tiny', EMBEDDER.map((path) => ({ path, fixture: join(gemma, path) })))
      .repo('ember/smollm2-reranker', RERANKER.map((path) => ({ path, fixture: join(smol, path) })))
      .repo('ember/bert-tiny', BERT_FILES.map((path) => ({ path, fixture: join(BERT, path) })))
      .repo('ember/modernbert-tiny', BERT_FILES.map((path) => ({ path, fixture: join(MODERNBERT, path) })))
      .repo('ember/mpnet-tiny', BERT_FILES.map((path) => ({ path, fixture: join(MPNET, path) })))
      .repo('ember/t5-tiny', T5_FILES.map((path) => ({ path, fixture: join(T5, path) })))
      .repo('ember/gte-tiny', BERT_FILES.map((path) => ({ path, fixture: join(GTE, path) })))
      .repo('ember/bert-reranker-tiny', CROSS_FILES.map((path) => ({ path, fixture: join(CROSS_ENCODER, path) })))
      .repo('ember/deberta-reranker-tiny', CROSS_FILES.map((path) => ({ path, fixture: join(DEBERTA, path) })))
      .start();
    server = await serveExample('search');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.stop();
  });

  it('ranks the sample documents as emberlm does in Node, and reranks the best five', async () => {
    browser = await launchChromium();
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    const query = new URLSearchParams({ hub: hub.url, model: 'ember/embeddinggemma-tiny', reranker: 'ember/smollm2-reranker' });
    await page.goto(`${server.resolvedUrls!.local[0]!}?${query}`);
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/will rerank the best 5 hits/);
    await page.fill('#query', QUERY);
    await page.click('#search-button');
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/6 documents ranked in .* \(6 embedded now\)/);
    if (process.env.EMBERLM_SCREENSHOTS) await page.screenshot({ path: join(process.env.EMBERLM_SCREENSHOTS, 'search.png'), fullPage: true });
    const items = await page.locator('#results li').evaluateAll((lis) => lis.map((li) => ({
      text: li.lastChild!.textContent!, score: Number((li as HTMLElement).dataset.score), rerank: (li as HTMLElement).dataset.rerank,
    })));
    expect(items, logs.join('\n')).toHaveLength(6);

    // The same in Node: the documents' and the query's embeddings with their prompts, the reranker's scores
    const docs = (await page.inputValue('#documents')).split('\n');
    const embedder = await Engine.load(embeddingGemmaFolder(), { gpu: await testGpu() });
    const want = new Map<string, number>();
    try {
      const { embeddings } = await embedder.embed(docs, { promptName: 'document' });
      const [q] = (await embedder.embed(QUERY, { promptName: 'query' })).embeddings;
      docs.forEach((d, i) => want.set(d, embeddings[i].reduce((s, v, j) => s + v * q[j], 0)));
    } finally {
      await embedder.dispose();
    }
    for (const it of items) expect(Math.abs(it.score - want.get(it.text)!), it.text).toBeLessThan(1e-3);
    const byScore = [...want.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d);
    const top = byScore.slice(0, 5);
    expect(new Set(items.slice(0, 5).map((i) => i.text))).toEqual(new Set(top)); // the best five, reordered by the reranker
    expect(items.slice(5).map((i) => i.text)).toEqual(byScore.slice(5));
    expect(items.slice(5).every((i) => i.rerank === undefined)).toBe(true);
    const reranker = await Engine.load(hfOracleFolder('llama-smollm2-bf16'), { gpu: await testGpu() });
    try {
      const { scores } = await reranker.rerank(QUERY, top);
      for (const it of items.slice(0, 5)) expect(Math.abs(Number(it.rerank) - scores[top.indexOf(it.text)]) / scores[top.indexOf(it.text)], it.text).toBeLessThan(1e-2);
      const reranks = items.slice(0, 5).map((i) => Number(i.rerank));
      expect(reranks).toEqual([...reranks].sort((a, b) => b - a));
    } finally {
      await reranker.dispose();
    }
  }, 400_000);

  it('a model the Hub does not have is explained in the status line, and the page stays usable: a BERT model ranks, a BERT cross-encoder reranks, as in Node', async () => {
    browser ??= await launchChromium();
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    await page.goto(`${server.resolvedUrls!.local[0]!}?${new URLSearchParams({ hub: hub.url })}`);
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/Load an embedding model to start/);
    expect(await page.isDisabled('#search-button')).toBe(true);
    await page.fill('#model-input', 'ember/no-such-model');
    await page.click('#load-button');
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/^\[NETWORK\] ember\/no-such-model@main: not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404 for its listing and its config\.json\)/);
    if (process.env.EMBERLM_SCREENSHOTS) await page.screenshot({ path: join(process.env.EMBERLM_SCREENSHOTS, 'search-404-phone.png'), fullPage: true });
    await page.fill('#model-input', 'ember/bert-tiny');
    await page.click('#load-button');
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/ember\/bert-tiny is ready\. Type a query\./);
    // BERT's kernels (LayerNorm, GELU by erf) on SwiftShader in a worker: the scores emberlm gives in Node
    await expectRanksAsNode(page, BERT, 'search-bert-phone.png');
    // A cross-encoder's pairs (their documents of token type 1, from the pass's per-token inputs) on SwiftShader: Engine.rerank's scores
    await page.fill('#reranker-input', 'ember/bert-reranker-tiny');
    await page.click('#reranker-button');
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/will rerank the best 5 hits/);
    await page.press('#query', 'Enter');
    await expect.poll(() => page.locator('#results li[data-rerank]').count(), WAIT).toBe(5);
    if (process.env.EMBERLM_SCREENSHOTS) await page.screenshot({ path: join(process.env.EMBERLM_SCREENSHOTS, 'search-bert-reranked-phone.png'), fullPage: true });
    const top = await page.locator('#results li[data-rerank]').evaluateAll((lis) => lis.map((li) => ({ text: li.lastChild!.textContent!, rerank: Number((li as HTMLElement).dataset.rerank) })));
    const reranker = await Engine.load(CROSS_ENCODER, { gpu: await testGpu() });
    try {
      const { scores } = await reranker.rerank('gravity', top.map((t) => t.text), { truncate: true }); // (one pair is past its 64 positions)
      top.forEach((t, i) => expect(Math.abs(t.rerank - scores[i]), t.text).toBeLessThan(1e-3));
    } finally {
      await reranker.dispose();
    }
  }, 300_000);

  // DeBERTa's disentangled attention on SwiftShader (its terms' kernel, prefill_bias with their rel_score) in a worker
  it('a DeBERTa cross-encoder reranks as in Node', async () => {
    browser ??= await launchChromium();
    const page = await browser.context.newPage();
    await page.goto(`${server.resolvedUrls!.local[0]!}?${new URLSearchParams({ hub: hub.url, model: 'ember/bert-tiny', reranker: 'ember/deberta-reranker-tiny' })}`);
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(/will rerank the best 5 hits/);
    await page.fill('#query', 'gravity');
    await page.press('#query', 'Enter');
    await expect.poll(() => page.locator('#results li[data-rerank]').count(), WAIT).toBe(5);
    if (process.env.EMBERLM_SCREENSHOTS) await page.screenshot({ path: join(process.env.EMBERLM_SCREENSHOTS, 'search-deberta-reranked.png'), fullPage: true });
    const top = await page.locator('#results li[data-rerank]').evaluateAll((lis) => lis.map((li) => ({ text: li.lastChild!.textContent!, rerank: Number((li as HTMLElement).dataset.rerank) })));
    const reranker = await Engine.load(DEBERTA, { gpu: await testGpu() });
    try {
      const { scores } = await reranker.rerank('gravity', top.map((t) => t.text), { truncate: true });
      top.forEach((t, i) => expect(Math.abs(t.rerank - scores[i]), t.text).toBeLessThan(1e-3));
    } finally {
      await reranker.dispose();
    }
  }, 300_000);

  // ModernBERT's kernels (the pre-norm LayerNorm, GeGLU by erf, windowed layers both ways), MPNet's (prefill_bias: a
  // bias by relative position on the scores), T5's (that bias, RMSNorm, ReLU, a Dense layer) and GTE's (BERT's layers
  // with RoPE, a fused q|k|v's bias, GeGLU by erf; its SentencePiece tokenizer) on SwiftShader in a worker
  it.each([['modernbert', MODERNBERT], ['mpnet', MPNET], ['t5', T5], ['gte', GTE]])('a %s model ranks as in Node', async (name, folder) => {
    browser ??= await launchChromium();
    const page = await browser.context.newPage();
    await page.goto(`${server.resolvedUrls!.local[0]!}?${new URLSearchParams({ hub: hub.url, model: `ember/${name}-tiny` })}`);
    await expect.poll(() => page.locator('#status').textContent(), WAIT).toMatch(new RegExp(`ember/${name}-tiny is ready\\. Type a query\\.`));
    await expectRanksAsNode(page, folder, `search-${name}.png`);
  }, 300_000);
});

/**
 * The worker API in a real browser: Debian's chromium (scripts/install-webgpu.sh installs it; never
 * downloaded) driven by playwright-core, WebGPU on SwiftShader (no shader-f16, so the f32 paths run).
 * vite serves test/browser/page/, whose worker loads stories260K by URL (HTTP Range reads), then a Hugging Face BF16
 * folder, then test/fixtures/granite4h and falcon_h1 (Mamba-2 layers), qwen3_5 (Gated DeltaNet layers), qwen3_moe, lfm2_moe and
 * granite4h-moe (mixtures of experts: softmax and sigmoid routers, a shared expert); greedy ids must equal llama.cpp's and transformers'. A missing
 * chromium fails the test, it does not skip it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { embeddingFolder, embeddingGemmaFolder, hfOracleFolder, hfOraclePath, REPO_ROOT, SHARED_MODELS, sharedModelPath } from '../helpers/models.ts';
import { readOracle } from '../helpers/oracle.ts';
import { collectLogs, launchChromium, type Chromium } from './chromium.ts';
import type { BrowserRun } from './page/main.ts';

const RUN_TIMEOUT_MS = 150_000;
type HfPrompt = { prompt: string; prompt_ids: number[]; generated_ids: number[]; min_gap: number };
const oracle = readOracle('stories260K.llama-cpp.json').results;
const HF_FOLDER = `/@fs${sharedModelPath('hf-oracle/llama-smollm2-bf16')}/`;
const hfPrompts = () => (JSON.parse(readFileSync(sharedModelPath('hf-oracle/llama-smollm2-bf16.transformers.json'), 'utf8')) as { prompts: HfPrompt[] }).prompts;

describe('worker API in chromium (WebGPU on SwiftShader)', () => {
  let server: ViteDevServer | undefined;
  let browser: Chromium | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("greedy ids in a worker equal llama.cpp's for the 3 prompts; streaming, chat, errors and abort cross the boundary", async () => {
    const run = await runPage({ // stories260K by URL (HTTP Range reads)
      model: `/@fs${sharedModelPath('stories260K/stories260K.gguf')}`,
      prompts: JSON.stringify(oracle.map((o) => o.prompt)),
      maxTokens: '32',
      json: '1',
    });
    expect(run.progressCalls).toBeGreaterThan(0);
    run.greedy.forEach((g, i) => {
      expect(g.promptIds, oracle[i].prompt).toEqual(oracle[i].prompt_token_ids);
      expect(g.ids, oracle[i].prompt).toEqual(oracle[i].generated_token_ids);
      expect(oracle[i].prompt + g.text).toBe(oracle[i].full_text);
    });
    expect(run.greedy).toHaveLength(3);
    expect(run.streamedIds).toEqual(oracle[0].generated_token_ids);
    expect(run.streamedText).toBe(run.greedy[0].text);
    expect(run.chatContent).toBe(run.greedy[0].text);
    expect(run.chatStreamContent).toBe(run.chatContent);
    expect(run.json?.finish).toBe('stop'); // structured output: XGrammar's wasm loads in the page's worker
    expect(JSON.parse(run.json!.content)).toMatchObject({ name: expect.stringMatching(/^(Lily|Tom)$/), age: expect.any(Number) });
    expect(run.overflow).toMatchObject({ isEmberError: true, code: 'CONTEXT_OVERFLOW' });
    expect(run.abortedFinish).toBe('abort');
  }, 240_000);

  // A BF16 checkpoint runs as bf16 (SwiftShader's flat kernels widen it in the shader): transformers' ids, with an f32
  // K/V cache as transformers computes (its prompt with a 0.0055 logit gap is left out: f32 sums in another order).
  it("a Hugging Face BF16 folder by URL: transformers' prompt and greedy ids", async () => {
    const hf = hfPrompts().filter((p) => p.min_gap > 0.01);
    expect(hf).toHaveLength(3);
    const run = await runPage({
      model: HF_FOLDER,
      prompts: JSON.stringify(hf.map((p) => p.prompt)),
      maxTokens: '32',
      kv: 'f32',
    });
    run.greedy.forEach((g, i) => {
      expect(g.promptIds, hf[i].prompt).toEqual(hf[i].prompt_ids);
      expect(g.ids, hf[i].prompt).toEqual(hf[i].generated_ids);
    });
    expect(run.abortedFinish).toBe('abort');
  }, 240_000);

  // Converted at load on SwiftShader's GPU (shaders/quantize_weights.wgsl and quantize_ggml.wgsl, through Tint and
  // Subzero) as on the CPU. The folder's rows of 64 take q4_k's and q6_k's fallbacks, Q5_0 and Q8_0 (the K-quants'
  // own blocks: test/browser/quantize_ggml.browser.test.ts).
  it('the BF16 folder converted to int8, FP8, f16 and the ggml schemes on the GPU runs as converted on the CPU', async () => {
    const prompt = hfPrompts()[0].prompt;
    for (const quant of ['int8', 'fp8-e4m3-g32', 'f16', 'q4_k', 'q6_k']) {
      const page = (gpuQuantize: string) => runPage({ model: HF_FOLDER, prompts: JSON.stringify([prompt]), maxTokens: '16', quant, gpuQuantize });
      const [onGpu, onCpu] = [await page('1'), await page('0')];
      expect(onGpu.greedy, quant).toEqual(onCpu.greedy);
      expect(onGpu.greedy[0].ids, quant).toHaveLength(16);
    }
  }, 240_000);

  // Mamba-2 mixers on SwiftShader (its subgroups of 4 share B and C by shuffles): Granite 4.0-H's in place of attention,
  // Falcon-H1's beside it; transformers' ids on the oracles made here (test/fixtures, joined to hf-oracle's tokenizer
  // in a temporary folder).
  // qwen3_moe: a mixture of experts (its expert GEMVs in rows_flat, the expert read by one lane and handed to all);
  // lfm2_moe: a sigmoid router with a selection bias; granite4h-moe: the shared MLP beside the experts.
  it.each(['granite4h', 'falcon_h1', 'qwen3_5', 'qwen3_moe', 'lfm2_moe', 'granite4h-moe'])("%s (Mamba-2 or Gated DeltaNet layers, experts) by URL: transformers' prompt and greedy ids", async (name) => {
    const g = (JSON.parse(readFileSync(hfOraclePath(name), 'utf8')) as { prompts: HfPrompt[] }).prompts;
    const run = await runPage({ model: `/@fs${hfOracleFolder(name)}/`, prompts: JSON.stringify(g.map((p) => p.prompt)), maxTokens: '32', kv: 'f32' });
    run.greedy.forEach((r, i) => {
      expect(r.promptIds, g[i].prompt).toEqual(g[i].prompt_ids);
      expect(r.ids, g[i].prompt).toEqual(g[i].generated_ids);
    });
    expect(run.greedy).toHaveLength(4);
  }, 240_000);

  it("embeddings in a worker on SwiftShader: test/fixtures/qwen3_embedding by URL gives transformers' vectors", async () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/qwen3_embedding/qwen3_embedding.transformers.json'), 'utf8')) as { prompts: { text: string; embedding: number[] }[] };
    const run = await runPage({ model: `/@fs${embeddingFolder()}/`, prompts: JSON.stringify(o.prompts.map((p) => p.text)), maxTokens: '4', kv: 'f32', embed: '1' });
    expect(run.embeddings).toHaveLength(o.prompts.length);
    // (SwiftShader's flat kernels sum in their own order: 1.8e-5 where lavapipe's are within 2e-6)
    run.embeddings!.forEach((e, i) => expect(Math.max(...e.map((v, j) => Math.abs(v - o.prompts[i].embedding[j]))), o.prompts[i].text).toBeLessThan(1e-4));
  }, 240_000);

  it("EmbeddingGemma-shaped folder in a worker on SwiftShader: bidirectional attention, mean pooling and Dense layers give sentence-transformers' vectors", async () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/embeddinggemma/embeddinggemma.sentence_transformers.json'), 'utf8')) as { prompts: { text: string; embedding: number[] }[] };
    const query = 'task: search result | query: ';
    const texts = [o.prompts[1].text.slice(query.length)]; // under the model's "query" prompt
    const run = await runPage({ model: `/@fs${embeddingGemmaFolder()}/`, prompts: JSON.stringify(texts), kv: 'f32', embed: 'only', promptName: 'query' });
    expect(run.embeddings).toHaveLength(1);
    expect(Math.max(...run.embeddings![0].map((v, j) => Math.abs(v - o.prompts[1].embedding[j])))).toBeLessThan(1e-4);
  }, 240_000);

  /** Serves test/browser/page/ (once), opens it with `query` and returns what it left in window.__ember. */
  async function runPage(query: Record<string, string>): Promise<BrowserRun> {
    // Launched here rather than in a hook, so that a missing browser counts as a failed test, not a skipped one.
    browser ??= await launchChromium();
    server ??= await startServer();
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    const base = server.resolvedUrls!.local[0]!;
    const t0 = performance.now();
    await page.goto(`${base}?${new URLSearchParams(query)}`);
    await page.waitForFunction(() => window.__ember !== undefined, null, { timeout: RUN_TIMEOUT_MS, polling: 250 }).catch((e: Error) => {
      throw new Error(`the page did not finish in ${RUN_TIMEOUT_MS} ms: ${e.message}\n${logs.join('\n')}`);
    });
    const out = await page.evaluate(() => window.__ember!);
    await page.close();
    if (!out.ok) throw new Error(`the page failed: ${out.error}\n${logs.join('\n')}`);
    console.log(`chromium run: ${Math.round(performance.now() - t0)} ms on ${JSON.stringify(out.run.adapter.info)}, features ${out.run.adapter.features.join(' ')}`);
    return out.run;
  }
});

async function startServer(): Promise<ViteDevServer> {
  const server = await createServer({
    configFile: false,
    root: join(REPO_ROOT, 'test/browser/page'),
    cacheDir: join(REPO_ROOT, 'node_modules/.cache/emberlm-browser-test-vite'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, hmr: false, fs: { allow: [REPO_ROOT, SHARED_MODELS, ...['granite4h', 'falcon_h1', 'qwen3_5', 'qwen3_moe', 'lfm2_moe', 'granite4h-moe'].map(hfOracleFolder), embeddingFolder(), embeddingGemmaFolder()] } },
    // Pre-bundle up front, so a dependency found mid-run never reloads the page.
    optimizeDeps: { noDiscovery: true, include: ['comlink', '@huggingface/jinja', '@huggingface/tokenizers'] },
  });
  await server.listen();
  return server;
}

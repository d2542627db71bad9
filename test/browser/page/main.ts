/**
 * The browser test's page (test/browser/worker.browser.test.ts serves it with vite): runs the model in
 * a worker through connectEngine and leaves what it saw in `window.__ember` for the test to read.
 * Query: ?model=<URL of the GGUF, or of a Hugging Face folder>&prompts=<JSON array>&maxTokens=<n>[&kv=<K/V cache type>]
 * [&quant=<scheme>&gpuQuantize=0|1][&json=1][&embed=1 | &embed=only[&promptName=<name>]] (only: an embedding model, which does not generate).
 */
import { connectEngine } from '../../../src/worker/index.ts';
import { EmberError } from '../../../src/errors.ts';

export interface BrowserRun {
  adapter: { features: string[]; info: Record<string, string> };
  progressCalls: number;
  greedy: { promptIds: number[]; ids: number[]; text: string }[];
  streamedIds: number[];
  streamedText: string;
  chatContent: string;
  chatStreamContent: string;
  /** With &json=1: a reply held to a JSON Schema (XGrammar's wasm in the worker), and why it ended. */
  json: { content: string; finish: string } | null;
  overflow: { isEmberError: boolean; code: string | null; message: string };
  abortedFinish: string;
  /** With &embed=1 or only: engine.embed(prompts), as plain arrays. */
  embeddings: number[][] | null;
}
declare global {
  interface Window { __ember?: { ok: true; run: BrowserRun } | { ok: false; error: string } }
}

const q = new URLSearchParams(location.search);
const GREEDY = { temperature: 0, topK: 0, topP: 1 };

async function run(): Promise<BrowserRun> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter in this page');
  const info = adapter.info as unknown as Record<string, string>;
  const engine = await connectEngine(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
  try {
    let progressCalls = 0;
    const kvCache = (q.get('kv') ?? undefined) as 'f32' | undefined;
    const quant = (q.get('quant') ?? undefined) as 'int8' | undefined;
    const gpuQuantize = q.has('gpuQuantize') ? q.get('gpuQuantize') === '1' : undefined;
    await engine.load(q.get('model')!, { contextLength: 256, kvCache, quant, gpuQuantize }, () => progressCalls++);
    const prompts = JSON.parse(q.get('prompts')!) as string[];
    const adapterRun = { features: [...adapter.features].sort(), info: { vendor: info.vendor, architecture: info.architecture, description: info.description } };
    if (q.get('embed') === 'only') {
      const { embeddings } = await engine.embed(prompts, { promptName: q.get('promptName') ?? undefined });
      const none = { greedy: [], streamedIds: [], streamedText: '', chatContent: '', chatStreamContent: '', json: null, overflow: { isEmberError: false, code: null, message: '' }, abortedFinish: '' };
      return { adapter: adapterRun, progressCalls, ...none, embeddings: embeddings.map((e) => Array.from(e)) };
    }
    const maxTokens = Number(q.get('maxTokens'));
    const greedy = [];
    for (const p of prompts) {
      const r = await engine.complete(p, { ...GREEDY, maxTokens });
      greedy.push({ promptIds: r.promptIds, ids: r.ids, text: r.text });
    }
    const streamedIds: number[] = [];
    let streamedText = '';
    for await (const t of engine.generate(prompts[0]!, { ...GREEDY, maxTokens })) {
      if (t.id >= 0) streamedIds.push(t.id);
      streamedText += t.text;
    }
    const messages = [{ role: 'user' as const, content: prompts[0]! }];
    const chat = await engine.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0 });
    let chatStreamContent = '';
    for await (const c of await engine.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0, stream: true })) {
      chatStreamContent += c.choices[0].delta.content ?? '';
    }
    let json: BrowserRun['json'] = null;
    if (q.get('json') === '1') {
      const schema = { type: 'object', properties: { name: { type: 'string', enum: ['Lily', 'Tom'] }, age: { type: 'integer', minimum: 1, maximum: 99 } }, required: ['name', 'age'] };
      const r = await engine.chat.completions.create({ messages, max_tokens: 40, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'kid', schema } } });
      json = { content: r.choices[0].message.content ?? '', finish: r.choices[0].finish_reason };
    }
    const embeddings = q.get('embed') === '1' ? (await engine.embed(prompts)).embeddings.map((e) => Array.from(e)) : null;
    let overflow: BrowserRun['overflow'] = { isEmberError: false, code: null, message: 'nothing was thrown' };
    try {
      await engine.complete('the cat sat. '.repeat(200), GREEDY);
    } catch (e) {
      overflow = { isEmberError: e instanceof EmberError, code: (e as EmberError).code ?? null, message: String((e as Error).message) };
    }
    const ac = new AbortController();
    const stream = engine.generate(prompts[0]!, { ...GREEDY, maxTokens: 200, signal: ac.signal });
    let n = 0;
    for await (const _ of stream) if (++n === 2) ac.abort();
    const abortedFinish = (await stream.result).finishReason;
    return {
      adapter: adapterRun,
      progressCalls, greedy, streamedIds, streamedText, chatContent: chat.choices[0].message.content ?? '', chatStreamContent, json, overflow, abortedFinish, embeddings,
    };
  } finally {
    engine.terminate();
  }
}

run().then(
  (r) => {
    window.__ember = { ok: true, run: r };
    document.getElementById('out')!.textContent = JSON.stringify(r, null, 1);
  },
  (e: unknown) => {
    window.__ember = { ok: false, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
    document.getElementById('out')!.textContent = window.__ember.error;
  },
);

/**
 * The worker API end to end in Node: serveEngine() in a worker_threads Worker (through comlink's
 * node-adapter), connectEngine() here. A worker thread cannot import our .ts (nor the `?raw` WGSL
 * imports) directly, so beforeAll bundles a tiny worker entry with vite, as `npm run build` bundles
 * the library, into node_modules/.cache (where `comlink` and `webgpu` still resolve).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { build, type Plugin } from 'vite';
import { connectEngine, type WorkerEngine } from '../src/worker/index.ts';
import { EmberError } from '../src/errors.ts';
import type { DeviceLostEvent, GeneratedToken } from '../src/engine.ts';
import { expectEmberError } from './helpers/errors.ts';
import { embeddingFolder, hfOracleFolder, REPO_ROOT, sharedModelPath } from './helpers/models.ts';
import { readOracle } from './helpers/oracle.ts';
import { standardHub, type MockHub } from './helpers/mock_hub.ts';
import { MISTRAL_CALL, mistralToolModel } from './helpers/bigram_model.ts';
import type { LoadProgress } from '../src/loader/progress.ts';

// per worktree: node_modules (and its .cache) is shared by every checkout on this machine
const OUT = join(REPO_ROOT, `node_modules/.cache/emberlm-test-worker-${basename(REPO_ROOT)}`);
const ENTRY = 'virtual:emberlm-node-worker';
const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const STORIES = 'stories260K/stories260K.gguf';
const oracle = readOracle('stories260K.llama-cpp.json').results;

/** The worker file a Node user would write. */
const entryPlugin: Plugin = {
  name: 'emberlm-node-worker-entry',
  resolveId: (id) => (id === ENTRY ? id : null),
  load: (id) => id !== ENTRY ? null : [
    "import { parentPort } from 'node:worker_threads';",
    "import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';",
    `import { serveEngine } from ${JSON.stringify(join(REPO_ROOT, 'src/node/worker.ts'))};`,
    'serveEngine({ endpoint: nodeEndpoint(parentPort) });',
  ].join('\n'),
};

async function buildWorker(): Promise<string> {
  await build({
    configFile: false, root: REPO_ROOT, logLevel: 'warn', plugins: [entryPlugin],
    build: {
      ssr: true, target: 'node20', outDir: OUT, emptyOutDir: true, minify: false,
      rollupOptions: { input: { worker: ENTRY }, external: [/^node:/, 'webgpu'], output: { format: 'es', entryFileNames: '[name].mjs' } },
    },
  });
  return join(OUT, 'worker.mjs');
}

async function drain(stream: AsyncIterable<GeneratedToken>): Promise<GeneratedToken[]> {
  const out: GeneratedToken[] = [];
  for await (const t of stream) out.push(t);
  return out;
}

const WEATHER_TOOL = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

describe('worker API over node:worker_threads', () => {
  let file: string;
  let worker: Worker;
  let engine: WorkerEngine;
  let hub: MockHub;
  let cacheRoot: string;
  beforeAll(async () => {
    file = await buildWorker();
    cacheRoot = await mkdtemp(join(tmpdir(), 'emberlm-worker-cache-'));
    hub = await standardHub().start();
    // EMBERLM_CACHE: the worker's default downloads cache (files/) and `cache: true` weight cache (weights/)
    worker = new Worker(file, { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', EMBERLM_CACHE: cacheRoot } });
    engine = await connectEngine(worker);
  });
  afterAll(async () => {
    await engine?.terminate(); // stops the worker thread too, once its model is disposed
    await hub?.stop();
    if (cacheRoot) await rm(cacheRoot, { recursive: true, force: true });
  });

  it('loads by path with progress, and reports the model', async () => {
    const progress: number[] = [];
    const info = await engine.load(sharedModelPath(STORIES), { contextLength: 256 }, (f) => progress.push(f));
    expect(info.config).toMatchObject({ arch: 'llama', vocab: 512, nLayer: 5 });
    expect(info.chatTemplate).toBeNull();
    expect(info.tokenizer).toEqual({ vocabSize: 512, bosId: 1, eosId: 2, addBos: true });
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBeCloseTo(1);
  });

  it("greedy ids equal llama.cpp's for every prompt; tokenize agrees", async () => {
    for (const o of oracle) {
      expect(await engine.tokenize(o.prompt)).toEqual(o.prompt_token_ids);
      const r = await engine.complete(o.prompt, { ...GREEDY, maxTokens: 32 });
      expect(r.promptIds).toEqual(o.prompt_token_ids);
      expect(r.ids, o.prompt).toEqual(o.generated_token_ids);
      expect(o.prompt + r.text).toBe(o.full_text);
    }
  });

  it('streams tokens through a callback; the iterator returns the result, as does .result', async () => {
    const o = oracle[1];
    const stream = engine.generate(o.prompt, { ...GREEDY, maxTokens: 32 });
    const tokens: GeneratedToken[] = [];
    let r = await stream.next();
    for (; !r.done; r = await stream.next()) tokens.push(r.value);
    const result = await stream.result;
    expect(r.value).toEqual(result);
    expect(tokens.filter((t) => t.id >= 0).map((t) => t.id)).toEqual(o.generated_token_ids);
    expect(tokens.map((t) => t.text).join('')).toBe(result.text);
    // `result` alone, without iterating
    expect((await engine.generate(o.prompt, { ...GREEDY, maxTokens: 32 }).result).ids).toEqual(o.generated_token_ids);
  });

  it("a page AbortSignal stops the worker's generation; breaking out of the loop does too", async () => {
    const ac = new AbortController();
    const stream = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 200, signal: ac.signal });
    let n = 0;
    for await (const _ of stream) if (++n === 3) ac.abort();
    const r = await stream.result;
    expect(r.finishReason).toBe('abort');
    expect(r.ids.length).toBeLessThan(200);
    expect((await engine.complete(oracle[0].prompt, { ...GREEDY, maxTokens: 200, signal: AbortSignal.abort() })).finishReason).toBe('abort');

    const broken = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 200 });
    for await (const _ of broken) break;
    expect((await broken.result).finishReason).toBe('abort');
    expect((await engine.complete(oracle[2].prompt, { ...GREEDY, maxTokens: 32 })).ids).toEqual(oracle[2].generated_token_ids);
  });

  it('EmberErrors cross the boundary with their code and details', async () => {
    const long = 'the cat sat. '.repeat(200);
    const e = await expectEmberError(() => engine.complete(long, GREEDY), 'CONTEXT_OVERFLOW', /context holds 256/);
    expect(e).toBeInstanceOf(EmberError);
    expect(e.details).toMatchObject({ nCtx: 256 });
    await expectEmberError(() => drain(engine.generate(long)), 'CONTEXT_OVERFLOW', /context holds 256/);
    await expectEmberError(() => engine.complete('x', { topP: 3 }), 'BAD_ARGUMENT', /sampling option topP must be in \(0, 1\] \(1 = off\), got 3/);
    await expectEmberError(() => engine.chat.completions.create({ messages: [] }), 'BAD_ARGUMENT', /messages must be/);
    const tooLong = [{ role: 'user' as const, content: long }];
    await expectEmberError(() => engine.chat.completions.create({ messages: tooLong, stream: true, context_overflow: 'error' }), 'CONTEXT_OVERFLOW', /context holds/);
    // chat_template_kwargs cross the boundary: stories260K has no template to read them
    await expectEmberError(() => engine.chat.completions.create({ messages: tooLong, chat_template_kwargs: { enable_thinking: false } }), 'BAD_ARGUMENT', /no chat template/);
  });

  it('chat completions: non-streaming, streaming with the same content, stop, abort', async () => {
    const o = oracle[0];
    const messages = [{ role: 'user' as const, content: o.prompt }];
    const full = await engine.chat.completions.create({ messages, max_tokens: 32, temperature: 0 });
    const counts = { prompt_tokens: 5, completion_tokens: 32, total_tokens: 37 };
    expect(full).toMatchObject({ object: 'chat.completion', choices: [{ finish_reason: 'length' }], usage: counts });
    expect(o.prompt + full.choices[0].message.content).toBe(o.full_text);
    const chunks = [];
    for await (const c of await engine.chat.completions.create({ messages, max_tokens: 32, temperature: 0, stream: true })) chunks.push(c);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(full.choices[0].message.content);
    expect(chunks.at(-1)!.usage).toMatchObject({ ...counts, prompt_tokens_details: { cached_tokens: 4 } }); // the same prompt again
    const stopped = await engine.chat.completions.create({ messages, max_tokens: 32, temperature: 0, stop: ['Lily'] });
    expect(stopped.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: ', there was a little girl named ' } });

    const ac = new AbortController();
    await expectEmberError(async () => {
      for await (const c of await engine.chat.completions.create({ messages, max_tokens: 200, temperature: 0, stream: true, signal: ac.signal })) {
        if (c.choices[0].delta.content) ac.abort();
      }
    }, 'ABORTED', /aborted/);
    await expectEmberError(() => engine.chat.completions.create({ messages, signal: AbortSignal.abort() }), 'ABORTED', /aborted/);
  });

  it('structured output in the worker: a reply held to a JSON Schema (XGrammar loads there)', async () => {
    const schema = { type: 'object', properties: { name: { type: 'string', enum: ['Lily', 'Tom'] }, age: { type: 'integer', minimum: 1, maximum: 99 } }, required: ['name', 'age'] };
    const r = await engine.chat.completions.create({
      messages: [{ role: 'user', content: oracle[0].prompt }], max_tokens: 40, temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'kid', schema } },
    });
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(JSON.parse(r.choices[0].message.content!)).toMatchObject({ name: expect.stringMatching(/^(Lily|Tom)$/), age: expect.any(Number) });
    const constraint = { allowed: async () => new Uint32Array(16), accept: () => {} };
    await expectEmberError(() => engine.complete('x', { constraint } as never), 'BAD_ARGUMENT', /constraint does not cross to a worker/);
  });

  it('loads from an ArrayBuffer by transfer (not copied), replacing the model', async () => {
    const bytes = readFileSync(sharedModelPath(STORIES));
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const info = await engine.load(buf, { contextLength: 64 });
    expect(buf.byteLength).toBe(0); // detached: it moved to the worker
    expect(info.config.vocab).toBe(512);
    await expectEmberError(() => engine.complete('the cat sat. '.repeat(20), GREEDY), 'CONTEXT_OVERFLOW', /context holds 64/);
    expect((await engine.complete(oracle[2].prompt, { ...GREEDY, maxTokens: 32 })).ids).toEqual(oracle[2].generated_token_ids);
  });

  it('loads with LoRA adapters given as bytes (test/fixtures/lora): llama.cpp\'s greedy ids with them', async () => {
    const lora = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/lora/lora.llama_cpp.json'), 'utf8')) as { runs: { base: string; setting: string; prompt: number[]; ids: number[] }[] };
    const run = lora.runs.find((r) => r.base === 'F32' && r.setting === 'wide@1')!;
    const adapter = new Uint8Array(readFileSync(resolve(import.meta.dirname, 'fixtures/lora/stories260K-lora-wide.gguf')));
    await engine.load(sharedModelPath(STORIES), { contextLength: 128, kvCache: 'f32', lora: [{ adapter }] });
    expect((await engine.complete(run.prompt, { ...GREEDY, maxTokens: 24 })).ids).toEqual(run.ids);
  });

  it('tools cross the boundary: a request with tools, tool_calls back, whole and streamed', async () => {
    const model = mistralToolModel();
    await engine.load(model.bytes.buffer as ArrayBuffer, { contextLength: 2048 });
    const request = { messages: [{ role: 'user' as const, content: 'Weather in Paris?' }], tools: [WEATHER_TOOL], temperature: 0 };
    const call = { id: MISTRAL_CALL.id, type: 'function', function: { name: MISTRAL_CALL.name, arguments: MISTRAL_CALL.arguments } };
    const r = await engine.chat.completions.create(request);
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [call] } });
    const chunks = [];
    for await (const c of await engine.chat.completions.create({ ...request, stream: true })) chunks.push(c);
    expect(chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? [])).toEqual([{ index: 0, ...call }]);
    await expectEmberError(() => engine.chat.completions.create({ ...request, tool_choice: 'sometimes' as never }), 'BAD_ARGUMENT', /tool_choice must be/);
  });

  it('loads by Hub id with byte progress, keeps the download, and a failed load (404) keeps the previous model answering', async () => {
    const events: LoadProgress[] = [];
    await engine.load('ember/stories260K-GGUF:Q8_0', { hubUrl: hub.url, contextLength: 256 }, (_f, _what, e) => events.push(e));
    const size = hub.bytesOf('ember/stories260K-GGUF', 'stories260K-Q8_0.gguf').length;
    expect(events.filter((e) => e.phase === 'download').at(-1)).toMatchObject({ loaded: size, total: size });
    const q8 = readOracle('stories260K-Q8_0.llama-cpp.json').results[0];
    expect((await engine.complete(q8.prompt, { ...GREEDY, maxTokens: 32 })).ids).toEqual(q8.generated_token_ids);
    const url = `${hub.url}/ember/stories260K-GGUF/resolve/main/stories260K-Q8_0.gguf`;
    expect(await engine.cache.list()).toEqual(expect.arrayContaining([expect.objectContaining({ url, complete: true, storedBytes: size })]));

    hub.requests.length = 0;
    await expectEmberError(() => engine.load('ember/no-such-model:Q8_0', { hubUrl: hub.url }), 'NETWORK', /no-such-model\/tree\/main: HTTP 404/);
    await expectEmberError(() => engine.load(`${hub.url}/ember/stories260K/resolve/main/missing.gguf`), 'NETWORK', /missing\.gguf: HTTP 404/);
    expect((await engine.complete(q8.prompt, { ...GREEDY, maxTokens: 32 })).ids).toEqual(q8.generated_token_ids);

    await engine.load('ember/stories260K-GGUF:Q8_0', { hubUrl: hub.url, contextLength: 256 });
    expect(hub.fileRequests(/Q8_0/)).toEqual([]); // the second load reads the cache
    expect(await engine.cache.delete(url)).toBe(1);
    expect((await engine.cache.list()).some((e) => e.url === url)).toBe(false);
  });

  it('a load aborted by a page AbortSignal is ABORTED, and the previous model keeps answering', async () => {
    const o = oracle[0];
    await engine.load(sharedModelPath(STORIES), { contextLength: 256 });
    await expectEmberError(() => engine.load(sharedModelPath(STORIES), { signal: AbortSignal.abort() }), 'ABORTED', /the load of .*stories260K\.gguf was aborted/);
    expect((await engine.complete(o.prompt, { ...GREEDY, maxTokens: 32 })).ids).toEqual(o.generated_token_ids);
  });

  it('a weight cache named by plain data (cache: true) is made in the worker and used by the next load', async () => {
    const o = oracle[0];
    // q4_0: converted on the CPU (the GPU's conversions are not cached)
    await engine.load(sharedModelPath(STORIES), { quant: 'q4_0', cache: true, contextLength: 256 });
    const first = (await engine.complete(o.prompt, { ...GREEDY, maxTokens: 32 })).ids;
    const written = async () => {
      const dir = join(cacheRoot, 'weights');
      return Object.fromEntries(await Promise.all((await readdir(dir)).map(async (f) => [f, (await stat(join(dir, f))).mtimeMs])));
    };
    const entries = await written();
    expect(Object.keys(entries).length).toBeGreaterThan(5);
    await engine.load(sharedModelPath(STORIES), { quant: 'q4_0', cache: true, contextLength: 256 });
    expect((await engine.complete(o.prompt, { ...GREEDY, maxTokens: 32 })).ids).toEqual(first);
    expect(await written()).toEqual(entries); // read, not written again
  });

  it("a lost device: the page gets 'devicelost', requests fail with DEVICE, recover() continues the conversation", async () => {
    const o = oracle[0];
    await engine.load(sharedModelPath(STORIES), { contextLength: 256 });
    const first = await engine.complete(o.prompt, { ...GREEDY, maxTokens: 10, stopAtEos: false });
    const lost = new Promise<string>((resolve) => engine.addEventListener('devicelost', (e) => resolve((e as DeviceLostEvent).reason), { once: true }));
    await engine.loseDevice();
    expect(await lost).toMatch(/destroyed/);
    await expectEmberError(() => engine.complete(o.prompt, GREEDY), 'DEVICE', /device was lost/);
    await engine.recover();
    const prompt = [...first.promptIds, ...first.ids];
    const rest = await engine.complete(prompt, { ...GREEDY, maxTokens: 22, stopAtEos: false });
    expect(rest.stats.cachedTokens).toBe(prompt.length - 1); // the history ran again on the new device
    expect([...first.ids, ...rest.ids]).toEqual(o.generated_token_ids.slice(0, 32));
  });

  it("embeddings cross the boundary: embed's Float32Arrays and embeddings.create's lists and base64 equal transformers'", async () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/qwen3_embedding/qwen3_embedding.transformers.json'), 'utf8')) as { prompts: { text: string; embedding: number[] }[] };
    const info = await engine.load(embeddingFolder(), { contextLength: 128, kvCache: 'f32' });
    const near = (e: ArrayLike<number>, want: number[]) => want.every((v, i) => Math.abs(e[i] - v) < 2e-6);
    const r = await engine.embed(o.prompts.map((p) => p.text));
    expect(r.embeddings.every((e, i) => e instanceof Float32Array && near(e, o.prompts[i].embedding))).toBe(true);
    const res = await engine.embeddings.create({ input: [o.prompts[0].text, o.prompts[2].text] });
    expect(res).toMatchObject({ object: 'list', model: info.config.name, usage: { prompt_tokens: expect.any(Number) } });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(near(res.data[1].embedding as number[], o.prompts[2].embedding)).toBe(true);
    const b64 = await engine.embeddings.create({ input: o.prompts[0].text, encoding_format: 'base64' });
    const bytes = Uint8Array.from(atob(b64.data[0].embedding as string), (c) => c.charCodeAt(0));
    expect(near(new Float32Array(bytes.buffer), o.prompts[0].embedding)).toBe(true);
    const ac = new AbortController();
    ac.abort();
    await expectEmberError(() => engine.embed(o.prompts[0].text, { signal: ac.signal }), 'ABORTED', /aborted before it was sent/);
    const later = new AbortController();
    const running = engine.embed(Array(200).fill(o.prompts[3].text), { signal: later.signal });
    setTimeout(() => later.abort(), 20);
    await expectEmberError(() => running, 'ABORTED', /the embedding was aborted after \d+ of 200 inputs/);
    await expectEmberError(() => engine.embeddings.create({ input: 'a', encoding_format: 'hex' as 'float' }), 'BAD_ARGUMENT', /encoding_format must be 'float' or 'base64'/);
  });

  it("rerank crosses the boundary: transformers' scores, and an abort before or while it runs", async () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/qwen3_reranker/qwen3_reranker.transformers.json'), 'utf8')) as { cases: { instruction: string | null; query: string; document: string; score: number }[] };
    await engine.load(hfOracleFolder('llama-smollm2-bf16'), { contextLength: 256, kvCache: 'f32', quant: 'f32' });
    const cases = o.cases.filter((c) => c.query === o.cases[0].query && c.instruction === null);
    const progress: [number, number][] = [];
    const r = await engine.rerank(cases[0].query, cases.map((c) => c.document), { onProgress: (done, total) => void progress.push([done, total]) });
    r.scores.forEach((s, i) => expect(Math.abs(s - cases[i].score)).toBeLessThan(1e-6));
    expect(progress).toEqual(cases.map((_, i) => [i + 1, cases.length])); // every call before the result
    const ac = new AbortController();
    ac.abort();
    await expectEmberError(() => engine.rerank('q', ['a'], { signal: ac.signal }), 'ABORTED', /the reranking was aborted before it was sent/);
    const later = new AbortController();
    const running = engine.rerank('q', Array.from({ length: 200 }, (_, i) => `document ${i}`), { signal: later.signal });
    setTimeout(() => later.abort(), 20);
    await expectEmberError(() => running, 'ABORTED', /the reranking was aborted after \d+ of 200 inputs/);
  });

  it('dispose frees the model (a running stream ends with ABORTED, as locally); then calls say so; terminate ends the worker', async () => {
    await expectEmberError(() => engine.chat.completions.create(null as never), 'BAD_ARGUMENT', /request must be an object/);
    const s = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 100, stopAtEos: false });
    await s.next();
    await engine.dispose();
    await expectEmberError(() => s.result, 'ABORTED', /disposed/);
    await expectEmberError(() => engine.tokenize('x'), 'BAD_ARGUMENT', /no model is loaded/);
    const other = await connectEngine(new Worker(file));
    const stopped = other.terminate();
    await expectEmberError(() => other.tokenize('x'), 'ABORTED', /terminated/);
    await stopped;
  });
});

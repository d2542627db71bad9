/**
 * Loading by Hugging Face Hub id, from a local mock of the Hub's URL layout (test/helpers/mock_hub.ts),
 * with downloads kept in a cache folder: each id form loads and gives llama.cpp's (or transformers')
 * greedy ids; a second load makes no request; an interrupted download resumes by Range; a truncated or
 * corrupt entry is not served; 404, an HTML answer and a refused connection are typed errors naming the URL.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { parseHubId, pickQuantFile, type TreeEntry } from '../src/loader/hub_id.ts';
import type { FileCache } from '../src/loader/file_cache.ts';
import { nodeFileCache } from '../src/loader/node_cache.ts';
import type { LoadProgress } from '../src/loader/progress.ts';
import { sha256 } from '../src/loader/sha256.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { standardHub, type MockHub } from './helpers/mock_hub.ts';
import { embeddingGemmaFolder, REPO_ROOT, sharedModelPath } from './helpers/models.ts';
import { readOracle } from './helpers/oracle.ts';

/** A URL where nothing listens: a port that was free a moment ago. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const GREEDY = { temperature: 0, topK: 0, topP: 1, maxTokens: 32 };

describe('Hub ids', () => {
  it('parses the three forms, with @revision after the name or at the end', () => {
    expect(parseHubId('HuggingFaceTB/SmolLM2-135M-Instruct')).toEqual({ repo: 'HuggingFaceTB/SmolLM2-135M-Instruct', revision: 'main', dir: '' });
    expect(parseHubId('org/name@v1.0')).toEqual({ repo: 'org/name', revision: 'v1.0', dir: '' });
    expect(parseHubId('org/name/sub/model-Q8_0.gguf')).toEqual({ repo: 'org/name', revision: 'main', file: 'sub/model-Q8_0.gguf' });
    expect(parseHubId('org/name@abc123/model.gguf')).toEqual({ repo: 'org/name', revision: 'abc123', file: 'model.gguf' });
    expect(parseHubId('org/name/model.gguf@refs/pr/1')).toEqual({ repo: 'org/name', revision: 'refs/pr/1', file: 'model.gguf' });
    expect(parseHubId('org/name:Q4_K_M')).toEqual({ repo: 'org/name', revision: 'main', quant: 'Q4_K_M' });
    expect(parseHubId('org/name:Q4_K_M@dev')).toEqual({ repo: 'org/name', revision: 'dev', quant: 'Q4_K_M' });
    expect(parseHubId('hf://org/name/sub/')).toEqual({ repo: 'org/name', revision: 'main', dir: 'sub/' });
    expect(parseHubId('org/name/sub/config.json')).toEqual({ repo: 'org/name', revision: 'main', dir: 'sub/' });
  });

  it('leaves URLs and paths alone, and rejects what is neither', async () => {
    for (const s of ['https://x.org/a/b', '/models/a/b.gguf', './a/b', '../a/b', '~/a/b', 'C:\\models\\a.gguf', 'models/stories.gguf', 'file:///a/b']) {
      expect(parseHubId(s), s).toBeNull();
    }
    await expectEmberError(() => parseHubId('hf:org'), 'BAD_ARGUMENT', /not a Hub id/);
    await expectEmberError(() => parseHubId('org/name@a/x.gguf@b'), 'BAD_ARGUMENT', /two revisions/);
    await expectEmberError(() => parseHubId('org/name/../x.gguf'), 'BAD_ARGUMENT', /\.\. segments/);
  });

  it('picks the file whose name carries the quant as a whole token', async () => {
    const files = ['a-Q4_K_M.gguf', 'a-Q4_K.gguf', 'a.Q8_0.gguf', 'sub/a-Q4_K_M.gguf', 'README.md'].map((path): TreeEntry => ({ type: 'file', path }));
    expect(pickQuantFile(files, 'Q4_K', 'r').path).toBe('a-Q4_K.gguf');
    expect(pickQuantFile(files, 'q4_k_m', 'r').path).toBe('a-Q4_K_M.gguf');
    expect(pickQuantFile(files, 'Q8_0', 'r').path).toBe('a.Q8_0.gguf');
    await expectEmberError(() => pickQuantFile(files, 'Q5_K', 'org/x@main'), 'BAD_ARGUMENT', /org\/x@main: no \.gguf file .*Q5_K.*a-Q4_K_M\.gguf/);
    await expectEmberError(() => pickQuantFile([{ type: 'file', path: 'm-Q2_K-00001-of-00002.gguf' }], 'Q2_K', 'r'), 'UNSUPPORTED', /split GGUF/);
  });

  it('sha256 streams: equal to node:crypto for awkward sizes and chunkings', () => {
    const rand = mulberry32(7);
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_001]) {
      const bytes = Uint8Array.from({ length: n }, () => (rand() * 256) | 0);
      const h = sha256();
      for (let o = 0; o < n; ) {
        const k = 1 + ((rand() * 97) | 0);
        h.update(bytes.subarray(o, o + k));
        o += k;
      }
      expect(h.digest(), `n=${n}`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });
});

describe('loading from a mock Hub with a download cache', () => {
  let hub: MockHub;
  let dir: string;
  let cache: FileCache;
  beforeAll(async () => {
    hub = await standardHub().start();
    dir = await mkdtemp(join(tmpdir(), 'emberlm-hub-'));
  });
  afterAll(async () => {
    await hub?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await rm(join(dir, 'cache'), { recursive: true, force: true });
    cache = nodeFileCache(join(dir, 'cache'));
    hub.requests.length = 0;
  });
  const load = async (id: string, extra: Parameters<typeof Engine.load>[1] = {}) =>
    Engine.load(id, { hubUrl: hub.url, fileCache: cache, gpu: await testGpu(), contextLength: 256, ...extra });

  async function expectOracle(engine: Engine, oracleFile: string): Promise<void> {
    for (const o of readOracle(oracleFile).results) {
      const r = await engine.complete(o.prompt, GREEDY);
      expect(r.promptIds, o.prompt).toEqual(o.prompt_token_ids);
      expect(r.ids, o.prompt).toEqual(o.generated_token_ids);
    }
  }

  it("org/name:Q8_0 finds the file through the listing, gives llama.cpp's ids, and loads again with no request", async () => {
    const events: LoadProgress[] = [];
    const e1 = await load('ember/stories260K-GGUF:Q8_0', { onProgress: (_f, _w, e) => events.push(e) });
    try {
      await expectOracle(e1, 'stories260K-Q8_0.llama-cpp.json');
    } finally {
      e1.dispose();
    }
    expect(hub.requests.map((r) => r.path)).toEqual([
      '/api/models/ember/stories260K-GGUF/tree/main',
      '/ember/stories260K-GGUF/resolve/main/stories260K-Q8_0.gguf',
    ]);
    const size = hub.bytesOf('ember/stories260K-GGUF', 'stories260K-Q8_0.gguf').length;
    const downloads = events.filter((e) => e.phase === 'download');
    expect(downloads.at(-1)).toMatchObject({ loaded: size, total: size });
    expect(downloads.every((e) => e.what.endsWith('stories260K-Q8_0.gguf'))).toBe(true);
    expect(events.map((e) => e.phase)).toEqual(expect.arrayContaining(['download', 'parse', 'upload']));
    expect(events.at(-1)!.fraction).toBe(1);
    expect(events.every((e, i) => i === 0 || e.fraction >= events[i - 1].fraction)).toBe(true);

    hub.requests.length = 0;
    const e2 = await load('ember/stories260K-GGUF:Q8_0');
    e2.dispose();
    expect(hub.requests).toEqual([]);
    expect((await cache.list()).map((e) => [e.url.replace(hub.url, ''), e.complete, e.storedBytes])).toEqual(expect.arrayContaining([
      ['/ember/stories260K-GGUF/resolve/main/stories260K-Q8_0.gguf', true, size],
    ]));
  });

  it("org/name/path/file.gguf and @revision load one file; greedy ids equal llama.cpp's", async () => {
    const engine = await load('ember/stories260K@v1/gguf/stories260K.gguf');
    try {
      await expectOracle(engine, 'stories260K.llama-cpp.json');
    } finally {
      engine.dispose();
    }
    expect(hub.fileRequests().map((r) => r.path)).toEqual(['/ember/stories260K/resolve/v1/gguf/stories260K.gguf']);
  });

  it("org/name loads a Hugging Face folder: transformers' greedy ids; the second load makes no request", async () => {
    const engine = await load('ember/llama-gqa');
    try {
      const oracle = JSON.parse(readFileSync(sharedModelPath('hf-oracle/llama-gqa.transformers.json'), 'utf8'));
      for (const p of oracle.prompts.slice(0, 3)) {
        const r = await engine.complete(p.prompt, { ...GREEDY, stopAtEos: false });
        expect(r.promptIds, p.prompt).toEqual(p.prompt_ids);
        expect(r.ids, p.prompt).toEqual(p.generated_ids);
      }
      expect(engine.config.name).toBe('llama-gqa');
    } finally {
      engine.dispose();
    }
    const fetched = hub.fileRequests().map((r) => r.path.split('/').pop()).sort();
    expect(fetched).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    hub.requests.length = 0;
    (await load('ember/llama-gqa')).dispose();
    expect(hub.requests).toEqual([]);
  });

  it('org/name loads a sentence-transformers folder: its modules from the subfolders the listing names', async () => {
    const folder = embeddingGemmaFolder();
    const files = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', 'config_sentence_transformers.json',
      '1_Pooling/config.json', '2_Dense/config.json', '2_Dense/model.safetensors', '3_Dense/config.json', '3_Dense/model.safetensors'];
    hub.repo('ember/embeddinggemma-tiny', files.map((path) => ({ path, fixture: join(folder, path) })));
    const oracle = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/embeddinggemma/embeddinggemma.sentence_transformers.json'), 'utf8'));
    const engine = await load('ember/embeddinggemma-tiny', { contextLength: 64, kvCache: 'f32' });
    try {
      const [e] = (await engine.embed(oracle.prompts[0].text)).embeddings;
      expect(Math.max(...Array.from(e, (v, i) => Math.abs(v - oracle.prompts[0].embedding[i])))).toBeLessThan(2e-5);
    } finally {
      await engine.dispose();
    }
    expect(hub.fileRequests().map((r) => r.path.replace('/ember/embeddinggemma-tiny/resolve/main/', '')).sort()).toEqual([...files].sort());
  });

  it('a gated repo: refused without a token (NETWORK 401 naming hubToken), loaded with one; the token goes to the Hub alone', async () => {
    hub.gated.set('ember/llama-gqa', 'hf_s3cret');
    try {
      const err = await expectEmberError(() => load('ember/llama-gqa'), 'NETWORK', /HTTP 401 \(access denied: the model may be gated or private: .*hubToken \(the CLI reads HF_TOKEN\)\)/);
      expect(err.message).not.toMatch(/s3cret/);
      await expectEmberError(() => load('ember/llama-gqa', { hubToken: 'wrong' }), 'NETWORK', /HTTP 401/);
      hub.requests.length = 0;
      const engine = await load('ember/llama-gqa', { hubToken: 'hf_s3cret' });
      expect(engine.config.name).toBe('llama-gqa');
      await engine.dispose();
      expect(hub.requests.length).toBeGreaterThan(0);
      expect(hub.requests.every((r) => r.auth)).toBe(true);
      // A URL is not a Hub id: the token is not sent with it
      hub.requests.length = 0;
      await rm(join(dir, 'cache'), { recursive: true, force: true });
      const byUrl = await load(`${hub.url}/ember/stories260K/resolve/main/gguf/stories260K.gguf`, { hubToken: 'hf_s3cret', fileCache: false });
      await byUrl.dispose();
      expect(hub.requests.length).toBeGreaterThan(0);
      expect(hub.requests.some((r) => r.auth)).toBe(false);
      await expectEmberError(() => load('ember/llama-gqa', { hubToken: 42 as never }), 'BAD_ARGUMENT', /hubToken must be a non-empty string \(a Hugging Face access token\), got "a number"/);
    } finally {
      hub.gated.delete('ember/llama-gqa');
    }
  });

  it('an interrupted download resumes with a Range request, and the file is whole', async () => {
    const file = '/ember/stories260K-GGUF/resolve/main/stories260K-F16.gguf';
    const url = hub.url + file;
    const bytes = hub.bytesOf('ember/stories260K-GGUF', 'stories260K-F16.gguf');
    hub.cutAfter.set(file, 200_000);
    await expectEmberError(() => load('ember/stories260K-GGUF:F16'), 'NETWORK', new RegExp(`${url}: the download stopped after \\d+ of ${bytes.length} bytes.*resumes`));
    const [partial] = (await cache.list()).filter((e) => e.url === url);
    expect(partial).toMatchObject({ complete: false, size: bytes.length });
    expect(partial.storedBytes).toBeGreaterThan(0);

    hub.requests.length = 0;
    const engine = await load('ember/stories260K-GGUF:F16');
    try {
      await expectOracle(engine, 'stories260K-F16.llama-cpp.json');
    } finally {
      engine.dispose();
    }
    expect(hub.fileRequests()).toEqual([{ method: 'GET', path: file, range: `bytes=${partial.storedBytes}-` }]);
    const src = await cache.open(url);
    expect(Buffer.from(await src.read(0, src.size)).equals(Buffer.from(bytes))).toBe(true);
    await src.close?.();
  });

  it('a truncated or damaged cache entry is downloaded again, never served', async () => {
    const url = `${hub.url}/ember/stories260K/resolve/main/gguf/stories260K.gguf`;
    (await load('ember/stories260K/gguf/stories260K.gguf')).dispose();
    const files = await readdir(join(dir, 'cache', 'files'));
    const bin = files.find((f) => f.endsWith('.bin') && readFileSync(join(dir, 'cache', 'files', f)).length > 100_000)!;
    await truncate(join(dir, 'cache', 'files', bin), 1000);
    hub.requests.length = 0;
    (await load('ember/stories260K/gguf/stories260K.gguf')).dispose();
    expect(hub.fileRequests().map((r) => [r.path.split('/').pop(), r.range])).toEqual([['stories260K.gguf', null]]);
    expect((await cache.list()).find((e) => e.url === url)).toMatchObject({ complete: true, storedBytes: 1185376 });

    await writeFile(join(dir, 'cache', 'files', bin.replace(/\.bin$/, '.json')), '{ not json');
    hub.requests.length = 0;
    const engine = await load('ember/stories260K/gguf/stories260K.gguf');
    engine.dispose();
    expect(hub.fileRequests().length).toBe(1);
  });

  it('bytes that do not match the listing sha256 are a BAD_FILE and are not kept', async () => {
    const file = '/ember/stories260K-GGUF/resolve/main/stories260K-Q4_0.gguf';
    hub.corrupt.add(file);
    try {
      await expectEmberError(() => load('ember/stories260K-GGUF:Q4_0'), 'BAD_FILE', /stories260K-Q4_0\.gguf: sha256 of the download is [0-9a-f]{64}, expected [0-9a-f]{64}/);
    } finally {
      hub.corrupt.delete(file);
    }
    expect((await cache.list()).some((e) => e.url.endsWith('Q4_0.gguf'))).toBe(false);
    const engine = await load('ember/stories260K-GGUF:Q4_0');
    try {
      await expectOracle(engine, 'stories260K-Q4_0.llama-cpp.json');
    } finally {
      engine.dispose();
    }
  });

  it('404, an HTML answer and a refused connection are typed errors naming the URL', async () => {
    await expectEmberError(() => load('ember/no-such-repo'), 'NETWORK', new RegExp(`ember/no-such-repo@main: not found on ${hub.url} \\(HTTP 404 for its listing and its config\\.json\\): check the repo id`));
    await expectEmberError(() => load('ember/no-such-repo:Q8_0'), 'NETWORK', new RegExp(`${hub.url}/api/models/ember/no-such-repo/tree/main: HTTP 404 \\(not found`));
    await expectEmberError(() => load('ember/stories260K/gguf/missing.gguf'), 'NETWORK', /resolve\/main\/gguf\/missing\.gguf: ember\/stories260K@main has no file gguf\/missing\.gguf \(it has: gguf\/stories260K\.gguf\)/);
    await expectEmberError(() => load('ember/stories260K-GGUF:Q8_0@nope'), 'NETWORK', /tree\/nope: HTTP 404/);
    await expectEmberError(() => load('ember/stories260K-GGUF:Q5_K_M'), 'BAD_ARGUMENT', /no \.gguf file whose name carries Q5_K_M \(the repo has: stories260K-F16\.gguf/);
    await expectEmberError(() => load(`${hub.url}/ember/stories260K/resolve/main/nothing.gguf`), 'NETWORK', /nothing\.gguf: HTTP 404/);

    const page = '/ember/stories260K/resolve/main/gguf/stories260K.gguf';
    hub.html.add(page);
    try {
      await expectEmberError(() => load('ember/stories260K/gguf/stories260K.gguf'), 'BAD_FILE', new RegExp(`${hub.url}${page}: the server answered with an HTML page, not a GGUF file`));
      await expectEmberError(() => load(hub.url + page, { fileCache: false }), 'BAD_FILE', /HTML page, not a model file/);
    } finally {
      hub.html.delete(page);
    }
    const closed = await closedPortUrl();
    await expectEmberError(() => load('ember/stories260K-GGUF:Q8_0', { hubUrl: closed }), 'NETWORK', new RegExp(`${closed}/api/models/ember/stories260K-GGUF/tree/main: no answer \\(the connection was refused`));
    await expectEmberError(() => load(`${closed}/x.gguf`, { fileCache: false }), 'NETWORK', new RegExp(`${closed}/x\\.gguf: no answer \\(the connection was refused`));
  });

  it('a server that states no length: the download ends with the body, and without a cache the file is read whole', async () => {
    const file = '/ember/stories260K/resolve/main/gguf/stories260K.gguf';
    hub.noLength.add(file);
    try {
      const totals = new Set<number | null>();
      const engine = await load(hub.url + file, { onProgress: (_f, _w, e) => e.phase === 'download' && totals.add(e.total) });
      try {
        await expectOracle(engine, 'stories260K.llama-cpp.json');
      } finally {
        engine.dispose();
      }
      expect([...totals]).toEqual([null]);
      expect((await cache.list()).find((e) => e.url === hub.url + file)).toMatchObject({ complete: true, size: 1185376, storedBytes: 1185376 });
      hub.requests.length = 0;
      (await load(hub.url + file, { fileCache: false })).dispose();
      expect(hub.fileRequests().map((r) => [r.method, r.range])).toEqual([['HEAD', null], ['GET', null]]);
    } finally {
      hub.noLength.delete(file);
    }
  });

  it('two loads of one file at once download it once', async () => {
    const [a, b] = await Promise.all([load('ember/stories260K-GGUF:Q8_0'), load('ember/stories260K-GGUF:Q8_0')]);
    a.dispose();
    b.dispose();
    expect(hub.fileRequests().length).toBe(1);
  });

  it('without a cache (fileCache: false) a Hub file is read by Range requests, and nothing is kept', async () => {
    const engine = await load('ember/stories260K-GGUF:Q8_0', { fileCache: false });
    engine.dispose();
    const reads = hub.fileRequests();
    expect(reads[0].method).toBe('HEAD');
    expect(reads.slice(1).every((r) => r.range !== null)).toBe(true);
    expect(await cache.list()).toEqual([]);
  });

  it('list, size and delete the entries', async () => {
    (await load('ember/stories260K-GGUF:Q8_0')).dispose();
    const entries = await cache.list();
    expect(entries.length).toBe(2); // the listing and the file
    expect(await cache.size()).toBe(entries.reduce((s, e) => s + e.storedBytes, 0));
    expect(await cache.delete(`${hub.url}/ember/stories260K-GGUF/resolve/main/`)).toBe(1);
    expect((await cache.list()).map((e) => e.url)).toEqual([`${hub.url}/api/models/ember/stories260K-GGUF/tree/main`]);
    expect(await cache.clear()).toBe(1);
    expect(await cache.size()).toBe(0);
  });
});

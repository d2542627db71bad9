/**
 * The Hub test's page (test/browser/hub.browser.test.ts): loads a model by Hub id from the mock Hub
 * in a worker and leaves what it saw in `window.__ember`. Query: hub, id, prompts (JSON), maxTokens,
 * refused (a URL where nothing listens), and first=1 on the first page load (which expects the mock
 * to cut the first download short, then resumes it).
 */
import { connectEngine } from '../../../src/worker/index.ts';
import type { CacheEntry } from '../../../src/loader/file_cache.ts';

export interface CaughtError { code: string | null; message: string }
export interface HubRun {
  interrupted: CaughtError | null;
  downloadEvents: { loaded: number; total: number | null }[];
  greedy: number[][];
  notFound: CaughtError | null;
  afterFailedLoad: number[];
  refused: CaughtError | null;
  entries: CacheEntry[];
}
/** What the test reads (not declared on Window: test/browser/page declares it with its own type). */
const done = (v: { ok: true; run: HubRun } | { ok: false; error: string }) => ((window as unknown as { __ember: typeof v }).__ember = v);

const q = new URLSearchParams(location.search);
const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const caught = (e: unknown): CaughtError => ({ code: (e as { code?: string }).code ?? null, message: String((e as Error).message) });

async function run(): Promise<HubRun> {
  const engine = await connectEngine(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
  const hubUrl = q.get('hub')!;
  const id = q.get('id')!;
  const prompts = JSON.parse(q.get('prompts')!) as string[];
  const maxTokens = Number(q.get('maxTokens'));
  const out: HubRun = { interrupted: null, downloadEvents: [], greedy: [], notFound: null, afterFailedLoad: [], refused: null, entries: [] };
  try {
    if (q.get('first')) await engine.load(id, { hubUrl, contextLength: 256 }).catch((e) => (out.interrupted = caught(e)));
    await engine.load(id, { hubUrl, contextLength: 256 }, (_f, _what, e) => {
      if (e.phase === 'download') out.downloadEvents.push({ loaded: e.loaded, total: e.total });
    });
    for (const p of prompts) out.greedy.push((await engine.complete(p, { ...GREEDY, maxTokens })).ids);
    if (q.get('first')) {
      await engine.load('ember/no-such-model:Q8_0', { hubUrl }).catch((e) => (out.notFound = caught(e)));
      out.afterFailedLoad = (await engine.complete(prompts[0]!, { ...GREEDY, maxTokens })).ids;
      await engine.load(`${q.get('refused')}/model.gguf`).catch((e) => (out.refused = caught(e)));
    }
    out.entries = await engine.cache.list();
    return out;
  } finally {
    engine.terminate();
  }
}

run().then(
  (r) => {
    done({ ok: true, run: r });
    document.getElementById('out')!.textContent = JSON.stringify(r, null, 1);
  },
  (e: unknown) => {
    const error = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
    done({ ok: false, error });
    document.getElementById('out')!.textContent = error;
  },
);

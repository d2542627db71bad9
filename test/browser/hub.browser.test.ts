/**
 * Loading by Hub id in a real browser (chromium + SwiftShader, test/browser/chromium.ts): the page's
 * worker loads stories260K Q8_0 as `ember/stories260K-GGUF:Q8_0` from the mock Hub (another origin, so
 * through CORS), keeping it in Cache Storage. The first page load sees its download cut short and
 * resumes it by Range; greedy ids equal llama.cpp's; a 404 load leaves the model answering; a refused
 * connection is a NETWORK error naming the URL. A second page load makes no request at all.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { createServer as createViteServer, type ViteDevServer } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { standardHub, type MockHub } from '../helpers/mock_hub.ts';
import { REPO_ROOT } from '../helpers/models.ts';
import { readOracle } from '../helpers/oracle.ts';
import { collectLogs, launchChromium, type Chromium } from './chromium.ts';
import type { HubRun } from './hub_page/main.ts';

const RUN_TIMEOUT_MS = 150_000;
const PART = 64 << 10; // test/browser/hub_page/worker.ts stores downloads in parts of this size
const oracle = readOracle('stories260K-Q8_0.llama-cpp.json').results;

async function closedPortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/** Opens the page with `query` in a new tab of the browser's profile; resolves to its `window.__ember.run`. */
async function runPage<T>(browser: Chromium, base: string, query: URLSearchParams): Promise<T> {
  const page = await browser.context.newPage();
  const logs = collectLogs(page);
  try {
    await page.goto(`${base}?${query}`);
    await page.waitForFunction(() => (window as { __ember?: unknown }).__ember !== undefined, null, { timeout: RUN_TIMEOUT_MS, polling: 250 }).catch((e: Error) => {
      throw new Error(`the page did not finish in ${RUN_TIMEOUT_MS} ms: ${e.message}\n${logs.join('\n')}`);
    });
    const out = await page.evaluate(() => (window as { __ember?: { ok: boolean; run?: unknown; error?: string } }).__ember!);
    if (!out.ok) throw new Error(`the page failed: ${out.error}\n${logs.join('\n')}`);
    return out.run as T;
  } finally {
    await page.close();
  }
}

describe('Hub ids in chromium, with Cache Storage', () => {
  let hub: MockHub | undefined;
  let server: ViteDevServer | undefined;
  let browser: Chromium | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.stop();
  });

  it("loads by Hub id (resuming a cut download), gives llama.cpp's ids, and a second page load makes no request", async () => {
    // Launched here rather than in a hook, so that a missing browser counts as a failed test, not a skipped one.
    browser = await launchChromium();
    hub = await standardHub().start();
    server = await createViteServer({
      configFile: false,
      root: join(REPO_ROOT, 'test/browser/hub_page'),
      // its own optimized deps: node_modules (and its .cache) is shared by every worktree of this machine
      cacheDir: join(REPO_ROOT, `node_modules/.cache/emberlm-hub-test-vite-${basename(REPO_ROOT)}`),
      logLevel: 'warn',
      server: { host: '127.0.0.1', port: 0, hmr: false, fs: { allow: [REPO_ROOT] } }, // 127.0.0.1: a secure context, with Cache Storage
      optimizeDeps: { noDiscovery: true, include: ['comlink', '@huggingface/jinja', '@huggingface/tokenizers'] },
    });
    await server.listen();
    const base = server.resolvedUrls!.local[0]!;
    const file = '/ember/stories260K-GGUF/resolve/main/stories260K-Q8_0.gguf';
    const size = hub.bytesOf('ember/stories260K-GGUF', 'stories260K-Q8_0.gguf').length;
    const cut = 200_000;
    hub.cutAfter.set(file, cut);
    const refused = await closedPortUrl();
    const query = (extra: Record<string, string>) => new URLSearchParams({
      hub: hub!.url, id: 'ember/stories260K-GGUF:Q8_0', prompts: JSON.stringify(oracle.map((o) => o.prompt)), maxTokens: '32', ...extra,
    });

    const first = await runPage<HubRun>(browser, base, query({ first: '1', refused }));
    expect(first.interrupted?.code, first.interrupted?.message).toBe('NETWORK');
    expect(first.interrupted!.message).toMatch(new RegExp(`${hub.url}${file}: the download stopped after \\d+ of ${size} bytes`));
    // the resume starts at the last whole part that arrived before the cut
    const ranges = hub.fileRequests(/Q8_0/).map((r) => r.range);
    expect(ranges).toEqual([null, expect.stringMatching(/^bytes=\d+-$/)]);
    const resumedFrom = Number(/\d+/.exec(ranges[1]!)![0]);
    expect(resumedFrom % PART).toBe(0);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(cut);
    expect(first.downloadEvents[0]).toEqual({ loaded: resumedFrom, total: size });
    expect(first.downloadEvents.at(-1)).toEqual({ loaded: size, total: size });
    first.greedy.forEach((ids, i) => expect(ids, oracle[i].prompt).toEqual(oracle[i].generated_token_ids));
    expect(first.notFound?.code).toBe('NETWORK');
    expect(first.notFound!.message).toMatch(/api\/models\/ember\/no-such-model\/tree\/main: HTTP 404/);
    expect(first.afterFailedLoad).toEqual(oracle[0].generated_token_ids);
    expect(first.refused?.code).toBe('NETWORK');
    expect(first.refused!.message).toMatch(new RegExp(`${refused}/model\\.gguf: no answer \\(.*CORS`));
    expect(first.entries.find((e) => e.url === hub!.url + file)).toMatchObject({ complete: true, storedBytes: size });

    hub.requests.length = 0;
    const second = await runPage<HubRun>(browser, base, query({}));
    second.greedy.forEach((ids, i) => expect(ids, oracle[i].prompt).toEqual(oracle[i].generated_token_ids));
    expect(second.downloadEvents).toEqual([]);
    expect(hub.requests).toEqual([]); // neither the listing nor the weights
  }, 400_000);
});

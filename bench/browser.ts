/**
 * Runs one of the bench pages in Debian's chromium on SwiftShader (the browser's CPU adapter), the way
 * the browser tests launch it, and prints what the page leaves in window.__bench. The page reads its
 * settings from the query string.
 *
 *   npx tsx bench/browser.ts loads                                  (bench/loads/: load paths)
 *   npx tsx bench/browser.ts . 'synthetic=smollm2-135m&gen=16'       (bench/index.html: the harness)
 *   npx tsx bench/browser.ts . 'embed=1&url=/@fs/tmp/minilm/&prompt=8,16&inputs=32&batch=on,off&repeats=3&quant=auto&run=1'
 */
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { writeFileSync } from 'node:fs';
import { createServer } from 'vite';
import { collectLogs, launchChromium } from '../test/browser/chromium.ts';

const REPO = join(import.meta.dirname, '..');
const [page = '.', query = '', save] = process.argv.slice(2);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 1800) * 1e3;

const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');
console.log(`load average: ${load()}`);
const server = await createServer({
  configFile: false, root: join(REPO, 'bench'), logLevel: 'warn',
  cacheDir: join(REPO, 'node_modules/.cache/emberlm-bench-vite'),
  server: { host: '127.0.0.1', port: 0, hmr: false, fs: { allow: [REPO, tmpdir()] } }, // (a model made in the temp folder, by /@fs/ URL)
});
await server.listen();
const browser = await launchChromium();
try {
  const tab = await browser.context.newPage();
  const logs = collectLogs(tab);
  await tab.goto(`${server.resolvedUrls!.local[0]}${page === '.' ? '' : `${page}/`}?${query}`);
  await tab.waitForFunction(() => (window as { __bench?: unknown }).__bench !== undefined, null, { timeout: TIMEOUT_MS, polling: 500 }).catch((e: Error) => {
    throw new Error(`the page did not finish: ${e.message}\n${logs.join('\n')}`);
  });
  const out = await tab.evaluate(() => (window as unknown as { __bench: { ok: boolean; result?: unknown; error?: string } }).__bench);
  if (!out.ok) throw new Error(`the page failed: ${out.error}\n${logs.join('\n')}`);
  const r = out.result as { text?: string };
  console.log(r.text ?? JSON.stringify(out.result, null, 2));
  if (save) writeFileSync(save, JSON.stringify(out.result, null, 2) + '\n');
} finally {
  console.log(`load average: ${load()}`);
  await browser.close();
  await server.close();
}

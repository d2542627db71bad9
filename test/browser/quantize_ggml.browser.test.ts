/**
 * ggml's quantizers on SwiftShader (shaders/quantize_ggml.wgsl through Tint and Subzero, in Debian's chromium) give the
 * CPU's bytes for every type: bench/quantize_ggml_page compares them on normals. A missing chromium fails the test.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { REPO_ROOT } from '../helpers/models.ts';
import { collectLogs, launchChromium, type Chromium } from './chromium.ts';

const TIMEOUT_MS = 120_000;

describe('ggml quantizers in chromium (WebGPU on SwiftShader)', () => {
  let server: ViteDevServer | undefined;
  let browser: Chromium | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("every type's blocks equal the CPU's", async () => {
    browser = await launchChromium();
    server = await createServer({
      configFile: false, root: join(REPO_ROOT, 'bench'), logLevel: 'warn',
      cacheDir: join(REPO_ROOT, 'node_modules/.cache/emberlm-browser-test-vite'),
      server: { host: '127.0.0.1', port: 0, hmr: false, fs: { allow: [REPO_ROOT] } },
    });
    await server.listen();
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    const types = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K'];
    await page.goto(`${server.resolvedUrls!.local[0]}quantize_ggml_page/?values=65536&types=${types.join(',')}`);
    await page.waitForFunction(() => (window as { __bench?: unknown }).__bench !== undefined, null, { timeout: TIMEOUT_MS, polling: 250 }).catch((e: Error) => {
      throw new Error(`the page did not finish: ${e.message}\n${logs.join('\n')}`);
    });
    const out = await page.evaluate(() => (window as unknown as { __bench: { ok: boolean; result?: { text: string }; error?: string } }).__bench);
    if (!out.ok) throw new Error(`the page failed: ${out.error}\n${logs.join('\n')}`);
    const lines = out.result!.text.split('\n');
    expect(lines[0]).toMatch(/swiftshader/i);
    expect(lines.slice(1).map((l) => l.replace(/:.*;/, ':'))).toEqual(types.map((t) => `${t}: the same bytes`));
  }, 180_000);
});

/**
 * Debian's chromium (scripts/install-webgpu.sh installs it; never downloaded) driven by playwright-core,
 * WebGPU on SwiftShader (no shader-f16, so the f32 paths run). A missing chromium is an error, not a skip.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run',
];

export interface Chromium {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh profile each time (so Cache Storage starts empty); `extraArgs` e.g. to turn WebGPU off. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (bash scripts/install-webgpu.sh installs it)`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'emberlm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs], headless: true, timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Console lines of the page and its workers, for failure messages. */
export function collectLogs(page: Page): string[] {
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => logs.push(`[worker ${m.type()}] ${m.text()}`)));
  return logs;
}

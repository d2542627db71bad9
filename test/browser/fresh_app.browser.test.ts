/**
 * The package as a new user meets it: `npm pack`, a fresh Vite + TypeScript app (create-vite's vanilla-ts
 * template in test/fresh_app/) whose src/main.ts and src/worker.ts are the README's code blocks, the tarball
 * installed into it, then the app's own `tsc` (strict, erasableSyntaxOnly, no Node types; skipLibCheck off, so
 * our .d.ts files are checked too) and `vite build` must pass with no warning, and the built page must
 * generate stories260K's greedy text in chromium.
 *
 * The install uses the npm registry when it answers (as a user would); without one it lays out
 * node_modules as npm would from the tarball, linking the dependencies from this repo's install (also
 * when EMBERLM_OFFLINE is set).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preview, type PreviewServer } from 'vite';
import { REPO_ROOT, sharedModelPath } from '../helpers/models.ts';
import { readOracle } from '../helpers/oracle.ts';
import { collectLogs, launchChromium, type Chromium } from './chromium.ts';

const oracle = readOracle('stories260K.llama-cpp.json').results[0]; // 'Once upon a time', the README's prompt
const RUN_TIMEOUT_MS = 150_000;

/** Runs a command; its stdout and everything it printed, or an error with the output when it fails. */
function sh(cmd: string, args: string[], cwd: string, timeout = 240_000): { stdout: string; all: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  const all = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed (${r.status ?? r.signal}):\n${all}`);
  return { stdout: r.stdout, all };
}

/** The README's ```ts block whose first line is `// <file>`. */
export function readmeBlock(file: string): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith(`// ${file}\n`));
  if (!block) throw new Error(`README.md has no \`\`\`ts block starting with "// ${file}"`);
  return block;
}

const versionOf = (pkg: string) => JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version as string;

/** Installs the tarball and the template's tools; says how. */
function install(app: string, tarball: string): string {
  const tools = [`typescript@${versionOf('typescript')}`, `vite@${versionOf('vite')}`];
  const online = process.env.EMBERLM_OFFLINE
    ? { status: 1, stderr: 'EMBERLM_OFFLINE is set' }
    : spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...tools], { cwd: app, encoding: 'utf8', timeout: 180_000 });
  if (online.status === 0) return 'npm install from the registry';
  // No registry: what npm would lay out, with this repo's copies of the dependencies.
  const modules = join(app, 'node_modules');
  rmSync(modules, { recursive: true, force: true });
  mkdirSync(join(modules, 'emberlm'), { recursive: true });
  sh('tar', ['xzf', tarball, '-C', join(modules, 'emberlm'), '--strip-components=1'], app);
  const manifest = JSON.parse(readFileSync(join(modules, 'emberlm/package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const dep of [...Object.keys(manifest.dependencies), 'typescript', 'vite']) {
    mkdirSync(join(modules, dep, '..'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules', dep), join(modules, dep));
  }
  return `offline: the tarball unpacked, dependencies linked from this repo (npm install said: ${online.stderr.trim().split('\n').pop()})`;
}

describe('a fresh Vite + TypeScript app using the packed tarball', () => {
  let dir: string | undefined;
  let server: PreviewServer | undefined;
  let browser: Chromium | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("passes tsc and vite build without warnings, and generates llama.cpp's greedy text in the browser", async () => {
    dir = mkdtempSync(join(tmpdir(), 'emberlm-fresh-app-'));
    const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dir], REPO_ROOT).stdout.replace(/^[^[]*/, '')) as { filename: string; files: { path: string }[] }[];
    const tarball = join(dir, packed[0].filename);
    const shipped = packed[0].files.map((f) => f.path);
    expect(shipped).toContain('dist/types/index.d.ts');
    expect(shipped.filter((p) => p.startsWith('src/'))).toEqual([]); // no app typechecks our sources

    const app = join(dir, 'app');
    cpSync(join(REPO_ROOT, 'test/fresh_app'), app, { recursive: true });
    mkdirSync(join(app, 'src'));
    writeFileSync(join(app, 'src/main.ts'), readmeBlock('src/main.ts'));
    writeFileSync(join(app, 'src/worker.ts'), readmeBlock('src/worker.ts'));
    mkdirSync(join(app, 'public/models'), { recursive: true });
    copyFileSync(sharedModelPath('stories260K/stories260K.gguf'), join(app, 'public/models/stories260K.gguf'));
    console.log(`fresh app: ${install(app, tarball)}`);
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('webgpu'); // an optional peer: browser users skip its binaries

    // skipLibCheck off: our .d.ts must stand alone (TypeScript 5 has no WebGPU in its DOM lib: see src/ts5/)
    const tsc = sh('node', ['node_modules/typescript/bin/tsc', '-p', '.', '--skipLibCheck', 'false'], app).all;
    expect(tsc.trim()).toBe('');
    const build = sh('node', ['node_modules/vite/bin/vite.js', 'build'], app).all;
    console.log(`fresh app: vite build printed\n${build}`);
    expect(build).not.toMatch(/externalized for browser compatibility|node:|warn|\(!\)/i);
    const bundle = readdirSync(join(app, 'dist/assets')).map((f) => readFileSync(join(app, 'dist/assets', f), 'utf8')).join('\n');
    expect(bundle).not.toMatch(/from\s*["']node:|import\(["']node:|["']webgpu["']/);

    server = await preview({ root: app, configFile: false, logLevel: 'warn', preview: { host: '127.0.0.1', port: 0 } });
    browser = await launchChromium();
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    const finished = page.waitForEvent('console', { predicate: (m) => /^(stop|length|abort)\b/.test(m.text()), timeout: RUN_TIMEOUT_MS });
    await page.goto(server.resolvedUrls!.local[0]!);
    await finished.catch((e: Error) => {
      throw new Error(`the app did not finish generating: ${e.message}\n${logs.join('\n')}`);
    });
    expect(await page.locator('p').textContent()).toBe(oracle.full_text);
    await page.close();
  }, 480_000);
});

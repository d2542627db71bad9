/**
 * Runs `main` when this module is the script Node was started with (`npx tsx models/<x>.ts ...`),
 * and does nothing when it is imported by tests or the bench.
 */
export function runIfMain(moduleUrl: string, main: () => Promise<void>): void {
  void (async () => {
    if (typeof process === 'undefined' || !process.argv?.[1]) return;
    const { pathToFileURL } = await import('node:url');
    const { realpathSync } = await import('node:fs');
    let isMain = false;
    try {
      isMain = moduleUrl === pathToFileURL(realpathSync(process.argv[1])).href;
    } catch {
      isMain = false;
    }
    if (!isMain) return;
    const report = (globalThis as Record<symbol, ((failure: unknown) => void) | undefined>)[MAIN_DONE];
    if (typeof import.meta.env !== 'undefined' && report) {
      main().then(() => report(undefined), (e: unknown) => report(e ?? new Error('main failed')));
      return;
    }
    try {
      await mainUnderVite(moduleUrl);
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
      process.exitCode = 1;
    }
  })();
}

/** How the script's main, run under Vite, reports its outcome: undefined, or what it threw. */
const MAIN_DONE = Symbol.for('emberlm.models.mainDone');

/**
 * The kernels import WGSL with `?raw`, which only Vite resolves, so a script started by tsx imports itself again
 * through a Vite module runner; there its runIfMain sees import.meta.env and runs main.
 */
async function mainUnderVite(moduleUrl: string): Promise<void> {
  const { fileURLToPath } = await import('node:url');
  const { createServer, createServerModuleRunner } = await import('vite');
  const server = await createServer({ configFile: false, server: { middlewareMode: true, hmr: false, ws: false }, appType: 'custom', logLevel: 'error' });
  const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
  const done = new Promise<unknown>((resolve) => {
    (globalThis as Record<symbol, (failure: unknown) => void>)[MAIN_DONE] = resolve;
  });
  try {
    await runner.import(fileURLToPath(moduleUrl));
    const failure = await done;
    if (failure !== undefined) throw failure;
  } finally {
    await runner.close();
    await server.close();
  }
}

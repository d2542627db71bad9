import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * A bench script started by tsx (not under Vite, which defines import.meta.env) re-imports itself through a
 * Vite module runner, since the kernels import WGSL with `?raw`, and runs its `main()`; the runner stays open
 * while the benchmark's dynamic imports load. Does nothing when the module was imported or runs under Vite.
 */
export async function runUnderVite(meta: ImportMeta): Promise<void> {
  if (typeof meta.env !== 'undefined' || !process.argv[1] || meta.url !== pathToFileURL(process.argv[1]).href) return;
  const { createServer, createServerModuleRunner } = await import('vite');
  const server = await createServer({ configFile: false, server: { middlewareMode: true, hmr: false, ws: false }, appType: 'custom', logLevel: 'error' });
  const runner = createServerModuleRunner(server.environments.ssr, { hmr: false });
  const module: { main(): Promise<void> } = await runner.import(fileURLToPath(meta.url));
  await module.main();
  await runner.close();
  await server.close();
  process.exit(0);
}

/** A Vite dev server for one of examples/ (its own config, the library's sources), as `npm run dev` serves it, on a free port. */
import { basename, join } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { REPO_ROOT, SHARED_MODELS } from '../helpers/models.ts';

export async function serveExample(name: 'chat' | 'search'): Promise<ViteDevServer> {
  const server = await createServer({
    configFile: join(REPO_ROOT, `examples/${name}/vite.config.ts`),
    root: join(REPO_ROOT, `examples/${name}`),
    // per worktree: node_modules (and its .cache) is shared by every checkout on this machine
    cacheDir: join(REPO_ROOT, `node_modules/.cache/emberlm-${name}-test-vite-${basename(REPO_ROOT)}`),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0, hmr: false, fs: { allow: [REPO_ROOT, SHARED_MODELS] } },
    // Pre-bundle up front, so a dependency found mid-run never reloads the page.
    optimizeDeps: { noDiscovery: true, include: ['comlink', '@huggingface/jinja', '@huggingface/tokenizers'] },
  });
  await server.listen();
  return server;
}

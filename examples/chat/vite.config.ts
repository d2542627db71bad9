import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// `npx vite examples/chat` serves this example against the library's sources (as an installed
// package, 'emberlm', 'emberlm/client' and 'emberlm/worker' resolve to it without these aliases).
const src = (p: string) => fileURLToPath(new URL(`../../src/${p}`, import.meta.url));
export default defineConfig({
  resolve: {
    alias: [
      { find: /^emberlm\/worker$/, replacement: src('worker/index.ts') },
      { find: /^emberlm\/client$/, replacement: src('client.ts') },
      { find: /^emberlm$/, replacement: src('index.ts') },
    ],
  },
  server: { fs: { allow: [fileURLToPath(new URL('../..', import.meta.url)), fileURLToPath(new URL('../../../shared/models', import.meta.url))] } },
});

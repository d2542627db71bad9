import { defineConfig } from 'vite';

// Bundles the library and the Node CLI; WGSL files come in as strings through `?raw` imports.
export default defineConfig({
  build: {
    target: 'node20',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    minify: false,
    ssr: true,
    lib: {
      entry: { index: 'src/index.ts', worker: 'src/worker/index.ts', cli: 'src/cli/entry.ts' },
      formats: ['es'],
    },
    rollupOptions: {
      external: [/^node:/, 'webgpu', 'comlink', '@huggingface/tokenizers'],
    },
  },
});

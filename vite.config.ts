import { defineConfig } from 'vite';

// Bundles the library and the Node CLI; WGSL files come in as strings through `?raw` imports.
// Browser entries (index, worker) must reach no Node-only module: those live behind src/node/ and
// the *_node.ts files, which only the Node entries (node, node-worker, cli) import. Types are built
// by `tsc -p tsconfig.build.json` into dist/types (see package.json "build").
export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    minify: false,
    ssr: true, // keep every dependency an import (the app's bundler resolves them), no browser shims
    lib: {
      entry: {
        index: 'src/index.ts',
        worker: 'src/worker/index.ts',
        client: 'src/client.ts', // a page's connectEngine without the engine (src/client.ts)
        node: 'src/node/index.ts',
        'node-worker': 'src/node/worker.ts',
        cli: 'src/cli/entry.ts',
        'peer-child': 'src/bench/peer_child.ts', // the bench's llama.cpp process (src/bench/peer.ts forks it)
        'ggml-worker': 'src/quant/ggml/quantize_worker_node.ts', // a worker thread of src/quant/ggml/quantize_pool_node.ts
      },
      formats: ['es'],
    },
    rollupOptions: {
      external: [/^node:/, 'webgpu', 'comlink', /^comlink\//, '@huggingface/tokenizers', '@huggingface/jinja', '@mlc-ai/web-xgrammar'],
    },
  },
});

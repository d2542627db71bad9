import { defineConfig } from 'vite';

// bench/gpu/tools.ts as one Node module (WGSL through `?raw`), for the GPU kit: see bench/gpu/kit.sh.
export default defineConfig({
  build: {
    target: 'es2022',
    outDir: process.env.TOOLS_OUT ?? 'dist-tools',
    emptyOutDir: true,
    minify: false,
    ssr: 'bench/gpu/tools.ts',
    rollupOptions: { external: [/^node:/, 'webgpu', 'vite', 'comlink', /^comlink\//, '@huggingface/tokenizers', '@huggingface/jinja'], output: { codeSplitting: false } },
  },
});

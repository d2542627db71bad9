import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests import the sources, not the Node entry: give them its paths, folders and Dawn.
    setupFiles: ['src/node/host.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One GPU (lavapipe) and two cores: run test files one after another.
    fileParallelism: false,
    pool: 'forks',
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Tests import the sources, not the Node entry: give them its paths, folders and Dawn.
    setupFiles: ['src/node/host.ts'],
    // A test's first dispatch of each pipeline waits for lavapipe to compile it: with Mesa's shader cache empty, a test
    // of many layouts takes minutes (up to ~7 of them for one attention test: test/layers.test.ts has its own limit).
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        // Two files at a time: a file on lavapipe keeps about one core busy (lavapipe runs each dispatch, and compiles
        // each pipeline at its first, on one thread: LP_NUM_THREADS=0 on 2 CPUs; Dawn's waits sleep on a timer). With
        // Mesa's shader cache empty, as on a new CI machine, compiling is most of the run, and it takes one core.
        test: { name: 'node', include: ['test/**/*.test.ts'], exclude: ['test/browser/**'], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Chromium (SwiftShader) takes every core it finds: after the node files, one page at a time.
        test: { name: 'browser', include: ['test/browser/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});

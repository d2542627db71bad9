/**
 * ggml's quantizers on worker threads (src/quant/ggml/quantize_pool_node.ts) against ggmlQuantize on this thread: the
 * same bytes for a tensor in pieces of whole blocks, on more workers than pieces and fewer, the values left as they
 * were; what ggmlQuantize refuses is refused the same way.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { ggmlQuantize } from '../src/quant/ggml/index.ts';
import { ggmlQuantizeParallel, poolStats } from '../src/quant/ggml/quantize_pool_node.ts';
import { randn, rng } from './helpers/gpu.ts';

describe('ggml quantizers on worker threads', () => {
  it.each(['Q4_K', 'Q5_K', 'Q6_K', 'Q4_0', 'Q5_1', 'Q8_0', 'F16'])('%s: the bytes of ggmlQuantize, in pieces on 1, 2 and 3 workers', async (type) => {
    const values = randn(rng(7), 256 * 37, 0.05);
    values.fill(0, 256, 512); // an all-zero block
    const before = values.slice();
    const expected = ggmlQuantize(type, values);
    for (const workers of [1, 2, 3]) {
      expect(await ggmlQuantizeParallel(type, values, { workers, pieceValues: 256 * 5 }), `${workers} workers`).toEqual(expected);
    }
    expect(await ggmlQuantizeParallel(type, values, { workers: 2 })).toEqual(expected); // one piece
    expect(values).toEqual(before);
    expect(poolStats()).toEqual({ workers: 3, fallbacks: 0 }); // the pieces ran on workers, kept for the next call
  }, 60_000);

  // What the pool runs from dist/ (npm test builds it first): the bundle's worker answers a piece as ggmlQuantize does.
  it("the bundle's ggml-worker.js gives ggmlQuantize's bytes", async () => {
    const values = randn(rng(3), 256 * 4, 0.05);
    const expected = ggmlQuantize('Q4_K', values);
    const w = new Worker(new URL('../dist/ggml-worker.js', import.meta.url));
    try {
      const bytes = await new Promise<Uint8Array>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.postMessage({ type: 'Q4_K', values });
      });
      expect(bytes).toEqual(expected);
    } finally {
      await w.terminate();
    }
  });

  it('refuses what ggmlQuantize refuses, with its error', async () => {
    const values = new Float32Array(300);
    await expect(ggmlQuantizeParallel('Q4_K', values)).rejects.toThrow(/ggmlQuantize/);
    await expect(ggmlQuantizeParallel('IQ2_XXS', new Float32Array(256))).rejects.toThrow(/IQ2_XXS/);
  });
});

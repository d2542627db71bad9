/** Quantized weights kept between loads: same logits, the second load reads the cache instead of quantizing. */
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine.ts';
import { decodeWeight, encodeWeight, type WeightCache } from '../src/model/weight_cache.ts';
import { folderWeightCache } from '../src/model/weight_cache_node.ts';
import { readSharedBytes } from './helpers/models.ts';
import { testGpu } from './helpers/gpu.ts';

const GREEDY = { temperature: 0, topK: 0, topP: 1 };

describe('weight cache', () => {
  it('encode/decode round-trips every field', () => {
    const w = { format: 'q8' as const, rows: 2, cols: 32, data: new Uint32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]), scales: new Float32Array([0.5, 0.25]), scaleLayout: { blockRows: 1, blockCols: 32 } };
    expect(decodeWeight(encodeWeight(w))).toEqual(w);
    const f = { format: 'f32' as const, rows: 1, cols: 3, data: new Float32Array([1, -2, 3.5]) };
    expect(decodeWeight(encodeWeight(f))).toEqual(f);
    expect(decodeWeight(encodeWeight(w).subarray(0, 40))).toBeNull(); // a truncated entry is a miss
    // ggml's raw blocks (GGUF block formats): bytes, 18 of them here so the data needs padding
    const raw = { ...f, format: 'q5_0', cols: 32, data: Uint8Array.from({ length: 22 }, (_, i) => i * 7) } as unknown as typeof f;
    expect(decodeWeight(encodeWeight(raw))).toEqual(raw);
  });

  it('fp8-e4m3 load from cache gives the same ids; puts once, then only gets; nothing where the GPU converts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-cache-'));
    try {
      const folder = await folderWeightCache(dir);
      let puts = 0, hits = 0;
      const counting: WeightCache = {
        get: async (k) => { const b = await folder.get(k); if (b) hits++; return b; },
        put: async (k, b) => { puts++; await folder.put(k, b); },
      };
      const bytes = readSharedBytes('stories260K/stories260K.gguf');
      // Converted on the CPU: values the GPU converts (the default) are not converted here, so not cached; stories260K's
      // ffn_down (rows of 172, not whole 32-blocks) is, in every layer.
      const run = async (gpuQuantize = false) => {
        const e = await Engine.load(bytes, { gpu: await testGpu(), quant: 'fp8-e4m3', gpuQuantize, cache: counting, contextLength: 64 });
        try {
          return (await e.complete('Once upon a time', { ...GREEDY, maxTokens: 12 })).ids;
        } finally {
          e.dispose();
        }
      };
      const onGpu = await run(true);
      expect([puts, hits]).toEqual([5, 0]);
      puts = 0;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const first = await run();
      expect(first).toEqual(onGpu);
      expect(puts).toBe(5 * 7 + 2); // 5 layers x (q, k, v, o, gate, up, down), token_embd, output
      expect(hits).toBe(0);
      const files = readdirSync(dir).length;
      const second = await run();
      expect(second).toEqual(first);
      expect(hits).toBe(puts);
      expect(readdirSync(dir).length).toBe(files);
      // A corrupt entry is recomputed, not trusted.
      for (const f of readdirSync(dir)) writeFileSync(join(dir, f), new Uint8Array([1, 2, 3]));
      expect(await run()).toEqual(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

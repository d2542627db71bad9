/**
 * llamaTensorType (the port of llama-quantize's type choice) against the tensor types of the shared
 * kquants files, which were laid out by llama.cpp's rules (mixtures) or --pure (single-type files).
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fallbackType, llamaTensorType, resolveFtype } from '../src/quant/ggml/mixture.ts';
import { metaNumber } from '../src/gguf/reader.ts';
import { openShared, sharedModelPath } from './helpers/models.ts';

const files = ['kquants', 'kquants-real'].flatMap((d) => readdirSync(sharedModelPath(d)).filter((f) => f.endsWith('.gguf')).map((f) => `${d}/${f}`));

describe('llamaTensorType reproduces the tensor types of the shared kquants files', () => {
  it.each(files)('%s', async (rel) => {
    const f = await openShared(rel);
    const kind = /kqr?-([A-Z0-9_]+?)(-ff352.*)?\.gguf$/.exec(rel)![1];
    const nLayer = metaNumber(f, 'llama.block_count');
    const tied = !f.tensors.has('output.weight');
    const mixture = kind.endsWith('_M');
    for (const t of f.tensors.values()) {
      const want = mixture ? llamaTensorType(resolveFtype(kind), '', t, nLayer, tied) : llamaTensorType('pure', kind, t, nLayer, tied);
      expect([t.name, t.type]).toEqual([t.name, want]);
    }
  });

  it('falls back as tensor_type_fallback does', () => {
    expect([fallbackType('Q4_K', 352), fallbackType('Q5_K', 64), fallbackType('Q6_K', 576), fallbackType('Q2_K', 64)]).toEqual(['Q5_0', 'Q5_1', 'Q8_0', 'Q4_0']);
    expect([fallbackType('Q4_K', 100), fallbackType('Q4_0', 48), fallbackType('Q4_K', 512)]).toEqual(['F16', 'F16', 'Q4_K']);
  });
});

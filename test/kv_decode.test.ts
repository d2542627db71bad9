/**
 * kv_decode_flat (shaders/kv/*.wgsl; SwiftShader's flat attention reads the cache through it: int8 codes without
 * shifts) gives kv_decode's values: every int8 code in every byte, every f16 in both halves of a word, checked against
 * the CPU's decoding and against kv_decode on the same words, bit for bit (-0 included; NaN as NaN).
 */
import { describe, expect, it } from 'vitest';
import { kvShaderParts } from '../src/kernels/kv_cache.ts';
import type { KvCacheType } from '../src/kernels/kv_layout.ts';
import { Allocator, readBuffer } from '../src/gpu/buffers.ts';
import { bindGroup } from '../src/kernels/dispatch.ts';
import { f16Table } from '../src/quant/ggml/f16.ts';
import { rng, run, testGpu } from './helpers/gpu.ts';

const WG = 64;
const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

/** Both decoders on every word: out[2i] = kv_decode(kv[i]), out[2i + 1] = kv_decode_flat(kv[i]). */
async function decodeBoth(t: KvCacheType, words: Uint32Array): Promise<Float32Array> {
  const gpu = await testGpu();
  const alloc = new Allocator(gpu);
  const code = `${kvShaderParts(t, 4).slice(0, 3).join('\n')}
@group(0) @binding(0) var<storage, read_write> kv: array<KvWord>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= arrayLength(&kv)) { return; }
  out[2u * g.x] = kv_decode(kv[g.x]);
  out[2u * g.x + 1u] = kv_decode_flat(kv[g.x]);
}`;
  const perWord = { f32: 4, f16: 2, int8: 1, 'fp8-e4m3': 1 }[t]; // u32s in a KvWord
  const n = words.length / perWord;
  const kv = alloc.upload('kv', words);
  const out = alloc.storage('out', n * 2 * 16);
  const pipeline = gpu.device.createComputePipeline({ layout: 'auto', compute: { module: gpu.device.createShaderModule({ code }), entryPoint: 'main' } });
  run(gpu, [{ label: 'kv_decode', pipeline, bindGroup: bindGroup(alloc, 'kv_decode', pipeline, [kv, out]), grid: () => [Math.ceil(n / WG)] }], 1);
  const y = new Float32Array(await readBuffer(gpu, out));
  alloc.destroyAll();
  return y;
}

describe('kv_decode_flat', () => {
  it('f16: every code in both halves of both words, as the CPU and kv_decode decode it', async () => {
    const table = f16Table();
    const n = 65536;
    const words = new Uint32Array(2 * n);
    const other = (c: number) => (c * 40503 + 1) & 0xffff; // a bijection: every code meets another in the other half
    for (let c = 0; c < n; c++) {
      words[2 * c] = (c | (other(c) << 16)) >>> 0;
      words[2 * c + 1] = (other(c) | (c << 16)) >>> 0;
    }
    const y = await decodeBoth('f16', words);
    const wrong: string[] = [];
    for (let i = 0; i < n; i++) {
      const halves = [words[2 * i] & 0xffff, words[2 * i] >>> 16, words[2 * i + 1] & 0xffff, words[2 * i + 1] >>> 16];
      for (let c = 0; c < 4; c++) {
        const want = table[halves[c]];
        if (!same(y[8 * i + 4 + c], want)) wrong.push(`kv_decode_flat(${halves[c].toString(16)}) = ${y[8 * i + 4 + c]}, want ${want}`);
        if (!same(y[8 * i + c], want)) wrong.push(`kv_decode(${halves[c].toString(16)}) = ${y[8 * i + c]}, want ${want}`);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it('int8: every code in every byte (and random words), as the CPU and kv_decode decode them', async () => {
    const r = rng(5);
    const words = new Uint32Array(4096).map((_, i) => (i < 256 ? Math.imul(i, 0x01010101) : Math.floor(r() * 2 ** 32)) >>> 0);
    const y = await decodeBoth('int8', words);
    for (let i = 0; i < words.length; i++) {
      for (let c = 0; c < 4; c++) {
        const want = ((words[i] >>> (8 * c)) << 24) >> 24;
        expect(y[8 * i + 4 + c], `kv_decode_flat of ${words[i].toString(16)} byte ${c}`).toBe(want);
        expect(y[8 * i + c], `kv_decode of ${words[i].toString(16)} byte ${c}`).toBe(want);
      }
    }
  });

  it('f32 and fp8-e4m3: kv_decode_flat is kv_decode', async () => {
    const r = rng(6);
    for (const t of ['f32', 'fp8-e4m3'] as const) {
      const words = new Uint32Array(4096).map(() => Math.floor(r() * 2 ** 32) >>> 0);
      const y = await decodeBoth(t, words);
      const n = t === 'f32' ? words.length / 4 : words.length;
      for (let i = 0; i < n * 4; i++) expect(same(y[8 * Math.floor(i / 4) + 4 + (i % 4)], y[8 * Math.floor(i / 4) + (i % 4)]), `${t} element ${i}`).toBe(true);
    }
  });
});

import f32Format from '../../shaders/kv/f32.wgsl?raw';
import f16Format from '../../shaders/kv/f16.wgsl?raw';
import int8Format from '../../shaders/kv/int8.wgsl?raw';
import fp8Format from '../../shaders/kv/fp8_e4m3.wgsl?raw';
import kvWriteLib from '../../shaders/kv_write.wgsl?raw';
import { FP8_CODES_LIB, Q8_BLOCK_LIB } from './wgsl_lib.ts';
import { KV_PER_WORD, type KvCacheType } from './kv_layout.ts';

const FORMATS: Readonly<Record<KvCacheType, string>> = {
  f32: f32Format,
  f16: f16Format,
  int8: int8Format,
  'fp8-e4m3': `${FP8_CODES_LIB}\n${fp8Format}`,
};

/**
 * What the K/V cache's readers and writers (shaders/rope.wgsl, shaders/attention.wgsl) put in front
 * of their source: registers sized to the head, the layout's elements per word, the format's word
 * (shaders/kv/*.wgsl) and the write path (shaders/kv_write.wgsl; div_exact and round_f16 come from the
 * Q8 block library).
 */
export function kvShaderParts(t: KvCacheType, headDim: number): string[] {
  const consts = `const MAXD4: u32 = ${headDim / 4}u;\nconst KV_PER_WORD: u32 = ${KV_PER_WORD[t]}u;`;
  return [consts, Q8_BLOCK_LIB, FORMATS[t], kvWriteLib];
}

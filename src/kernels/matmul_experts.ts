import type { EmberError } from '../errors.ts';
import { ceilDiv } from './dispatch.ts';
import type { MatmulArgs } from './matmul.ts';
import type { GpuWeights } from './matmul_weights.ts';

/**
 * A mixture of experts' matrices stacked into one (expert e's rows at e * rows, chunks of whole experts: uploadWeights
 * rowAlign), run with a row of y per token's slot, T * slots, each with the expert routing chose for it (`ids`,
 * (T * slots) u32, shaders/moe.wgsl): x a row per token (the FFN's input, `xPerSlot` false) or per slot (the hidden
 * rows). Decode runs GEMVs, a slot each; with `groups` (moe/group's sort of the pass's slots by expert, expertGroups'
 * layout) the prefill runs the `rows` GEMM over tiles of EXPERT_TILE slots of one expert, else the GEMVs too.
 */
export interface ExpertRows {
  ids: GPUBuffer;
  rows: number;
  slots: number;
  xPerSlot: boolean;
  groups?: GPUBuffer;
}

/** moe/group pads each expert's run of slots to a multiple of this (GROUP_TILE): the expert GEMM's TT (rows8's) or twice it (rows'). */
export const EXPERT_TILE = 8;

/** moe/group's output for passes of up to `maxTokens`: each tile's expert (`tiles` of them), then every padded row's slot. */
export function expertGroups(maxTokens: number, slots: number, experts: number): { tiles: number; words: number } {
  const rows = maxTokens * slots + experts * (EXPERT_TILE - 1);
  const tiles = ceilDiv(rows, EXPERT_TILE);
  return { tiles, words: tiles + tiles * EXPERT_TILE };
}

/** What the expert GEMV takes: whole experts in each chunk, and none of what reads or writes a plain matrix's y. */
export function checkExperts(w: GpuWeights, a: Pick<MatmulArgs, 'experts' | 'maxTokens' | 'tail' | 'gemvX' | 'gemvQuantizedX' | 'bias' | 'accumulate' | 'yOffset'>, bad: (msg: string) => EmberError): void {
  const e = a.experts!;
  if (!(Number.isInteger(e.slots) && e.slots >= 1 && Number.isInteger(e.rows) && e.rows >= 1 && w.rows % e.rows === 0)) {
    throw bad(`experts of ${e.rows} rows, ${e.slots} a token, must divide the ${w.rows} stacked rows`);
  }
  if (w.chunks.some((c) => c.rowStart % e.rows || c.rows % e.rows)) throw bad('an expert GEMV needs chunks of whole experts (uploadWeights rowAlign)');
  if (a.tail || a.gemvX || a.gemvQuantizedX || a.bias || a.accumulate || a.yOffset) throw bad('an expert GEMV takes no tail, raw x, bias, accumulate or y offset');
  if (e.ids.size < a.maxTokens * e.slots * 4) throw bad(`experts.ids needs ${a.maxTokens * e.slots * 4} bytes, the buffer has ${e.ids.size}`);
  const groups = expertGroups(a.maxTokens, e.slots, w.rows / e.rows).words * 4;
  if (e.groups && e.groups.size < groups) throw bad(`experts.groups needs ${groups} bytes, the buffer has ${e.groups.size}`);
}

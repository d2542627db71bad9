/**
 * Qwen3.5's part of models/hf_to_gguf.ts, as llama.cpp's converter writes a qwen35 file (conversion/qwen.py:
 * Qwen3NextModel, _LinearAttentionVReorderBase, _Qwen35MRopeMixin): the Gated DeltaNet's ssm.* keys, the layer kinds, the
 * mRoPE sections, and the value heads moved from transformers' grouped order to ggml's tiled one.
 */
import { meta, type MetaValue } from '../src/gguf/writer.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { deltaKeyDim, deltaValueDim, type DeltaShape } from '../src/model/delta_shape.ts';

type Json = Record<string, unknown>;

/** llama.cpp's default when rope_parameters names no mrope_section (its qwen35 loader requires the key). */
const DEFAULT_MROPE_SECTION = [11, 11, 10, 0];

/**
 * The qwen35.* keys beyond the ones every architecture has. `hparams` is config.json as llama.cpp reads it (text_config's
 * fields moved to the top level): full_attention_interval and mrope_section are not in ModelConfig (the interval is
 * spelled out per layer there; text positions make mRoPE plain RoPE).
 */
export function qwen35Keys(c: ModelConfig, hparams: Json, k: (s: string) => string): Array<[string, MetaValue]> {
  const s = c.delta!;
  const rope = (hparams.rope_parameters ?? hparams.rope_scaling ?? {}) as Json;
  // (padded with zeros to [time, height, width, extra], as llama.cpp does)
  const section = Array.isArray(rope.mrope_section) ? [...(rope.mrope_section as number[]), 0, 0, 0, 0].slice(0, 4) : DEFAULT_MROPE_SECTION;
  const m: Array<[string, MetaValue]> = [
    [k('ssm.conv_kernel'), meta.u32(s.convKernel)],
    [k('ssm.state_size'), meta.u32(s.headKDim)],
    [k('ssm.group_count'), meta.u32(s.nKHead)],
    [k('ssm.time_step_rank'), meta.u32(s.nVHead)],
    [k('ssm.inner_size'), meta.u32(deltaValueDim(s))],
    [k('full_attention_interval'), meta.u32(typeof hparams.full_attention_interval === 'number' ? hparams.full_attention_interval : 4)],
    [k('rope.dimension_sections'), meta.i32s(section)],
  ];
  // (llama.cpp writes the per-layer list only where config.json has layer_types; else the interval says the same)
  if (hparams.layer_types !== undefined && hparams.layer_types !== null) {
    m.push([k('attention.recurrent_layers'), meta.bools(c.layerDelta)]);
  }
  return m;
}

/**
 * Value head h of the tiled order is grouped head (h % nKHead) * (nVHead / nKHead) + floor(h / nKHead): key head g's
 * j-th value head moves from g * r + j to j * nKHead + g (llama.cpp's _reorder_v_heads), so ggml broadcasts q and k by
 * repeating them whole.
 */
function tiledSource(s: DeltaShape): number[] {
  const r = s.nVHead / s.nKHead;
  return Array.from({ length: s.nVHead }, (_, h) => (h % s.nKHead) * r + Math.floor(h / s.nKHead));
}

/** Rows [from, from + nVHead * run) of a (rows, cols) matrix, runs of `run` rows a head, put in the tiled order. */
function tileRows(w: Float32Array, cols: number, s: DeltaShape, from: number, run: number): Float32Array {
  const out = w.slice();
  tiledSource(s).forEach((src, dst) => {
    const head = w.subarray((from + src * run) * cols, (from + (src + 1) * run) * cols); // (run, cols)
    out.set(head, (from + dst * run) * cols);
  });
  return out;
}

/** A (rows, cols) matrix's columns, runs of `run` a head, put in the tiled order. */
function tileCols(w: Float32Array, rows: number, cols: number, s: DeltaShape, run: number): Float32Array {
  const out = new Float32Array(w.length);
  const from = tiledSource(s);
  for (let i = 0; i < rows; i++) {
    for (let dst = 0; dst < s.nVHead; dst++) {
      out.set(w.subarray(i * cols + from[dst] * run, i * cols + (from[dst] + 1) * run), i * cols + dst * run);
    }
  }
  return out;
}

/**
 * A Gated DeltaNet tensor (GGUF name, data as transformers lays it out, (rows, cols)) in llama.cpp's tiled value-head
 * order: v's rows of attn_qkv and of the convolution, z's rows (attn_gate), b's and a's (ssm_beta, ssm_alpha), A and
 * dt_bias, and out_proj's columns (ssm_out). Unchanged where every key head has one value head, and for the others.
 */
export function tileValueHeads(c: ModelConfig, name: string, data: Float32Array, rows: number, cols: number): Float32Array {
  const s = c.delta;
  if (!s || s.nVHead === s.nKHead || !/^blk\.\d+\./.test(name) || !c.layerDelta[Number(name.split('.')[1])]) return data;
  const rest = name.replace(/^blk\.\d+\./, '');
  const v = 2 * deltaKeyDim(s); // the first v row of q|k|v
  switch (rest) {
    case 'attn_qkv.weight': case 'ssm_conv1d.weight': return tileRows(data, cols, s, v, s.headVDim);
    case 'attn_gate.weight': return tileRows(data, cols, s, 0, s.headVDim);
    case 'ssm_beta.weight': case 'ssm_alpha.weight': case 'ssm_a': case 'ssm_dt.bias': return tileRows(data, cols, s, 0, 1);
    case 'ssm_out.weight': return tileCols(data, rows, cols, s, s.headVDim);
    default: return data;
  }
}

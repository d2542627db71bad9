/**
 * A pass of several inputs (embed's texts, rerank's pairs, batched): their tokens side by side, each token attending
 * only within its input (shaders/attention.wgsl's `*_inputs` entry points) at its position in its input
 * (shaders/layernorm.wgsl's positions, which reads this in every pass of an encoder; RoPE needs nothing, as a score depends only on the distance of two
 * positions).
 */

/**
 * The most inputs a pass takes: where a model pools one row an input (its first or last), each is copied to the readback
 * on its own, which holds this many rows.
 */
export const MAX_PASS_INPUTS = 64;

/** One input of such a pass: its tokens, and where its second segment (token type 1) starts, where it has one. */
export interface PassInput {
  length: number;
  segmentB?: number;
}

/** Each token's vec4<u32> for the kernels: its input's first token and one past its last (in the pass), its token type, 0. */
export function packInputs(inputs: readonly PassInput[]): Uint32Array {
  const n = inputs.reduce((s, x) => s + x.length, 0);
  const out = new Uint32Array(4 * n);
  let start = 0;
  for (const { length, segmentB = Infinity } of inputs) {
    for (let i = 0; i < length; i++) out.set([start, start + length, i >= segmentB ? 1 : 0, 0], 4 * (start + i));
    start += length;
  }
  return out;
}

// rel_score from one table by key - query (MPNet's and T5's buckets, jina-bert-v2's ALiBi: src/model/relative_bias.ts),
// for prefill_bias and prefill_dims_bias. rel_bias (n_head, 2R + 1): query head h's bias for key - query = r at
// h * (2R + 1) + R + r, r clamped to [-R, R] (R: as far as the bias changes, or the pass's length; a block's masked
// keys may lie past it).
@group(0) @binding(11) var<storage, read> rel_bias: array<f32>;

var<private> rel_reach: i32; // R

// Once an invocation, before any rel_score: R from the table's length (a division SwiftShader makes lane by lane).
fn rel_setup() {
  rel_reach = i32((arrayLength(&rel_bias) / p.n_head - 1u) / 2u);
}

fn rel_score(h: u32, t: u32, j: u32) -> f32 {
  let r = clamp(i32(j) - i32(step.pos + t), -rel_reach, rel_reach);
  return rel_bias[u32(i32(h) * (2 * rel_reach + 1) + rel_reach + r)];
}

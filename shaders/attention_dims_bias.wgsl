// prefill_dims_bias: prefill_dims_inputs with a bias by relative position on every score (MPNet's and T5's buckets,
// jina-bert-v2's ALiBi: the table prefill_bias reads), for the adapters prefill_dims runs on. Put after
// shaders/attention_dims.wgsl, whose attend_each and attend_blocks add score_bias where REL_BIAS.
// rel_bias (n_head, 2R + 1): query head h's bias for key - query = r at h * (2R + 1) + R + r.
@group(0) @binding(11) var<storage, read> rel_bias: array<f32>;

const REL_BIAS = true;
var<private> q_pos: array<vec4<i32>, NQ4>; // query 4g + c's position
var<private> q_row: array<vec4<i32>, NQ4>; // where its head's row of rel_bias holds distance 0: h (2R + 1) + R
var<private> reach: i32; // R

// Key j's bias for the 4 queries of group g (key - query clamped to [-R, R]: a block's masked keys may lie past it).
fn score_bias(g: u32, j: u32) -> vec4<f32> {
  let at = q_row[g] + clamp(vec4<i32>(i32(j)) - q_pos[g], vec4<i32>(-reach), vec4<i32>(reach));
  return vec4<f32>(rel_bias[at.x], rel_bias[at.y], rel_bias[at.z], rel_bias[at.w]);
}

@compute @workgroup_size(WG)
fn prefill_dims_bias(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  reach = i32((arrayLength(&rel_bias) / p.n_head - 1u) / 2u);
  for (var g = 0u; g < NQ4; g++) {
    q_pos[g] = vec4<i32>(0);
    q_row[g] = vec4<i32>(reach); // (components past NQ: head 0 at position 0, never read into a state)
  }
  let t0 = wg.y * TQ;
  for (var qi = 0u; qi < NQ; qi++) {
    let t = min(t0 + qi / GROUP, step.n_tokens - 1u); // (as prefill_within_inputs takes its tokens)
    q_pos[qi / 4u][qi % 4u] = i32(step.pos + t);
    q_row[qi / 4u][qi % 4u] = i32(wg.x * GROUP + qi % GROUP) * (2 * reach + 1) + reach;
  }
  prefill_within_inputs(wg, lid);
}

// prefill_dims_bias: prefill_dims_inputs with a bias by relative position on every score (rel_score, put after this:
// shaders/attention_rel_table.wgsl's table or shaders/attention_rel_deberta.wgsl's disentangled terms), for the
// adapters prefill_dims runs on. Put after shaders/attention_dims.wgsl, whose attend_each and attend_blocks add
// score_bias where REL_BIAS.

const REL_BIAS = true;
var<private> q_tok: array<vec4<u32>, NQ4>; // query 4g + c's token in the pass
var<private> q_head: array<vec4<u32>, NQ4>; // and its head

// Key j's bias for the 4 queries of group g.
fn score_bias(g: u32, j: u32) -> vec4<f32> {
  let t = q_tok[g];
  let h = q_head[g];
  return vec4<f32>(rel_score(h.x, t.x, j), rel_score(h.y, t.y, j), rel_score(h.z, t.z, j), rel_score(h.w, t.w, j));
}

@compute @workgroup_size(WG)
fn prefill_dims_bias(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  rel_setup();
  for (var g = 0u; g < NQ4; g++) {
    q_tok[g] = vec4<u32>(0u); // (components past NQ: head 0's token 0, never read into a state)
    q_head[g] = vec4<u32>(0u);
  }
  let t0 = wg.y * TQ;
  for (var qi = 0u; qi < NQ; qi++) {
    q_tok[qi / 4u][qi % 4u] = min(t0 + qi / GROUP, step.n_tokens - 1u); // (as prefill_within_inputs takes its tokens)
    q_head[qi / 4u][qi % 4u] = wg.x * GROUP + qi % GROUP;
  }
  prefill_within_inputs(wg, lid);
}

// rel_score of DeBERTa's disentangled attention (ModelConfig.disentangled), for prefill_bias and prefill_dims_bias:
// query t's content against the key's relative row (c2p) plus key j's content against the query's (p2c), both already
// scaled, as shaders/disentangled.wgsl wrote them for this pass. The row of key - query = r is rel_at[1 + R + r] (R:
// rel_at[0], the pass's most tokens - 1; lanes past a block's last key stand in with the pass's last key, masked after).
@group(0) @binding(11) var<storage, read> rel_at: array<u32>; // (2R + 2)
@group(0) @binding(12) var<storage, read> c2p: array<f32>; // (T, n_head, rel_rows): q_t . Kr[row] * scale
@group(0) @binding(13) var<storage, read> p2c: array<f32>; // (T, n_head, rel_rows): k_t . Qr[row] * scale

fn rel_setup() {} // (R is rel_at[0])

fn rel_score(h: u32, t: u32, j: u32) -> f32 {
  let key = min(j - step.pos, step.n_tokens - 1u); // (an encoder's pass starts at position 0: key j is token j)
  let row = rel_at[1u + rel_at[0] + key - t]; // (|key - t| < n_tokens: within R; u32 wraps back into range)
  return c2p[(t * p.n_head + h) * p.rel_rows + row] + p2c[(key * p.n_head + h) * p.rel_rows + row];
}

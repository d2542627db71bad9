// prefill_bias: an encoder's prefill whose scores get a bias by relative position (MPNet's relative attention buckets).
// Put after shaders/attention.wgsl (Params, qkv, kv, out, inputs, input_first / input_end, EMPTY_M). Each token
// attends within its input (such a model's passes always write `inputs`: BERT's embeddings read it too).
// rel_bias (n_head, 2R + 1): query head h's bias for key - query = r at h * (2R + 1) + R + r, r clamped to [-R, R] (R:
// as far as the bias changes, or the pass's length), added to the scaled score as transformers does.
// One workgroup per (query head, token): lane lid takes keys lid, lid + WG, ... with a softmax state and every head
// dimension of its own, and the lanes' states are merged through workgroup memory at the end. A kernel of its own, not
// a branch in main, prefill_dims and prefill_flat: their text stays as it was (lavapipe's shader cache), and an
// encoder's short passes are no decoder's hot path.
@group(0) @binding(11) var<storage, read> rel_bias: array<f32>;

var<private> bias_acc: array<vec4<f32>, MAXD4>; // this lane's keys' weighted V rows
var<workgroup> sh_bias_ml: array<vec2<f32>, WG>; // each lane's (m, l)
var<workgroup> sh_bias_acc: array<vec4<f32>, WG * MAXD4>; // each lane's acc

@compute @workgroup_size(WG)
fn prefill_bias(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let kvh = h / GROUP;
  let hd4 = p.head_dim / 4u;
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  var q: array<vec4<f32>, MAXD4>;
  for (var d = 0u; d < hd4; d++) { q[d] = qkv4(t * row_len + h * p.head_dim, d) * p.scale; }
  let pos = step.pos + t;
  let reach = i32((arrayLength(&rel_bias) / p.n_head - 1u) / 2u);
  let bias_row = i32(h) * (2 * reach + 1) + reach;
  for (var d = 0u; d < hd4; d++) { bias_acc[d] = vec4<f32>(0.0); }
  var m = EMPTY_M;
  var l = 0.0;
  let end = input_end(pos + 1u, t);
  for (var j = input_first(pos + 1u, t) + lid; j < end; j += WG) {
    let row = j % p.cache_len;
    let kb = kv_word(0u, row, kvh);
    var dots = vec4<f32>(0.0);
    for (var d = 0u; d < hd4; d++) { dots += q[d] * kv_decode(kv[kb + d]); }
    let r = clamp(i32(j) - i32(pos), -reach, reach);
    let s = (dots.x + dots.y + dots.z + dots.w) * kv_scale(kv_scale_word(0u, row, kvh)) + rel_bias[u32(bias_row + r)];
    let m_new = max(m, s);
    let corr = exp(m - m_new);
    let e = exp(s - m_new);
    l = l * corr + e;
    m = m_new;
    let vb = kv_word(1u, row, kvh);
    let w = e * kv_scale(kv_scale_word(1u, row, kvh));
    for (var d = 0u; d < hd4; d++) { bias_acc[d] = bias_acc[d] * corr + w * kv_decode(kv[vb + d]); }
  }
  sh_bias_ml[lid] = vec2<f32>(m, l);
  for (var d = 0u; d < hd4; d++) { sh_bias_acc[lid * MAXD4 + d] = bias_acc[d]; }
  workgroupBarrier();
  var m_all = EMPTY_M;
  for (var i = 0u; i < WG; i++) { m_all = max(m_all, sh_bias_ml[i].x); }
  var l_all = 0.0;
  for (var i = 0u; i < WG; i++) { l_all += sh_bias_ml[i].y * exp(sh_bias_ml[i].x - m_all); }
  for (var d = lid; d < hd4; d += WG) {
    var a = vec4<f32>(0.0);
    for (var i = 0u; i < WG; i++) { a += sh_bias_acc[i * MAXD4 + d] * exp(sh_bias_ml[i].x - m_all); }
    out[(t * p.n_head + h) * hd4 + d] = a / l_all;
  }
}

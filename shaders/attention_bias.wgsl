// prefill_bias: an encoder's prefill whose scores get a bias by relative position (MPNet's relative attention buckets,
// T5's, jina-bert-v2's ALiBi, DeBERTa's disentangled terms). Put after shaders/attention.wgsl (Params, qkv, kv, out,
// inputs, input_first / input_end, EMPTY_M), with BIAS_TQ in front, and before rel_score (query head h, pass token t,
// key j: the bias added to the scaled score, as transformers adds it; rel_setup first): shaders/attention_rel_table.wgsl's or
// shaders/attention_rel_deberta.wgsl's. Each token attends within its input (such a model's passes always write
// `inputs`: BERT's embeddings read it).
// One workgroup per (query head, BIAS_TQ tokens): lane lid takes keys lid, lid + WG, ..., loads each one's K and V row
// once for the workgroup's tokens (each masked to its own input's keys), and keeps a softmax state and every head
// dimension per token; the lanes' states are merged through workgroup memory at the end, a token at a time. A kernel of
// its own, not a branch in main, prefill_dims and prefill_flat: their text stays as it was (lavapipe's shader cache).
// Loops over head dimensions run to the constant MAXD4, so that lavapipe unrolls them and keeps the arrays out of
// memory indexed lane by lane (an MPNet-base layer over 256 tokens: 70 ms against 122 with head_dim / 4 as the bound).
var<private> bias_q: array<vec4<f32>, BIAS_TQ * MAXD4>; // the tokens' scaled queries
var<private> bias_acc: array<vec4<f32>, BIAS_TQ * MAXD4>; // their weighted V rows over this lane's keys
var<private> bias_k: array<vec4<f32>, MAXD4>; // the key's K row
var<workgroup> sh_bias_ml: array<vec2<f32>, WG>; // each lane's (m, l) of one token
var<workgroup> sh_bias_acc: array<vec4<f32>, WG * MAXD4>; // each lane's acc of one token

@compute @workgroup_size(WG)
fn prefill_bias(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t0 = wg.y * BIAS_TQ;
  if (t0 >= step.n_tokens) { return; }
  let n_t = min(BIAS_TQ, step.n_tokens - t0);
  rel_setup();
  let kvh = h / GROUP;
  let hd4 = p.head_dim / 4u;
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  var lo: array<u32, BIAS_TQ>; // token i's keys [lo, hi)
  var hi: array<u32, BIAS_TQ>;
  var m: array<f32, BIAS_TQ>;
  var l: array<f32, BIAS_TQ>;
  for (var i = 0u; i < BIAS_TQ; i++) {
    let t = min(t0 + i, step.n_tokens - 1u); // tokens past the pass repeat the last one, unwritten
    for (var d = 0u; d < MAXD4; d++) {
      bias_q[i * MAXD4 + d] = qkv4(t * row_len + h * p.head_dim, d) * p.scale;
      bias_acc[i * MAXD4 + d] = vec4<f32>(0.0);
    }
    lo[i] = input_first(step.pos + t + 1u, t);
    hi[i] = input_end(step.pos + t + 1u, t);
    m[i] = EMPTY_M;
    l[i] = 0.0;
  }
  let end = hi[n_t - 1u]; // (the bounds grow with t: the workgroup's keys are its first token's start to its last's end)
  for (var j = lo[0] + lid; j < end; j += WG) {
    let row = j % p.cache_len;
    let kb = kv_word(0u, row, kvh);
    for (var d = 0u; d < MAXD4; d++) { bias_k[d] = kv_decode(kv[kb + d]); }
    let ks = kv_scale(kv_scale_word(0u, row, kvh));
    let vs = kv_scale(kv_scale_word(1u, row, kvh));
    var corr: array<f32, BIAS_TQ>;
    var w: array<f32, BIAS_TQ>;
    for (var i = 0u; i < BIAS_TQ; i++) {
      var dots = vec4<f32>(0.0);
      for (var d = 0u; d < MAXD4; d++) { dots += bias_q[i * MAXD4 + d] * bias_k[d]; }
      let s = (dots.x + dots.y + dots.z + dots.w) * ks + rel_score(h, min(t0 + i, step.n_tokens - 1u), j);
      let seen = j >= lo[i] && j < hi[i];
      let m_new = select(m[i], max(m[i], s), seen);
      corr[i] = exp(m[i] - m_new);
      let e = select(0.0, exp(s - m_new), seen);
      l[i] = l[i] * corr[i] + e;
      m[i] = m_new;
      w[i] = e * vs;
    }
    let vb = kv_word(1u, row, kvh);
    for (var d = 0u; d < MAXD4; d++) {
      let v = kv_decode(kv[vb + d]);
      for (var i = 0u; i < BIAS_TQ; i++) { bias_acc[i * MAXD4 + d] = bias_acc[i * MAXD4 + d] * corr[i] + w[i] * v; }
    }
  }
  for (var i = 0u; i < n_t; i++) {
    sh_bias_ml[lid] = vec2<f32>(m[i], l[i]);
    for (var d = 0u; d < MAXD4; d++) { sh_bias_acc[lid * MAXD4 + d] = bias_acc[i * MAXD4 + d]; }
    workgroupBarrier();
    var m_all = EMPTY_M;
    for (var k = 0u; k < WG; k++) { m_all = max(m_all, sh_bias_ml[k].x); }
    var l_all = 0.0;
    for (var k = 0u; k < WG; k++) { l_all += sh_bias_ml[k].y * exp(sh_bias_ml[k].x - m_all); }
    for (var d = lid; d < hd4; d += WG) {
      var a = vec4<f32>(0.0);
      for (var k = 0u; k < WG; k++) { a += sh_bias_acc[k * MAXD4 + d] * exp(sh_bias_ml[k].x - m_all); }
      out[((t0 + i) * p.n_head + h) * hd4 + d] = a / l_all;
    }
    workgroupBarrier(); // (the next token's states go where this one's were)
  }
}

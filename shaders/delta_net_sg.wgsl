// shaders/delta_net.wgsl's scan where the adapter has subgroups (appended to it, with `enable subgroups`): q and k of a
// token come straight from the convolution's output, each lane of a subgroup loading a different vec4 of them and the
// subgroup sharing them by shuffles (as ssm_scan_sg.wgsl shares B and C), where `scan` has each lane read every vec4;
// |k|^2, |q|^2 and k.q are subgroup sums of each lane's own vec4's products, not K4 dot products every lane repeats.
// Used where head_v is a multiple of the subgroup size, so that no subgroup spans two heads or runs short of lanes to
// shuffle from.
// SG: the subgroup size where the adapter has only one (lavapipe: 8), so that the loops over a chunk of SG vec4s have
// constant trip counts, which lavapipe's compiler unrolls, the column's indices into s then constants (a 64-token
// prefill pass took 24.8 ms against 53.2 with the trip counts from the subgroup_size builtin); 0: the builtin's
override SG: u32 = 0u;
// (Its prologue and epilogue repeat scan's: the same in functions of delta_net.wgsl, the column's array returned and
// passed by value, measured 15-25% slower on lavapipe: a 64-token prefill pass 16.5-17.6 ms against 13.4-14.9.)

@compute @workgroup_size(WG)
fn scan_sg(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) j: u32,
  @builtin(subgroup_invocation_id) sid: u32,
  @builtin(subgroup_size) sg_size: u32,
) {
  let sg = select(sg_size, SG, SG != 0u);
  let h = wid.x;
  let hk = select(h / (p.n_v_head / p.n_k_head), h % p.n_k_head, p.v_tiled == 1u);
  let col = h * p.head_v + j;
  let n_tok = step.n_tokens;
  let slot = p.value_dim * K4;
  var s: array<vec4f, K4>;
  if (step.pos > 0u) {
    let src = ((step.pos - 1u) % p.slots) * slot + col;
    for (var n = 0u; n < K4; n++) { s[n] = state[src + n * p.value_dim]; }
  }
  let a_neg = per_head[h];
  let dt_bias = per_head[p.n_v_head + h];
  let q_scale = inverseSqrt(f32(p.head_k));
  let ba = p.value_dim + p.conv_dim + h; // b of head h in a token's row; a is n_v_head further
  let row4 = p.conv_dim / 4u;
  for (var t = 0u; t < n_tok; t++) {
    let q0 = t * row4 + hk * K4; // q of head hk in the token's row, in vec4s
    let k0 = q0 + p.key_dim / 4u;
    let beta = 1.0 / (1.0 + exp(-zqkvba[t * p.in_proj + ba]));
    let decay = exp(a_neg * softplus(zqkvba[t * p.in_proj + ba + p.n_v_head] + dt_bias));
    var sk = 0.0; // (S^T k)_j, raw k, before the decay
    var sq = 0.0; // (S^T q)_j
    var kk = 0.0; // this lane's share of |k|^2, then the subgroup's sum
    var qq = 0.0;
    var kq = 0.0;
    for (var c = 0u; c < K4; c += sg) {
      let i = min(c + sid, K4 - 1u); // lanes past K4 load the last vec4 again and count nothing
      let kv = qkv[k0 + i];
      let qv = qkv[q0 + i];
      let own = select(0.0, 1.0, c + sid < K4);
      kk += dot(kv, kv) * own;
      qq += dot(qv, qv) * own;
      kq += dot(kv, qv) * own;
      let m = min(sg, K4 - c);
      for (var l = 0u; l < m; l++) {
        sk += dot(s[c + l], subgroupShuffle(kv, l));
        sq += dot(s[c + l], subgroupShuffle(qv, l));
      }
    }
    kk = subgroupAdd(kk);
    qq = subgroupAdd(qq);
    kq = subgroupAdd(kq);
    let rk = inverseSqrt(kk + 1e-6);
    let rq = inverseSqrt(qq + 1e-6) * q_scale;
    let v = qkv[(t * p.conv_dim + 2u * p.key_dim) / 4u + col / 4u][col % 4u];
    let u = (v - decay * sk * rk) * beta * rk; // delta_j / |k|: S += k u^T with the raw k
    for (var c = 0u; c < K4; c += sg) {
      let kv = qkv[k0 + min(c + sid, K4 - 1u)]; // loaded again: one vec4 a lane, where keeping them costs registers
      let m = min(sg, K4 - c);
      for (var l = 0u; l < m; l++) { s[c + l] = s[c + l] * decay + subgroupShuffle(kv, l) * u; }
    }
    let o = (decay * sq + u * kq) * rq;
    y[t * p.value_dim + col] = o;
  }
  let dst = ((step.pos + n_tok - 1u) % p.slots) * slot + col;
  for (var n = 0u; n < K4; n++) { state[dst + n * p.value_dim] = s[n]; }
}

// shaders/ssm.wgsl's scan where the adapter has subgroups (appended to it, with `enable subgroups`): B and C come
// straight from xbc, each lane of a subgroup loading a different vec4 of them and the subgroup sharing them by
// shuffles, so a subgroup of S lanes makes S times fewer loads than when each lane reads every vec4 (on CPU adapters a
// lane's load is what costs), and no workgroup barriers. Lanes past the channels run along (clamped to the last
// channel) so that every shuffle has the whole subgroup, and write nothing.
@group(0) @binding(10) var<storage, read> xbc4: array<vec4f>; // xbc as vec4s (conv_dim and inner are multiples of 4)

@compute @workgroup_size(WG)
fn scan_sg(@builtin(global_invocation_id) gid: vec3u, @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) sg: u32) {
  let live = gid.x < p.inner;
  let ch = min(gid.x, p.inner - 1u); // h head_dim + i
  let h = ch / p.head_dim;
  let g = h / (p.n_head / p.n_group);
  let n_tok = step.n_tokens;
  let n4 = p.d_state / 4u;
  let slot = p.inner * n4;
  var s: array<vec4f, STATE4>;
  if (step.pos > 0u) {
    let src = ((step.pos - 1u) % p.slots) * slot + ch;
    for (var n = 0u; n < n4; n++) { s[n] = state[src + n * p.inner]; }
  }
  let dt_bias = per_head[h];
  let a = per_head[p.n_head + h];
  let skip = per_head[2u * p.n_head + h];
  let row4 = p.conv_dim / 4u;
  for (var t = 0u; t < n_tok; t++) {
    let dt = clamp(softplus(dt_in(t, h) + dt_bias), p.dt_min, p.dt_max);
    let decay = exp(dt * a);
    let xv = xbc4[t * row4 + ch / 4u];
    let x = xv[ch % 4u];
    let dtx = dt * x;
    let b0 = t * row4 + (p.inner / 4u) + g * n4;
    let c0 = b0 + p.n_group * n4;
    var acc = 0.0;
    for (var k = 0u; k < n4; k += sg) {
      let i = min(k + sid, n4 - 1u);
      let bv = xbc4[b0 + i];
      let cv = xbc4[c0 + i];
      let m = min(sg, n4 - k);
      for (var j = 0u; j < m; j++) {
        let n = k + j;
        s[n] = s[n] * decay + dtx * subgroupShuffle(bv, j);
        acc += dot(s[n], subgroupShuffle(cv, j));
      }
    }
    if (live) { y[t * p.inner + ch] = (acc + skip * x) * silu(z_in(t, ch)); }
  }
  if (live) {
    let dst = ((step.pos + n_tok - 1u) % p.slots) * slot + ch;
    for (var n = 0u; n < n4; n++) { state[dst + n * p.inner] = s[n]; }
  }
}

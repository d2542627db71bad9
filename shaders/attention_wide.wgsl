// decode_wide: decode attention for GPUs, where a workgroup's time is its chain of dependent memory
// loads, not its instruction count. decode (shaders/attention.wgsl) takes a tile's keys 4 at a time in its V pass, each
// invocation over every key of the tile: on a lent H200 ~0.3 us a step, 32 steps for a tile of 128 keys, and a short
// context gave a few workgroups (kv heads x splits of 128 keys) for the whole GPU. Here a workgroup of WG lanes takes
// WG keys a pass: lane l scores key k0 + l against every query (its K row's loads its own, 4 words a step),
// the pass's maximum and weights go through workgroup memory, and in the V pass lane l takes head vec4 l % MAXD4 for
// the keys l / MAXD4, + WG / MAXD4, ... of the pass, 4 of them a step (16 keys a lane for heads of 64). Splits are WG keys
// (decodeSplits), so a short context still spreads over several workgroups per kv head; attention.wgsl's merge combines
// the splits' partial states. Put after shaders/attention.wgsl (decode_begin, the cache, sh_q).

var<workgroup> sh_w: array<vec4<f32>, NQ * WG / 4u>; // (NQ, WG): a pass's scores, then its weights; then the lanes' sums
var<workgroup> sh_part: array<vec4<f32>, NQ * WG>; // (WG / MAXD4, NQ, MAXD4): the key subsets' partial outputs

fn wide_set(qi: u32, t: u32, x: f32) {
  sh_w[(qi * WG + t) / 4u][t % 4u] = x;
}

fn wide_get(qi: u32, t: u32) -> f32 {
  return sh_w[(qi * WG + t) / 4u][t % 4u];
}

// Query qi's highest value, and its sum, over the first n4 vec4s of lanes (every lane alike, in the same order). n4 is
// known only at run time, so the loops stay loops (lavapipe's compile time).
fn wide_max(qi: u32, n4: u32) -> f32 {
  var t = vec4<f32>(EMPTY_M);
  for (var i = 0u; i < n4; i++) { t = max(t, sh_w[qi * (WG / 4u) + i]); }
  return max(max(t.x, t.y), max(t.z, t.w));
}

fn wide_sum(qi: u32, n4: u32) -> f32 {
  var t = vec4<f32>(0.0);
  for (var i = 0u; i < n4; i++) { t += sh_w[qi * (WG / 4u) + i]; }
  return (t.x + t.y) + (t.z + t.w);
}

// Scores of key j (row `row`) against every query; MASKED past the split's end.
fn wide_scores(j: u32, end: u32, row: u32, kvh: u32) -> array<f32, NQ> {
  let kb = kv_word(0u, row, kvh);
  var dots: array<f32, NQ>;
  for (var qi = 0u; qi < NQ; qi++) { dots[qi] = 0.0; }
  // 4 of the row's words a step, their loads together (on a GPU each step waits for its loads), then the rest.
  let hd4 = p.head_dim / 4u;
  var d = 0u;
  for (; d + 3u < hd4; d += 4u) {
    let k0 = kv_decode(kv[kb + d]);
    let k1 = kv_decode(kv[kb + d + 1u]);
    let k2 = kv_decode(kv[kb + d + 2u]);
    let k3 = kv_decode(kv[kb + d + 3u]);
    for (var qi = 0u; qi < NQ; qi++) {
      let q = qi * MAXD4 + d;
      dots[qi] += (dot(sh_q[q], k0) + dot(sh_q[q + 1u], k1)) + (dot(sh_q[q + 2u], k2) + dot(sh_q[q + 3u], k3));
    }
  }
  for (; d < hd4; d++) {
    let k = kv_decode(kv[kb + d]);
    for (var qi = 0u; qi < NQ; qi++) { dots[qi] += dot(sh_q[qi * MAXD4 + d], k); }
  }
  let ks = kv_scale(kv_scale_word(0u, row, kvh));
  var s: array<f32, NQ>;
  for (var qi = 0u; qi < NQ; qi++) {
    var x = dots[qi] * ks;
    if (p.softcap > 0.0) { x = p.softcap * tanh4(vec4<f32>(x / p.softcap)).x; }
    s[qi] = select(MASKED, x, j < end);
  }
  return s;
}

// Head vec4 d4 of the V row of the pass's key t (k0 + t); zeros at or past the pass's n keys.
fn wide_v(k0: u32, t: u32, n: u32, d4: u32, kvh: u32) -> vec4<f32> {
  let row = (k0 + min(t, n - 1u)) % p.cache_len;
  return select(vec4<f32>(0.0), kv_decode(kv[kv_word(1u, row, kvh) + d4]), t < n);
}

@compute @workgroup_size(WG)
fn decode_wide(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let kvh = wg.x;
  let keys = decode_begin(kvh, wg.y, lid, WG);
  if (keys.start >= keys.end) { return; }
  let hd4 = p.head_dim / 4u; // MAXD4, as a run-time value: the V pass's loop stays a loop
  let ksub = WG / hd4; // key subsets of the V pass
  let sub = lid / hd4;
  let d4 = lid % hd4;
  var mr: array<f32, NQ>; // running maximum: the same in every lane
  var ll: array<f32, NQ>; // this lane's keys' weights, summed at mr
  var part: array<vec4<f32>, NQ>; // head vec4 d4 over this lane's key subset, at mr
  for (var qi = 0u; qi < NQ; qi++) {
    mr[qi] = EMPTY_M;
    ll[qi] = 0.0;
    part[qi] = vec4<f32>(0.0);
  }
  for (var k0 = keys.start; k0 < keys.end; k0 += WG) {
    let j = k0 + lid;
    let row = min(j, keys.end - 1u) % p.cache_len;
    let s = wide_scores(j, keys.end, row, kvh);
    for (var qi = 0u; qi < NQ; qi++) { wide_set(qi, lid, s[qi]); }
    workgroupBarrier();
    var corr: array<f32, NQ>;
    let n4 = (min(keys.end - k0, WG) + 3u) / 4u; // lanes past the keys hold MASKED
    for (var qi = 0u; qi < NQ; qi++) {
      let m_new = max(mr[qi], wide_max(qi, n4));
      corr[qi] = exp(mr[qi] - m_new);
      mr[qi] = m_new;
    }
    workgroupBarrier(); // every lane has the maxima before the weights overwrite the scores
    let vs = kv_scale(kv_scale_word(1u, row, kvh));
    for (var qi = 0u; qi < NQ; qi++) {
      let e = select(0.0, exp(s[qi] - mr[qi]), s[qi] > MASKED);
      ll[qi] = ll[qi] * corr[qi] + e;
      wide_set(qi, lid, e * vs); // V's scale folded into the weight (l keeps the plain one)
    }
    workgroupBarrier();
    if (sub < ksub) {
      for (var qi = 0u; qi < NQ; qi++) { part[qi] *= corr[qi]; }
      let n = min(keys.end - k0, WG);
      // 4 keys a step, their loads together (on a GPU each step waits for its loads); keys past the pass read as zeros
      // with weight 0. A run-time bound: the loop stays a loop (lavapipe's compile time).
      for (var t = sub; t < n; t += 4u * ksub) {
        let v0 = wide_v(k0, t, n, d4, kvh);
        let v1 = wide_v(k0, t + ksub, n, d4, kvh);
        let v2 = wide_v(k0, t + 2u * ksub, n, d4, kvh);
        let v3 = wide_v(k0, t + 3u * ksub, n, d4, kvh);
        for (var qi = 0u; qi < NQ; qi++) {
          part[qi] += (wide_get(qi, t) * v0 + wide_get(qi, min(t + ksub, WG - 1u)) * v1)
            + (wide_get(qi, min(t + 2u * ksub, WG - 1u)) * v2 + wide_get(qi, min(t + 3u * ksub, WG - 1u)) * v3);
        }
      }
    }
    workgroupBarrier(); // the next pass overwrites sh_w
  }
  for (var qi = 0u; qi < NQ; qi++) {
    wide_set(qi, lid, ll[qi]);
    if (sub < ksub) { sh_part[(sub * NQ + qi) * MAXD4 + d4] = part[qi]; }
  }
  workgroupBarrier();
  if (lid >= MAXD4) { return; }
  let lanes4 = (min(keys.end - keys.start, WG) + 3u) / 4u; // lanes past the split's keys summed nothing
  for (var qi = 0u; qi < NQ; qi++) {
    let lsum = wide_sum(qi, lanes4);
    var a = sh_part[qi * MAXD4 + d4];
    for (var u = 1u; u < ksub; u++) { a += sh_part[(u * NQ + qi) * MAXD4 + d4]; }
    if (p.n_split == 1u) {
      out[(kvh * GROUP + qi) * hd4 + d4] = a * (1.0 / lsum);
    } else {
      let slot = (kvh * GROUP + qi) * p.n_split + wg.y;
      part_acc[slot * hd4 + d4] = a;
      if (d4 == 0u) { part_ml[slot] = vec2<f32>(mr[qi], lsum); }
    }
  }
}

// decode_flat and prefill_flat: attention for SwiftShader (chromium's CPU adapter), joined after shaders/attention.wgsl.
// SwiftShader's JIT (Subzero) unrolls no loop, so the other entry points' small arrays indexed by loop counters (a
// key's vec4s, the queries' dots and states) stay in memory there, every access a gather issued lane by lane: a
// SmolLM2-shaped layer took 4.0-4.4 ms at 512 keys by keys or by dims (bench/attention_page), 25x lavapipe's
// decode_dims. This is decode_dims written out. The workgroup is one subgroup of FW = 4 lanes (SwiftShader's SIMD width; lanes_sum4 sums over
// it), and lane lid owns the head's vec4s lid + 4i, i < ND: columns i of two mat4x4s, lo (i < 4) and hi (i >= 4),
// so head_dim is at most 128. Up to 4 queries at once are the components of a vec4 (a key's scores, the online
// softmax's m and l), each with its own q and acc matrices; a kv head's GROUP queries go over its keys in passes
// of 4. Every index into a matrix is a constant, which Subzero keeps out of memory. decode_flat takes splits of the keys
// as decode does (then attention/merge); decode_flat_q8 one split.
const FW: u32 = 4u;
const ND: u32 = (MAXD4 + FW - 1u) / FW; // vec4s of the head a lane owns (the last lanes may own fewer)

// Vec4 i of the head for this lane, from a K or V row starting at word `base`; zero past the head. Where every lane
// owns ND vec4s (head_dim a multiple of 16), no clamp and no select.
fn kv4(base: u32, lid: u32, i: u32) -> vec4<f32> {
  let d4 = lid + FW * i;
  if (MAXD4 % FW == 0u) { return kv_decode(kv[base + d4]); }
  return select(vec4<f32>(0.0), kv_decode(kv[base + min(d4, MAXD4 - 1u)]), d4 < MAXD4);
}

// Columns 4h .. 4h + 3 of a row (h: 0 for lo, 1 for hi); columns past ND zero.
fn kv_half(base: u32, lid: u32, h: u32) -> mat4x4<f32> {
  var m = mat4x4<f32>(kv4(base, lid, 4u * h), vec4<f32>(), vec4<f32>(), vec4<f32>());
  if (ND > 4u * h + 1u) { m[1] = kv4(base, lid, 4u * h + 1u); }
  if (ND > 4u * h + 2u) { m[2] = kv4(base, lid, 4u * h + 2u); }
  if (ND > 4u * h + 3u) { m[3] = kv4(base, lid, 4u * h + 3u); }
  return m;
}

// This lane's part of a query's head (rotated and scaled in sh_q by decode_begin); zero for a query past GROUP.
fn q_half(q: u32, lid: u32, h: u32) -> mat4x4<f32> {
  var m = mat4x4<f32>();
  if (q < GROUP) {
    for (var c = 0u; c < 4u; c++) { // once per pass: a loop is fine here
      let d4 = lid + FW * (4u * h + c);
      if (d4 < MAXD4) { m[c] = sh_q[q * MAXD4 + d4]; }
    }
  }
  return m;
}

// Sum over the 4 columns of the products of two halves.
fn half_dot(a: mat4x4<f32>, b: mat4x4<f32>) -> f32 {
  return (dot(a[0], b[0]) + dot(a[1], b[1])) + (dot(a[2], b[2]) + dot(a[3], b[3]));
}

// One pass's softmax state, by query (component); its accumulators are fa_lo and fa_hi.
struct FlatPass {
  m: vec4<f32>,
  l: vec4<f32>,
}
var<private> fq_lo: array<mat4x4<f32>, 4>; // [query] (constant indices only)
var<private> fq_hi: array<mat4x4<f32>, 4>;
var<private> fa_lo: array<mat4x4<f32>, 4>;
var<private> fa_hi: array<mat4x4<f32>, 4>;

// Keys [start, end) of kv head kvh for queries q0 .. q0+3: m, l and the accumulators.
fn attend_flat(start: u32, end: u32, kvh: u32, lid: u32, q0: u32) -> FlatPass {
  fq_lo[0] = q_half(q0, lid, 0u);
  fq_lo[1] = q_half(q0 + 1u, lid, 0u);
  fq_lo[2] = q_half(q0 + 2u, lid, 0u);
  fq_lo[3] = q_half(q0 + 3u, lid, 0u);
  fa_lo = array<mat4x4<f32>, 4>();
  if (ND > 4u) {
    fq_hi[0] = q_half(q0, lid, 1u);
    fq_hi[1] = q_half(q0 + 1u, lid, 1u);
    fq_hi[2] = q_half(q0 + 2u, lid, 1u);
    fq_hi[3] = q_half(q0 + 3u, lid, 1u);
    fa_hi = array<mat4x4<f32>, 4>();
  }
  var m = vec4<f32>(EMPTY_M);
  var l = vec4<f32>(0.0);
  var row = start % p.cache_len; // key j's row, without a division per key
  for (var j = start; j < end; j++) {
    let kb = kv_word(0u, row, kvh);
    let vb = kv_word(1u, row, kvh);
    let k_lo = kv_half(kb, lid, 0u);
    // Queries past GROUP (a head with fewer than 4) are left out by constant conditions: no work under Subzero.
    var part = vec4<f32>(half_dot(fq_lo[0], k_lo), 0.0, 0.0, 0.0);
    if (GROUP > 1u) { part.y = half_dot(fq_lo[1], k_lo); }
    if (GROUP > 2u) { part.z = half_dot(fq_lo[2], k_lo); }
    if (GROUP > 3u) { part.w = half_dot(fq_lo[3], k_lo); }
    if (ND > 4u) {
      let k_hi = kv_half(kb, lid, 1u);
      part.x += half_dot(fq_hi[0], k_hi);
      if (GROUP > 1u) { part.y += half_dot(fq_hi[1], k_hi); }
      if (GROUP > 2u) { part.z += half_dot(fq_hi[2], k_hi); }
      if (GROUP > 3u) { part.w += half_dot(fq_hi[3], k_hi); }
    }
    var s = lanes_sum4(part) * kv_scale(kv_scale_word(0u, row, kvh));
    if (p.softcap > 0.0) { s = p.softcap * tanh4(s / p.softcap); }
    // Of exp(m - m_new) and exp(s - m_new) one is 1: a single exp per query and key (as attend_dims).
    let e = exp(-abs(s - m));
    let up = s > m;
    let corr = select(vec4<f32>(1.0), e, up);
    let prob = select(e, vec4<f32>(1.0), up) * kv_scale(kv_scale_word(1u, row, kvh));
    m = max(m, s);
    l = l * corr + select(e, vec4<f32>(1.0), up);
    let v_lo = kv_half(vb, lid, 0u);
    fa_lo[0] = fa_lo[0] * corr.x + v_lo * prob.x;
    if (GROUP > 1u) { fa_lo[1] = fa_lo[1] * corr.y + v_lo * prob.y; }
    if (GROUP > 2u) { fa_lo[2] = fa_lo[2] * corr.z + v_lo * prob.z; }
    if (GROUP > 3u) { fa_lo[3] = fa_lo[3] * corr.w + v_lo * prob.w; }
    if (ND > 4u) {
      let v_hi = kv_half(vb, lid, 1u);
      fa_hi[0] = fa_hi[0] * corr.x + v_hi * prob.x;
      if (GROUP > 1u) { fa_hi[1] = fa_hi[1] * corr.y + v_hi * prob.y; }
      if (GROUP > 2u) { fa_hi[2] = fa_hi[2] * corr.z + v_hi * prob.z; }
      if (GROUP > 3u) { fa_hi[3] = fa_hi[3] * corr.w + v_hi * prob.w; }
    }
    row = select(row + 1u, 0u, row + 1u == p.cache_len);
  }
  return FlatPass(m, l);
}

// Query q0 + c's output vec4 i of this lane (c, i constants at every call).
fn flat_out(c: u32, i: u32, inv: f32) -> vec4<f32> {
  if (i < 4u) { return fa_lo[c][i] * inv; }
  return fa_hi[c][i - 4u] * inv;
}

// The pass's outputs into out, at token row t.
fn write_flat(fp: FlatPass, q0: u32, t: u32, kvh: u32, lid: u32) {
  let hd4 = p.head_dim / 4u;
  let inv = vec4<f32>(1.0) / fp.l;
  for (var c = 0u; c < 4u; c++) { // over the queries: dynamic indices into fa_*, but once per pass
    let q = q0 + c;
    if (q >= GROUP) { break; }
    for (var i = 0u; i < ND; i++) {
      let d4 = lid + FW * i;
      if (d4 < MAXD4) { out[(t * p.n_head + kvh * GROUP + q) * hd4 + d4] = flat_out(c, i, inv[c]); }
    }
  }
}

// And in Q8_0, as decode_dims_q8 writes it (ggml's quantize_row_q8_0 numerics on the values out holds): block b of
// a head is its vec4s 8b .. 8b+7, columns 2b and 2b + 1 of the 4 lanes (head_dim a multiple of 32).
fn write_flat_q8(fp: FlatPass, q0: u32, kvh: u32, lid: u32) {
  let hd4 = p.head_dim / 4u;
  let inv = vec4<f32>(1.0) / fp.l;
  for (var c = 0u; c < 4u; c++) {
    let q = q0 + c;
    if (q >= GROUP) { break; }
    let base = (kvh * GROUP + q) * hd4;
    for (var i = 1u; i < ND; i += 2u) {
      let o0 = flat_out(c, i - 1u, inv[c]);
      let o1 = flat_out(c, i, inv[c]);
      let a = max(abs(o0), abs(o1));
      let d = div_exact(lanes_max(max(max(a.x, a.y), max(a.z, a.w))), 127.0);
      let id = select(0.0, div_exact(1.0, d), d != 0.0);
      let w = base + lid + FW * i;
      out_q[w - FW] = pack_i8(round_away(o0 * id));
      out_q[w] = pack_i8(round_away(o1 * id));
      if (lid == 0u) { out_d[w / 8u] = round_f16(vec4<f32>(d)).x; }
    }
  }
}

// With more than one split: the pass's partial states (m, l, acc) for attention/merge, as decode_end writes them.
fn write_flat_part(fp: FlatPass, q0: u32, kvh: u32, split: u32, lid: u32) {
  let hd4 = p.head_dim / 4u;
  for (var c = 0u; c < 4u; c++) {
    let q = q0 + c;
    if (q >= GROUP) { break; }
    let slot = (kvh * GROUP + q) * p.n_split + split;
    for (var i = 0u; i < ND; i++) {
      let d4 = lid + FW * i;
      if (d4 < MAXD4) { part_acc[slot * hd4 + d4] = flat_out(c, i, 1.0); }
    }
    if (lid == 0u) { part_ml[slot] = vec2<f32>(fp.m[c], fp.l[c]); }
  }
}

// Workgroup (kv head, split): the split's keys (decode_begin: whole tiles of keys, so a short context leaves the last
// splits empty), its output with one split, else partial states that attention/merge combines.
@compute @workgroup_size(FW)
fn decode_flat(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let keys = decode_begin(wg.x, wg.y, lid);
  if (keys.start >= keys.end) { return; }
  for (var q0 = 0u; q0 < GROUP; q0 += 4u) {
    let fp = attend_flat(keys.start, keys.end, wg.x, lid, q0);
    if (p.n_split == 1u) { write_flat(fp, q0, 0u, wg.x, lid); } else { write_flat_part(fp, q0, wg.x, wg.y, lid); }
  }
}

// decode_flat that also writes its output in Q8_0, for the o GEMV (so no quantize dispatch runs before it).
@compute @workgroup_size(FW)
fn decode_flat_q8(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let keys = decode_begin(wg.x, 0u, lid);
  for (var q0 = 0u; q0 < GROUP; q0 += 4u) {
    let fp = attend_flat(keys.start, keys.end, wg.x, lid, q0);
    write_flat(fp, q0, 0u, wg.x, lid);
    write_flat_q8(fp, q0, wg.x, lid);
  }
}

// The prefill the same way, one token a workgroup (as prefill_dims): its GROUP queries, rotated by the RoPE dispatch,
// from qkv into sh_q, then keys 0 .. pos + t.
@compute @workgroup_size(FW)
fn prefill_flat(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  for (var i = lid; i < GROUP * MAXD4; i += FW) {
    sh_q[i] = qkv4(t * row_len + (kvh * GROUP + i / MAXD4) * p.head_dim, i % MAXD4) * p.scale;
  }
  workgroupBarrier();
  let n_keys = step.pos + t + 1u; // causal: keys 0..pos+t
  for (var q0 = 0u; q0 < GROUP; q0 += 4u) { write_flat(attend_flat(first_key(n_keys), n_keys, kvh, lid, q0), q0, t, kvh, lid); }
}

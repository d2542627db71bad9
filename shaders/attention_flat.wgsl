// decode_flat and prefill_flat: attention for SwiftShader (chromium's CPU adapter), joined after shaders/attention.wgsl.
// SwiftShader's JIT (Subzero) unrolls no loop, so the other entry points' small arrays indexed by loop counters (a
// key's vec4s, the queries' dots and states) stay in memory there, every access a gather issued lane by lane: a
// SmolLM2-shaped layer took 4.0-4.4 ms at 512 keys by keys or by dims (bench/attention_page), 25x lavapipe's
// decode_dims. This is decode_dims written out. The workgroup is one subgroup of FW = 4 lanes (SwiftShader's SIMD
// width; lanes_sum4 sums over it), and lane lid owns the head's vec4s lid + 4i, i < ND: column i % 4 of quarter i / 4,
// a mat4x4, up to 4 quarters (head_dim at most 256). Up to 4 queries at once are the components of a vec4 (a key's
// scores, the online softmax's m and l), each with its own q and acc matrices per quarter; a kv head's GROUP queries
// go over its keys in passes of 4. Every index into an array or a matrix is a constant, which Subzero keeps out of
// memory; quarters past ND and queries past GROUP are left out by constant conditions. decode_flat takes splits of
// the keys as decode does (then attention/merge); decode_flat_q8 one split.
const FW: u32 = 4u;
const ND: u32 = (MAXD4 + FW - 1u) / FW; // vec4s of the head a lane owns (the last lanes may own fewer)

// Vec4 i of the head for this lane, from a K or V row starting at word `base`; zero past the head. Where every lane
// owns ND vec4s (head_dim a multiple of 16), no clamp and no select.
fn kv4(base: u32, lid: u32, i: u32) -> vec4<f32> {
  let d4 = lid + FW * i;
  if (MAXD4 % FW == 0u) { return kv_decode_flat(kv[base + d4]); }
  return select(vec4<f32>(0.0), kv_decode_flat(kv[base + min(d4, MAXD4 - 1u)]), d4 < MAXD4);
}

// Quarter h of this lane's part of a K or V row: its vec4s 4h .. 4h + 3; those past ND zero.
fn kv_quarter(base: u32, lid: u32, h: u32) -> mat4x4<f32> {
  var m = mat4x4<f32>(kv4(base, lid, 4u * h), vec4<f32>(), vec4<f32>(), vec4<f32>());
  if (ND > 4u * h + 1u) { m[1] = kv4(base, lid, 4u * h + 1u); }
  if (ND > 4u * h + 2u) { m[2] = kv4(base, lid, 4u * h + 2u); }
  if (ND > 4u * h + 3u) { m[3] = kv4(base, lid, 4u * h + 3u); }
  return m;
}

// This lane's part of a query's head (rotated and scaled in sh_q by decode_begin); zero for a query past GROUP.
fn q_quarter(q: u32, lid: u32, h: u32) -> mat4x4<f32> {
  var m = mat4x4<f32>();
  if (q < GROUP) {
    for (var c = 0u; c < 4u; c++) { // once per pass: a loop is fine here
      let d4 = lid + FW * (4u * h + c);
      if (d4 < MAXD4) { m[c] = sh_q[q * MAXD4 + d4]; }
    }
  }
  return m;
}

// Sum over the 4 columns of the products of two quarters.
fn quarter_dot(a: mat4x4<f32>, b: mat4x4<f32>) -> f32 {
  return (dot(a[0], b[0]) + dot(a[1], b[1])) + (dot(a[2], b[2]) + dot(a[3], b[3]));
}

// One pass's softmax state, by query (component); its accumulators are fa.
struct FlatPass {
  m: vec4<f32>,
  l: vec4<f32>,
}
var<private> fq: array<mat4x4<f32>, 16>; // [4 * quarter + query]: constant indices in the key loop
var<private> fa: array<mat4x4<f32>, 16>;

// Quarter h's dots of a key's K quarter k with the pass's 4 queries (their q quarters a0 .. a3).
fn quarter_dots(a0: mat4x4<f32>, a1: mat4x4<f32>, a2: mat4x4<f32>, a3: mat4x4<f32>, k: mat4x4<f32>) -> vec4<f32> {
  var d = vec4<f32>(quarter_dot(a0, k), 0.0, 0.0, 0.0);
  if (GROUP > 1u) { d.y = quarter_dot(a1, k); }
  if (GROUP > 2u) { d.z = quarter_dot(a2, k); }
  if (GROUP > 3u) { d.w = quarter_dot(a3, k); }
  return d;
}

// Keys [start, end) of kv head kvh for queries q0 .. q0+3: m, l and the accumulators.
fn attend_flat(start: u32, end: u32, kvh: u32, lid: u32, q0: u32) -> FlatPass {
  fa = array<mat4x4<f32>, 16>();
  for (var h = 0u; h < 4u; h++) { // once per pass: dynamic indices are fine here
    if (ND > 4u * h) {
      for (var c = 0u; c < 4u; c++) { fq[4u * h + c] = q_quarter(q0 + c, lid, h); }
    }
  }
  var m = vec4<f32>(EMPTY_M);
  var l = vec4<f32>(0.0);
  var row = start % p.cache_len; // key j's row, without a division per key
  for (var j = start; j < end; j++) {
    let kb = kv_word(0u, row, kvh);
    let vb = kv_word(1u, row, kvh);
    var part = quarter_dots(fq[0], fq[1], fq[2], fq[3], kv_quarter(kb, lid, 0u));
    if (ND > 4u) { part += quarter_dots(fq[4], fq[5], fq[6], fq[7], kv_quarter(kb, lid, 1u)); }
    if (ND > 8u) { part += quarter_dots(fq[8], fq[9], fq[10], fq[11], kv_quarter(kb, lid, 2u)); }
    if (ND > 12u) { part += quarter_dots(fq[12], fq[13], fq[14], fq[15], kv_quarter(kb, lid, 3u)); }
    var s = lanes_sum4(part) * kv_scale(kv_scale_word(0u, row, kvh));
    if (p.softcap > 0.0) { s = p.softcap * tanh4(s / p.softcap); }
    // Of exp(m - m_new) and exp(s - m_new) one is 1: a single exp per query and key (as attend_dims).
    let e = exp(-abs(s - m));
    let up = s > m;
    let corr = select(vec4<f32>(1.0), e, up);
    let prob = select(e, vec4<f32>(1.0), up) * kv_scale(kv_scale_word(1u, row, kvh));
    m = max(m, s);
    l = l * corr + select(e, vec4<f32>(1.0), up);
    let v0 = kv_quarter(vb, lid, 0u);
    fa[0] = fa[0] * corr.x + v0 * prob.x;
    if (GROUP > 1u) { fa[1] = fa[1] * corr.y + v0 * prob.y; }
    if (GROUP > 2u) { fa[2] = fa[2] * corr.z + v0 * prob.z; }
    if (GROUP > 3u) { fa[3] = fa[3] * corr.w + v0 * prob.w; }
    if (ND > 4u) {
      let v1 = kv_quarter(vb, lid, 1u);
      fa[4] = fa[4] * corr.x + v1 * prob.x;
      if (GROUP > 1u) { fa[5] = fa[5] * corr.y + v1 * prob.y; }
      if (GROUP > 2u) { fa[6] = fa[6] * corr.z + v1 * prob.z; }
      if (GROUP > 3u) { fa[7] = fa[7] * corr.w + v1 * prob.w; }
    }
    if (ND > 8u) {
      let v2 = kv_quarter(vb, lid, 2u);
      fa[8] = fa[8] * corr.x + v2 * prob.x;
      if (GROUP > 1u) { fa[9] = fa[9] * corr.y + v2 * prob.y; }
      if (GROUP > 2u) { fa[10] = fa[10] * corr.z + v2 * prob.z; }
      if (GROUP > 3u) { fa[11] = fa[11] * corr.w + v2 * prob.w; }
    }
    if (ND > 12u) {
      let v3 = kv_quarter(vb, lid, 3u);
      fa[12] = fa[12] * corr.x + v3 * prob.x;
      if (GROUP > 1u) { fa[13] = fa[13] * corr.y + v3 * prob.y; }
      if (GROUP > 2u) { fa[14] = fa[14] * corr.z + v3 * prob.z; }
      if (GROUP > 3u) { fa[15] = fa[15] * corr.w + v3 * prob.w; }
    }
    row = select(row + 1u, 0u, row + 1u == p.cache_len);
  }
  return FlatPass(m, l);
}

// Query q0 + c's output vec4 i of this lane (c, i constants at every call).
fn flat_out(c: u32, i: u32, inv: f32) -> vec4<f32> {
  return fa[4u * (i / 4u) + c][i % 4u] * inv;
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
      let s = q8_scale(lanes_max(max(max(a.x, a.y), max(a.z, a.w))));
      let w = base + lid + FW * i;
      out_q[w - FW] = q8_word(o0, s.y);
      out_q[w] = q8_word(o1, s.y);
      if (lid == 0u) { out_d[w / 8u] = q8_stored_scale(s.x); }
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
  let keys = decode_begin(wg.x, wg.y, lid, KT);
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
  let keys = decode_begin(wg.x, 0u, lid, KT);
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
  let n_keys = step.pos + t + 1u; // keys 0..pos+t (causal)
  for (var q0 = 0u; q0 < GROUP; q0 += 4u) { write_flat(attend_flat(first_key(n_keys), key_end(n_keys), kvh, lid, q0), q0, t, kvh, lid); }
}

// prefill_flat within each token's input (shaders/attention.wgsl's `inputs`).
@compute @workgroup_size(FW)
fn prefill_flat_inputs(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  for (var i = lid; i < GROUP * MAXD4; i += FW) {
    sh_q[i] = qkv4(t * row_len + (kvh * GROUP + i / MAXD4) * p.head_dim, i % MAXD4) * p.scale;
  }
  workgroupBarrier();
  let n_keys = step.pos + t + 1u;
  let first = input_first(n_keys, t);
  let end = input_end(n_keys, t);
  for (var q0 = 0u; q0 < GROUP; q0 += 4u) { write_flat(attend_flat(first, end, kvh, lid, q0), q0, t, kvh, lid); }
}

// Causal grouped-query attention over the K/V cache (stored as src/kernels/kv_layout.ts says; the
// format's kv_decode / kv_scale are put in front at load), three entry points:
//   main:   prefill, one workgroup per (query head, token); RoPE and the cache write ran before it
//           (shaders/rope.wgsl).
//   decode: one token, split-K ("flash-decoding"): workgroup (kv head, split) covers one contiguous
//           range of the keys for the GROUP query heads that share the kv head (each K and V row read
//           once for all of them) and writes their partial softmax states (m, l, acc) to part_ml /
//           part_acc. It also does RoPE of the queries and of the new k, and the split holding the new
//           position stores that K and V in the cache, so a decode layer has no RoPE dispatch.
//   merge:  one workgroup per query head combines the n_split partial states into the output.
// In each, an invocation owns keys lid, lid+WG, ... of its range and keeps its own online softmax
// (running max m, sum l, the weighted sum of V rows acc) in registers; the WG states are merged at the
// end in log2(WG) rounds through workgroup memory. So the key loop has no barriers at all: on lavapipe a
// barrier costs far more than the arithmetic. Sliding-window layers read only the last `window` keys;
// their cache is a ring of cache_len rows (key j in row j % cache_len). The decode's new key is never
// read from the cache in the dispatch that writes it: its row held a key outside every window.
// Put in front at load: MAXD4 = head_dim / 4, GROUP = n_head / n_kv, a K/V format, shaders/kv_write.wgsl, tanh.
override WG: u32 = 32;

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  scale: f32, // multiplies q.k: 1/sqrt(head_dim), or query_pre_attn_scalar^-0.5 (Gemma)
  window: u32, // keys pos-window+1..pos; 0 = all keys
  cache_len: u32, // rows of the K/V ring
  softcap: f32, // scores = softcap * tanh(scores / softcap) (Gemma 2); 0 = off
  n_split: u32, // decode: workgroups per query head, each a range of the keys
  n_rot: u32, // decode's RoPE, as shaders/rope.wgsl
  neox: u32,
  long_from: u32,
  mscale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (tables, n_rot/2)
@group(0) @binding(3) var<storage, read> qkv: array<f32>; // (T, q_dim + 2*kv_dim); prefill: q rotated
// codes (2, cache_len, kv_dim), then scales (2, cache_len, n_kv)
@group(0) @binding(4) var<storage, read_write> kv: array<KvWord>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (T, q_dim/4)
@group(0) @binding(6) var<storage, read_write> part_acc: array<vec4<f32>>; // (n_head, n_split, head_dim/4)
@group(0) @binding(7) var<storage, read_write> part_ml: array<vec2<f32>>; // (n_head, n_split): (m, l)

// Partial states handed from the upper half of the active invocations to the lower half.
var<workgroup> sh_m: array<f32, WG>;
var<workgroup> sh_l: array<f32, WG>;
var<workgroup> sh_acc: array<vec4<f32>, WG * MAXD4 / 2u>;
var<workgroup> sh_q: array<vec4<f32>, GROUP * MAXD4>; // decode: the rotated, scaled queries of the kv head's group

alias Head = array<vec4<f32>, MAXD4>;
// Finite start: merging two empty states gives exp(0) * 0, never NaN.
const EMPTY_M: f32 = -3.0e38;

fn capped(s: f32) -> f32 {
  if (p.softcap > 0.0) { return p.softcap * tanh_stable(s / p.softcap); }
  return s;
}

// Keys j0 + lid, j0 + lid + WG, ... below j1 of kv head kvh, from the cache, into this invocation's state.
fn attend(
  q: ptr<function, Head>, acc: ptr<function, Head>, ml: ptr<function, vec2<f32>>, j0: u32, j1: u32, lid: u32, kvh: u32,
) {
  const hd4 = MAXD4; // = head_dim / 4: constant loop bounds let the compiler keep the head in registers
  var m = (*ml).x;
  var l = (*ml).y;
  for (var j = j0 + lid; j < j1; j += WG) {
    let row = j % p.cache_len;
    let kb = kv_word(0u, row, kvh);
    let vb = kv_word(1u, row, kvh);
    var s = 0.0;
    for (var d = 0u; d < hd4; d++) { s += dot((*q)[d], kv_decode(kv[kb + d])); }
    s = capped(s * kv_scale(kv_scale_word(0u, row, kvh)));
    let m_new = max(m, s);
    let corr = exp(m - m_new);
    let e = exp(s - m_new);
    l = l * corr + e;
    let ev = e * kv_scale(kv_scale_word(1u, row, kvh));
    for (var d = 0u; d < hd4; d++) { (*acc)[d] = (*acc)[d] * corr + ev * kv_decode(kv[vb + d]); }
    m = m_new;
  }
  *ml = vec2<f32>(m, l);
}

// The WG invocations' states merged into invocation 0's (all invocations call it, in uniform control flow).
fn merge_invocations(acc: ptr<function, Head>, ml: ptr<function, vec2<f32>>, lid: u32) {
  const hd4 = MAXD4; // = head_dim / 4: constant loop bounds let the compiler keep the head in registers
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid >= stride && lid < 2u * stride) {
      let o = lid - stride;
      sh_m[o] = (*ml).x;
      sh_l[o] = (*ml).y;
      for (var d = 0u; d < hd4; d++) { sh_acc[o * MAXD4 + d] = (*acc)[d]; }
    }
    workgroupBarrier();
    if (lid < stride) {
      let m2 = sh_m[lid];
      let mm = max((*ml).x, m2);
      let c1 = exp((*ml).x - mm);
      let c2 = exp(m2 - mm);
      *ml = vec2<f32>(mm, (*ml).y * c1 + sh_l[lid] * c2);
      for (var d = 0u; d < hd4; d++) { (*acc)[d] = (*acc)[d] * c1 + sh_acc[lid * MAXD4 + d] * c2; }
    }
    workgroupBarrier();
  }
}

// First key a query at key count n_keys sees.
fn first_key(n_keys: u32) -> u32 {
  if (p.window > 0u && n_keys > p.window) { return n_keys - p.window; }
  return 0u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  const hd4 = MAXD4; // = head_dim / 4: constant loop bounds let the compiler keep the head in registers
  let kvh = h / (p.n_head / p.n_kv);
  let q_base = t * (p.n_head + 2u * p.n_kv) * p.head_dim + h * p.head_dim;
  var q: Head;
  var acc: Head;
  for (var d = 0u; d < hd4; d++) {
    q[d] = qkv4(q_base, d) * p.scale;
    acc[d] = vec4<f32>(0.0);
  }
  var ml = vec2<f32>(EMPTY_M, 0.0);
  let n_keys = step.pos + t + 1u; // causal: keys 0..pos+t
  attend(&q, &acc, &ml, first_key(n_keys), n_keys, lid, kvh);
  merge_invocations(&acc, &ml, lid);
  if (lid == 0u) {
    let o_base = (t * p.n_head + h) * hd4;
    let inv = 1.0 / ml.y;
    for (var d = 0u; d < hd4; d++) { out[o_base + d] = acc[d] * inv; }
  }
}

// A decode workgroup's state, per invocation: the GROUP query heads of its kv head (query head
// kvh * GROUP + g is g), and their online softmax over this invocation's keys.
var<private> dq: array<vec4<f32>, GROUP * MAXD4>;
var<private> dacc: array<vec4<f32>, GROUP * MAXD4>;
var<private> dm: array<f32, GROUP>;
var<private> dl: array<f32, GROUP>;

// Adds a key (its K row k, scaled by ks, and V row v, scaled by vs) to every head's state.
fn decode_key(k: Head, ks: f32, v: Head, vs: f32) {
  const hd4 = MAXD4;
  var e: array<f32, GROUP>;
  var corr: array<f32, GROUP>;
  for (var g = 0u; g < GROUP; g++) {
    var s = 0.0;
    for (var d = 0u; d < hd4; d++) { s += dot(dq[g * hd4 + d], k[d]); }
    s = capped(s * ks);
    let m_new = max(dm[g], s);
    corr[g] = exp(dm[g] - m_new);
    e[g] = exp(s - m_new);
    dl[g] = dl[g] * corr[g] + e[g];
    dm[g] = m_new;
    e[g] *= vs;
  }
  for (var d = 0u; d < hd4; d++) {
    for (var g = 0u; g < GROUP; g++) { dacc[g * hd4 + d] = dacc[g * hd4 + d] * corr[g] + e[g] * v[d]; }
  }
}

@compute @workgroup_size(WG)
fn decode(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let kvh = wg.x;
  let split = wg.y;
  const hd4 = MAXD4; // = head_dim / 4: constant loop bounds let the compiler keep the heads in registers
  let pos = step.pos;
  let n_keys = pos + 1u;
  let first = first_key(n_keys);
  // Ranges of whole multiples of WG keys, so that every invocation of a busy split has work.
  let chunk = ((n_keys - first + p.n_split - 1u) / p.n_split + WG - 1u) / WG * WG;
  let start = first + split * chunk;
  if (start >= n_keys) { // nothing left for this split
    for (var g = lid; g < GROUP; g += WG) { part_ml[(kvh * GROUP + g) * p.n_split + split] = vec2<f32>(EMPTY_M, 0.0); }
    return;
  }
  let end = min(start + chunk, n_keys);
  let has_new = end == n_keys; // this split holds the new position
  let q_dim = p.n_head * p.head_dim;
  let kv_dim = p.n_kv * p.head_dim;
  for (var i = lid; i < GROUP * hd4; i += WG) {
    sh_q[i] = rope4((kvh * GROUP + i / hd4) * p.head_dim, i % hd4, pos) * p.scale;
  }
  if (has_new) {
    for (var d = lid; d < hd4; d += WG) {
      kv_new[d] = rope4(q_dim + kvh * p.head_dim, d, pos);
      kv_new[hd4 + d] = qkv4(q_dim + kv_dim + kvh * p.head_dim, d);
    }
  }
  workgroupBarrier();
  if (has_new) { kv_commit(pos % p.cache_len, kvh, lid, WG, true); }

  for (var i = 0u; i < GROUP * hd4; i++) {
    dq[i] = sh_q[i];
    dacc[i] = vec4<f32>(0.0);
  }
  for (var g = 0u; g < GROUP; g++) {
    dm[g] = EMPTY_M;
    dl[g] = 0.0;
  }
  // The cache's keys of the range (K and V read once for the GROUP heads), then the new one from kv_new.
  for (var j = start + lid; j < min(end, pos); j += WG) {
    let row = j % p.cache_len;
    let kb = kv_word(0u, row, kvh);
    let vb = kv_word(1u, row, kvh);
    var k: Head;
    var v: Head;
    for (var d = 0u; d < hd4; d++) {
      k[d] = kv_decode(kv[kb + d]);
      v[d] = kv_decode(kv[vb + d]);
    }
    decode_key(k, kv_scale(kv_scale_word(0u, row, kvh)), v, kv_scale(kv_scale_word(1u, row, kvh)));
  }
  if (has_new && lid == 0u) {
    var k: Head;
    var v: Head;
    for (var d = 0u; d < hd4; d++) {
      k[d] = kv_new[d];
      v[d] = kv_new[hd4 + d];
    }
    decode_key(k, 1.0, v, 1.0);
  }
  for (var g = 0u; g < GROUP; g++) {
    var acc: Head;
    for (var d = 0u; d < hd4; d++) { acc[d] = dacc[g * hd4 + d]; }
    var ml = vec2<f32>(dm[g], dl[g]);
    merge_invocations(&acc, &ml, lid);
    if (lid == 0u) {
      let slot = (kvh * GROUP + g) * p.n_split + split;
      for (var d = 0u; d < hd4; d++) { part_acc[slot * hd4 + d] = acc[d]; }
      part_ml[slot] = ml;
    }
  }
}

@compute @workgroup_size(WG)
fn merge(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let h = wg.x;
  const hd4 = MAXD4; // = head_dim / 4: constant loop bounds let the compiler keep the head in registers
  var m = EMPTY_M;
  for (var s = 0u; s < p.n_split; s++) { m = max(m, part_ml[h * p.n_split + s].x); }
  var l = 0.0;
  for (var s = 0u; s < p.n_split; s++) {
    let ml = part_ml[h * p.n_split + s];
    l += ml.y * exp(ml.x - m);
  }
  let inv = 1.0 / l;
  for (var d = lid; d < hd4; d += WG) {
    var o = vec4<f32>(0.0);
    for (var s = 0u; s < p.n_split; s++) {
      let ml = part_ml[h * p.n_split + s];
      if (ml.y > 0.0) { o += part_acc[(h * p.n_split + s) * hd4 + d] * exp(ml.x - m); } // empty splits wrote no acc
    }
    out[h * hd4 + d] = o * inv;
  }
}

// decode_dims, decode_dims_q8 and prefill_dims: attention by head dimensions, for CPU adapters whose workgroup is one
// subgroup (src/kernels/attention.ts's decodeByDims). Put after shaders/attention.wgsl (decode_begin, decode_end,
// write_out, the softmax state), with lanes_sum4 and lanes_max (subgroup operations) in front, and before the scores'
// bias by relative position: REL_BIAS and score_bias (shaders/attention_dims_bias.wgsl's, or none: NO_SCORE_BIAS).

// decode_dims: the queries' vec4s of this invocation (vec4 i of query qi: dimension vec4 lid + i * WG), in registers.
var<private> q_own: array<vec4<f32>, NQ * MAXD4>;
const NQ4: u32 = (NQ + 3u) / 4u; // queries in groups of 4: one vec4 of scores per key
// The keys query 4g + c sees, [q_lo[g][c], q_hi[g][c]) (attend_blocks; attend_each's queries all see [start, end)).
var<private> q_lo: array<vec4<u32>, NQ4>;
var<private> q_hi: array<vec4<u32>, NQ4>;

// Decode for a CPU adapter whose workgroup is one subgroup (WG == subgroup size; lanes_sum4 sums over it):
// every invocation takes the head dimensions it owns for the scores as well as for V. Per key it reads
// its vec4s of the K row, forms every query's partial dot, and lanes_sum4 gives all invocations the
// same scores, so the online softmax runs alike in each, with no workgroup memory and no barrier per
// key. Per key and invocation: d4_count() K loads and as many V loads (the queries stay in registers).
@compute @workgroup_size(WG)
fn decode_dims(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  decode_by_dims(wg, lid);
}

// decode_dims that also writes its output in Q8_0 (one split only; WG 8 and head_dim a multiple of 32, so a
// block's 8 vec4s are vec4 i of each invocation: d4 = lid + 8i). ggml's quantize_row_q8_0 numerics, as
// shaders/q8_block.wgsl's quantize_q8_block, on the f32 values write_out stores: the same codes and scales.
@compute @workgroup_size(WG)
fn decode_dims_q8(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (!decode_by_dims(wg, lid)) { return; }
  let hd4 = p.head_dim / 4u;
  for (var qi = 0u; qi < NQ; qi++) {
    let h = wg.x * GROUP + qi;
    let inv = 1.0 / l[qi];
    for (var i = 0u; i < d4_count(); i++) {
      let v = acc[qi * MAXD4 + i] * inv;
      let a = abs(v);
      let s = q8_scale(lanes_max(max(max(a.x, a.y), max(a.z, a.w))));
      let w = h * hd4 + lid + i * WG;
      out_q[w] = q8_word(v, s.y);
      if (lid == 0u) { out_d[w / 8u] = q8_stored_scale(s.x); }
    }
  }
}

// decode_dims's work; false where the workgroup had nothing to do (another step size, or an empty split).
fn decode_by_dims(wg: vec3u, lid: u32) -> bool {
  if (step.n_tokens != 1u) { return false; }
  let kvh = wg.x;
  let keys = decode_begin(kvh, wg.y, lid, KT);
  if (keys.start >= keys.end) { return false; }
  for (var qi = 0u; qi < NQ; qi++) {
    for (var i = 0u; i < d4_count(); i++) {
      let d4 = lid + i * WG; // lanes past the head's vec4s hold zeros and add nothing to the dots
      q_own[qi * MAXD4 + i] = select(vec4<f32>(0.0), sh_q[qi * MAXD4 + min(d4, MAXD4 - 1u)], d4 < MAXD4);
    }
  }
  for (var g = 0u; g < NQ4; g++) {
    q_lo[g] = vec4<u32>(keys.start);
    q_hi[g] = vec4<u32>(keys.end);
  }
  attend_dims(keys.start, keys.end, kvh, lid);
  decode_end(kvh, wg.y, lid);
  return true;
}

// prefill_dims: the prefill by head dimensions, for the same adapters as decode_dims: TQ tokens a workgroup (1 unless
// KEY_BLOCKS: attend_each takes one key span for all its queries), their GROUP queries each, rotated by the RoPE
// dispatch, straight from qkv into registers (no workgroup memory, no barrier), then attend_dims over keys 0..pos+t
// (query qi: token t0 + qi / GROUP; tokens past the pass repeat the last one, unwritten).
@compute @workgroup_size(WG)
fn prefill_dims(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wg.x;
  let t0 = wg.y * TQ;
  if (t0 >= step.n_tokens) { return; }
  let n_t = min(TQ, step.n_tokens - t0);
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  for (var qi = 0u; qi < NQ; qi++) {
    let t = min(t0 + qi / GROUP, step.n_tokens - 1u);
    for (var i = 0u; i < d4_count(); i++) {
      let d4 = lid + i * WG;
      let q = qkv4(t * row_len + (kvh * GROUP + qi % GROUP) * p.head_dim, min(d4, MAXD4 - 1u)) * p.scale;
      q_own[qi * MAXD4 + i] = select(vec4<f32>(0.0), q, d4 < MAXD4);
    }
    let n_keys = step.pos + t + 1u; // keys 0..pos+t (causal)
    q_lo[qi / 4u][qi % 4u] = first_key(n_keys);
    q_hi[qi / 4u][qi % 4u] = key_end(n_keys);
  }
  attend_dims(first_key(step.pos + t0 + 1u), key_end(step.pos + t0 + n_t), kvh, lid);
  for (var qi = 0u; qi < GROUP * n_t; qi++) { write_out(qi, t0 + qi / GROUP, kvh, lid); }
}

// (m, l) of query 4g + c in component c of m4[g], l4[g]: the same in every invocation (attend_each, attend_blocks).
var<private> m4: array<vec4<f32>, NQ4>;
var<private> l4: array<vec4<f32>, NQ4>;

fn init_state4() {
  init_state();
  for (var g = 0u; g < NQ4; g++) {
    m4[g] = vec4<f32>(EMPTY_M);
    l4[g] = vec4<f32>(0.0);
  }
}

// m4 and l4 into the softmax state m and l that write_out and decode_end read.
fn store_state4() {
  for (var qi = 0u; qi < NQ; qi++) {
    m[qi] = m4[qi / 4u][qi % 4u];
    l[qi] = l4[qi / 4u][qi % 4u];
  }
}

// Keys in blocks of WG (attend_blocks) or one at a time (attend_each): src/kernels/attention.ts's keyBlocks.
override KEY_BLOCKS: bool = false;

fn attend_dims(start: u32, end: u32, kvh: u32, lid: u32) {
  if (KEY_BLOCKS) {
    attend_blocks(start, end, kvh, lid);
  } else {
    attend_each(start, end, kvh, lid);
  }
}

// This invocation's vec4 i of the K or V row at word `base` (dimension vec4 lid + i * WG); zeros past the head's vec4s,
// which then add nothing to the dots.
fn own_vec4(base: u32, lid: u32, i: u32) -> vec4<f32> {
  let d4 = lid + i * WG;
  return select(vec4<f32>(0.0), kv_decode(kv[base + min(d4, MAXD4 - 1u)]), d4 < MAXD4);
}

// The ring row after `row` (key j + 1's, given key j's), without a division per key.
fn next_row(row: u32) -> u32 {
  return select(row + 1u, 0u, row + 1u == p.cache_len);
}

// Keys [start, end) of kv head kvh into every query's state (m, l, acc), the queries in q_own: per key an
// invocation loads its vec4s of the K and V rows, and lanes_sum4 gives every invocation the same scores.
fn attend_each(start: u32, end: u32, kvh: u32, lid: u32) {
  let nd = d4_count();
  init_state4();
  var row = start % p.cache_len; // key j's row, j % cache_len, without a division per key
  for (var j = start; j < end; j++) { // a run-time loop: one key's loads in the shader
    let kb = kv_word(0u, row, kvh);
    let vb = kv_word(1u, row, kvh);
    var k: array<vec4<f32>, MAXD4>; // this invocation's vec4s of the K row, then of the V row (nd of them)
    var v: array<vec4<f32>, MAXD4>;
    for (var i = 0u; i < nd; i++) {
      k[i] = own_vec4(kb, lid, i);
      v[i] = own_vec4(vb, lid, i);
    }
    var part: array<vec4<f32>, NQ4>;
    for (var g = 0u; g < NQ4; g++) { part[g] = vec4<f32>(0.0); }
    for (var qi = 0u; qi < NQ; qi++) {
      var d = 0.0;
      for (var i = 0u; i < nd; i++) { d += dot(q_own[qi * MAXD4 + i], k[i]); }
      part[qi / 4u][qi % 4u] = d;
    }
    let ks = kv_scale(kv_scale_word(0u, row, kvh));
    let vs = kv_scale(kv_scale_word(1u, row, kvh));
    var corr: array<vec4<f32>, NQ4>;
    var prob: array<vec4<f32>, NQ4>;
    for (var g = 0u; g < NQ4; g++) {
      var s = lanes_sum4(part[g]) * ks;
      if (REL_BIAS) { s += score_bias(g, j); }
      if (p.softcap > 0.0) { s = p.softcap * tanh4(s / p.softcap); }
      // Of exp(m - m_new) and exp(s - m_new) one is 1: a single exp per query and key.
      let e = exp(-abs(s - m4[g]));
      let up = s > m4[g];
      corr[g] = select(vec4<f32>(1.0), e, up);
      prob[g] = select(e, vec4<f32>(1.0), up) * vs; // V's scale folded into the weight (l keeps the plain one)
      m4[g] = max(m4[g], s);
      l4[g] = l4[g] * corr[g] + select(e, vec4<f32>(1.0), up);
    }
    for (var qi = 0u; qi < NQ; qi++) {
      let c = corr[qi / 4u][qi % 4u];
      let e = prob[qi / 4u][qi % 4u];
      for (var i = 0u; i < nd; i++) { acc[qi * MAXD4 + i] = acc[qi * MAXD4 + i] * c + e * v[i]; }
    }
    row = next_row(row);
  }
  store_state4();
}

// attend_each in blocks of KB = WG keys (WG a power of two: KB, lanes_sum_each, lanes_max4 and lanes_all). Per key an invocation
// forms its partial dots as attend_each does, but a block's WG keys are summed over the lanes together, lane L getting
// key j0 + L's scores (WG - 1 shuffles for the block, log2(WG) per key before), so the online softmax runs once per
// block: one maximum, one rescale of acc, and the block's probabilities in one vector exp, where attend_each ran them
// per key in every lane alike. Lanes past the last key stand in with its row (finite values) and get probability 0, as
// do keys outside a query's own span (q_lo, q_hi: a prefill's tokens see different keys).
fn attend_blocks(start: u32, end: u32, kvh: u32, lid: u32) {
  let nd = d4_count();
  init_state4();
  var row0 = start % p.cache_len; // the block's first key's row
  for (var j0 = start; j0 < end; j0 += KB) {
    let last = min(end - j0, KB) - 1u; // the block's last key
    var part: array<array<vec4<f32>, KB>, NQ4>; // [query group][key of the block]: this lane's partial dots
    var row = row0;
    for (var jj = 0u; jj < KB; jj++) {
      let kb = kv_word(0u, row, kvh);
      var dots: array<vec4<f32>, NQ4>;
      for (var g = 0u; g < NQ4; g++) { dots[g] = vec4<f32>(0.0); }
      for (var i = 0u; i < nd; i++) {
        let k = own_vec4(kb, lid, i);
        for (var qi = 0u; qi < NQ; qi++) { dots[qi / 4u][qi % 4u] += dot(q_own[qi * MAXD4 + i], k); }
      }
      for (var g = 0u; g < NQ4; g++) { part[g][jj] = dots[g]; }
      if (jj < last) { row = next_row(row); }
    }
    var own = row0 + min(lid, last); // this lane's key's row (a block spans less than the ring: see kvCacheRows)
    if (own >= p.cache_len) { own -= p.cache_len; }
    let ks = kv_scale(kv_scale_word(0u, own, kvh));
    let vs = kv_scale(kv_scale_word(1u, own, kvh));
    var corr: array<vec4<f32>, NQ4>;
    var probs: array<array<vec4<f32>, KB>, NQ4>; // [query group][key of the block]: V's weights, in every lane
    for (var g = 0u; g < NQ4; g++) {
      var s = lanes_sum_each(part[g], lid) * ks;
      if (REL_BIAS) { s += score_bias(g, j0 + lid); }
      if (p.softcap > 0.0) { s = p.softcap * tanh4(s / p.softcap); }
      let key = vec4<u32>(j0 + lid);
      let seen = (key >= q_lo[g]) & (key < q_hi[g]); // lanes past the last key too (key >= end)
      s = select(vec4<f32>(MASKED), s, seen);
      let m_new = max(m4[g], lanes_max4(s));
      corr[g] = exp(m4[g] - m_new);
      let e = select(vec4<f32>(0.0), exp(s - m_new), seen); // a query may see none of a block's keys
      l4[g] = l4[g] * corr[g] + lanes_sum4(e);
      m4[g] = m_new;
      probs[g] = lanes_all(e * vs); // V's scale folded into the weight (l keeps the plain one)
    }
    for (var qi = 0u; qi < NQ; qi++) {
      let c = corr[qi / 4u][qi % 4u];
      for (var i = 0u; i < nd; i++) { acc[qi * MAXD4 + i] *= c; }
    }
    row = row0;
    for (var jj = 0u; jj < KB; jj++) { // keys past the last: its row again, weight 0
      let vb = kv_word(1u, row, kvh);
      for (var i = 0u; i < nd; i++) {
        let v = own_vec4(vb, lid, i);
        for (var qi = 0u; qi < NQ; qi++) { acc[qi * MAXD4 + i] += probs[qi / 4u][jj][qi % 4u] * v; }
      }
      if (jj < last) { row = next_row(row); }
    }
    row0 = next_row(row); // after a whole block, the next one's first row
  }
  store_state4();
}

// prefill_dims within each token's input (shaders/attention.wgsl's `inputs`).
@compute @workgroup_size(WG)
fn prefill_dims_inputs(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  prefill_within_inputs(wg, lid);
}

fn prefill_within_inputs(wg: vec3u, lid: u32) {
  let kvh = wg.x;
  let t0 = wg.y * TQ;
  if (t0 >= step.n_tokens) { return; }
  let n_t = min(TQ, step.n_tokens - t0);
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  for (var qi = 0u; qi < NQ; qi++) {
    let t = min(t0 + qi / GROUP, step.n_tokens - 1u);
    for (var i = 0u; i < d4_count(); i++) {
      let d4 = lid + i * WG;
      let q = qkv4(t * row_len + (kvh * GROUP + qi % GROUP) * p.head_dim, min(d4, MAXD4 - 1u)) * p.scale;
      q_own[qi * MAXD4 + i] = select(vec4<f32>(0.0), q, d4 < MAXD4);
    }
    q_lo[qi / 4u][qi % 4u] = input_first(step.pos + t + 1u, t);
    q_hi[qi / 4u][qi % 4u] = input_end(step.pos + t + 1u, t);
  }
  let t1 = t0 + n_t - 1u;
  attend_dims(input_first(step.pos + t0 + 1u, t0), input_end(step.pos + t1 + 1u, t1), kvh, lid);
  for (var qi = 0u; qi < GROUP * n_t; qi++) { write_out(qi, t0 + qi / GROUP, kvh, lid); }
}

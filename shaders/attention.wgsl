// Causal grouped-query attention over the K/V cache (stored as src/kernels/kv_layout.ts says; the
// format's kv_decode / kv_scale are put in front at load). A workgroup attends with NQ = GROUP * TQ
// queries that share one kv head (its GROUP query heads, for TQ tokens), so each K and V row it
// reads serves all of them. Five entry points:
//   main:   prefill, one workgroup per (kv head, TQ tokens); RoPE and the cache write ran before it
//           (shaders/rope.wgsl).
//   decode: one token (TQ = 1), split-K ("flash-decoding"): workgroup (kv head, split) covers one
//           contiguous range of the keys. It also does RoPE of the queries and of the new k, and the
//           split holding the new position stores that K and V in the cache (then reads them back
//           from it like any other key), so a decode layer has no RoPE dispatch. With one split it
//           writes the output; with more, the partial softmax states (m, l, acc) to part_ml / part_acc.
//   decode_dims: decode as above for CPU adapters whose workgroup is one subgroup: the invocations take
//           head dimensions for the scores too (queries in registers, a key's partial dots summed by
//           subgroupAdd), so no query is reloaded per key (shaders/attention_dims.wgsl).
//   prefill_dims: main the same way, one token per workgroup (shaders/attention_dims.wgsl).
//   merge:  one workgroup per query head combines the n_split partial states into the output.
// main and decode take keys in tiles of KT = 4 * KG * WG. In each tile an invocation first takes keys (4 consecutive
// keys, KG times): it reads their K rows and scores them against every query (in workgroup memory,
// the same for all invocations); the tile's maximum per query (through workgroup memory) updates the
// running max m, and the invocation turns its scores into probabilities. Then it takes head
// dimensions (the vec4s lid, lid + WG, ...): for each key of the tile it reads that part of the V row
// and adds it, weighted by every query's probability, to its part of the queries' outputs (acc, in
// registers). So every K/V element is read once per workgroup, the softmax state (m, l) is the same in
// every invocation, and nothing is merged between invocations at the end. On lavapipe, where each
// invocation's memory load is issued lane by lane, this reads each K/V word once and keeps barriers
// to three per tile. But each key's K row is scored against every query from workgroup memory, so per key
// an invocation issues head_dim/4 K loads and NQ * head_dim/4 query loads (SmolLM2: 16 + 48): decode_dims
// splits the dimensions instead, d4_count() K and as many V loads per key and invocation (SmolLM2: 2 + 2),
// and ran a SmolLM2-shaped decode layer 2.4-3.7x faster on lavapipe (bench/attention.ts --decode keys,dims).
// Compile time: lavapipe compiles a shader with LLVM at its first dispatch, in time that grows much
// faster than its size. Loops over keys and over a K row's head dimensions are kept loops (a bound or
// start known only at run time); only the loops over queries and over an invocation's few vec4s of acc
// are unrolled. With queries in registers and those loops unrolled (a K row's loads copied per key, a
// tanh per key and query), one pipeline took 20-60 s of CPU to compile, and a test file of ~200 shapes
// did not finish in an hour. decode_dims holds only an invocation's own vec4s of the queries in registers
// (d4_count() per query), its key loop stays a run-time loop, one key per iteration (4 keys per iteration,
// unrolled, ran 1.6x slower on lavapipe).
// Sliding-window layers read only the last `window` keys; their cache is a ring of cache_len rows
// (key j in row j % cache_len).
// Put in front at load: MAXD4 = head_dim / 4, GROUP = n_head / n_kv, TQ (tokens per workgroup: 1 for
// decode), a K/V format, shaders/kv_write.wgsl, tanh, lanes_sum4 and lanes_max (subgroup operations; the by-dims
// entries only).
override WG: u32 = 8;
override KG: u32 = 2; // groups of 4 keys an invocation scores per tile
override KT: u32 = 4u * KG * WG; // keys of a tile (main, decode; and decode's splits are whole tiles)

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  scale: f32, // multiplies q.k: 1/sqrt(head_dim), or query_pre_attn_scalar^-0.5 (Gemma)
  window: u32, // keys pos-window+1..pos; 0 = all keys
  cache_len: u32, // rows of the K/V ring
  softcap: f32, // scores = softcap * tanh(scores / softcap) (Gemma 2); 0 = off
  n_split: u32, // decode: workgroups per kv head, each a range of the keys
  n_rot: u32, // decode's RoPE, as shaders/rope.wgsl
  neox: u32,
  long_from: u32,
  mscale: f32,
  temp_beta: f32, // q's temperature (q_temperature, shaders/kv_write.wgsl)
  temp_floor: u32,
  bidirectional: u32, // prefill: a query also sees the pass's later keys (embedding models such as EmbeddingGemma)
  rel_rows: u32, // DeBERTa's relative rows (shaders/attention_rel_deberta.wgsl), else 0
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (tables, n_rot/2)
@group(0) @binding(3) var<storage, read> qkv: array<f32>; // (T, q_dim + 2*kv_dim); prefill: q rotated
// codes (2, n_kv, cache_len, head_dim), then scales (2, n_kv, cache_len)
@group(0) @binding(4) var<storage, read_write> kv: array<KvWord>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (T, q_dim/4)
@group(0) @binding(6) var<storage, read_write> part_acc: array<vec4<f32>>; // (n_head, n_split, head_dim/4)
@group(0) @binding(7) var<storage, read_write> part_ml: array<vec2<f32>>; // (n_head, n_split): (m, l)
// decode_dims_q8 only: the output in Q8_0 too, for the o GEMV (so no quantize dispatch runs before it)
@group(0) @binding(8) var<storage, read_write> out_q: array<u32>; // (T, q_dim/4): int8 codes, 4 per u32
@group(0) @binding(9) var<storage, read_write> out_d: array<f32>; // (T, q_dim/32): block scales (f16 values)

const NQ: u32 = GROUP * TQ; // query qi: token qi / GROUP, query head kvh * GROUP + qi % GROUP
// Finite start: a state that saw no key has m = EMPTY_M and l = 0, and merging it scales it by 0.
const EMPTY_M: f32 = -3.0e38;
const MASKED: f32 = -2.0e38; // scores at or below it are keys a query does not see

var<workgroup> sh_q: array<vec4<f32>, NQ * MAXD4>; // (NQ, MAXD4): the scaled queries (decode: rotated here)
var<workgroup> sh_s: array<vec4<f32>, NQ * KG * WG>; // (NQ, KT/4): a tile's scores, then probabilities
var<workgroup> sh_max: array<f32, NQ * WG>; // (NQ, WG): each invocation's highest score of the tile

// One invocation's state: the same m and l in every invocation; acc holds its head dimensions (vec4 i
// of a query is dimension vec4 lid + i * WG; d4_count() of them).
var<private> acc: array<vec4<f32>, NQ * MAXD4>;
var<private> m: array<f32, NQ>;
var<private> l: array<f32, NQ>;

// The keys query qi sees, [lo, hi), in the workgroup's range.
struct Span { lo: array<u32, NQ>, hi: array<u32, NQ> }

// tanh_stable of 4 scores at once.
fn tanh4(x: vec4<f32>) -> vec4<f32> {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// First key a query at key count n_keys sees.
fn first_key(n_keys: u32) -> u32 {
  if (p.window > 0u && n_keys > p.window) { return n_keys - p.window; }
  return 0u;
}

// One past the last key a query at key count n_keys sees: itself when causal; with bidirectional attention, the keys of
// the pass after it too, as far as the window reaches (window - 1 keys on either side of a query: symmetric).
fn key_end(n_keys: u32) -> u32 {
  if (p.bidirectional == 0u) { return n_keys; }
  let pass_end = step.pos + step.n_tokens;
  if (p.window > 0u) { return min(pass_end, n_keys + p.window - 1u); }
  return pass_end;
}

// Vec4s of a head dimension this invocation owns in the V pass: lid, lid + WG, ... below MAXD4.
fn d4_count() -> u32 {
  return (MAXD4 + WG - 1u) / WG;
}

// Scores of keys j0..j0+3 for every query; MASKED where a query does not see the key (and past `end`, where the last
// key's row stands in). The 4 keys' K rows are read together, a vec4 of each per step: on a GPU each step waits for
// its loads, so one step serves 4 keys (a lent H200 took ~0.3 us a step). The loop over a row's head dimensions keeps a
// run-time bound, so the compiler keeps it a loop (lavapipe's compile time).
fn score4(j0: u32, end: u32, kvh: u32, span: ptr<function, Span>) -> array<vec4<f32>, NQ> {
  let last = end - 1u;
  let rows = vec4<u32>(min(vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last))) % p.cache_len;
  let kb = vec4<u32>(kv_word(0u, rows.x, kvh), kv_word(0u, rows.y, kvh), kv_word(0u, rows.z, kvh), kv_word(0u, rows.w, kvh));
  var dots: array<vec4<f32>, NQ>;
  for (var qi = 0u; qi < NQ; qi++) { dots[qi] = vec4<f32>(0.0); } // explicitly: a var in a loop kept its last value here
  for (var d = 0u; d < p.head_dim / 4u; d++) { // a run-time bound: the loop stays a loop
    let k0 = kv_decode(kv[kb.x + d]);
    let k1 = kv_decode(kv[kb.y + d]);
    let k2 = kv_decode(kv[kb.z + d]);
    let k3 = kv_decode(kv[kb.w + d]);
    for (var qi = 0u; qi < NQ; qi++) {
      let q = sh_q[qi * MAXD4 + d];
      dots[qi] += vec4<f32>(dot(q, k0), dot(q, k1), dot(q, k2), dot(q, k3));
    }
  }
  let ks = vec4<f32>(kv_scale(kv_scale_word(0u, rows.x, kvh)), kv_scale(kv_scale_word(0u, rows.y, kvh)),
    kv_scale(kv_scale_word(0u, rows.z, kvh)), kv_scale(kv_scale_word(0u, rows.w, kvh)));
  var s: array<vec4<f32>, NQ>;
  let j = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
  for (var qi = 0u; qi < NQ; qi++) {
    let seen = (j >= vec4<u32>((*span).lo[qi])) & (j < vec4<u32>(min((*span).hi[qi], end)));
    s[qi] = select(vec4<f32>(MASKED), dots[qi] * ks, seen);
  }
  if (p.softcap > 0.0) { // once per 4 keys, outside the key loop
    for (var qi = 0u; qi < NQ; qi++) { s[qi] = select(s[qi], p.softcap * tanh4(s[qi] / p.softcap), s[qi] > vec4<f32>(MASKED)); }
  }
  return s;
}

// Vec4 d4 of key j's V row, scaled; zeros for a key at or past `end`.
fn v_elem(j: u32, end: u32, d4: u32, kvh: u32) -> vec4<f32> {
  let row = min(j, end - 1u) % p.cache_len;
  let v = kv_decode(kv[kv_word(1u, row, kvh) + d4]) * kv_scale(kv_scale_word(1u, row, kvh));
  return select(vec4<f32>(0.0), v, j < end);
}

// Keys [start, end) of kv head kvh into every query's state (all invocations call it, in uniform control flow).
fn attend(start: u32, end: u32, kvh: u32, lid: u32, span: ptr<function, Span>) {
  let n4 = KG * WG; // groups of 4 keys per tile
  for (var kt = start; kt < end; kt += KT) {
    // The loops over keys start at a value known only at run time, so the compiler keeps them loops.
    let tile_end = min(end, kt + KT);
    // Keys: this invocation's groups of 4, g4 = lid, lid + WG, ..., their scores and its maximum per query.
    var mx: array<f32, NQ>;
    for (var qi = 0u; qi < NQ; qi++) { mx[qi] = EMPTY_M; }
    for (var j4 = kt + 4u * lid; j4 < tile_end; j4 += 4u * WG) {
      let g4 = (j4 - kt) / 4u;
      let s = score4(j4, end, kvh, span);
      for (var qi = 0u; qi < NQ; qi++) {
        sh_s[qi * n4 + g4] = s[qi];
        mx[qi] = max(mx[qi], max(max(s[qi].x, s[qi].y), max(s[qi].z, s[qi].w)));
      }
    }
    for (var qi = 0u; qi < NQ; qi++) { sh_max[qi * WG + lid] = mx[qi]; }
    workgroupBarrier();
    // The tile's maximum per query (every invocation alike), and the old state's correction.
    var corr: array<f32, NQ>;
    let n_w = min(WG, (tile_end - kt + 3u) / 4u); // invocations that scored keys of the tile (a run-time bound)
    for (var qi = 0u; qi < NQ; qi++) {
      var t = EMPTY_M;
      for (var w = 0u; w < n_w; w++) { t = max(t, sh_max[qi * WG + w]); }
      let m_new = max(m[qi], t);
      corr[qi] = exp(m[qi] - m_new);
      m[qi] = m_new;
    }
    for (var j4 = kt + 4u * lid; j4 < tile_end; j4 += 4u * WG) {
      for (var qi = 0u; qi < NQ; qi++) {
        let i = qi * n4 + (j4 - kt) / 4u;
        let s = sh_s[i];
        sh_s[i] = select(vec4<f32>(0.0), exp(s - m[qi]), s > vec4<f32>(MASKED));
      }
    }
    workgroupBarrier();
    // Head dimensions: V rows of the tile, weighted by every query's probabilities.
    let nd = d4_count();
    for (var qi = 0u; qi < NQ; qi++) {
      l[qi] *= corr[qi];
      for (var i = 0u; i < nd; i++) { acc[qi * MAXD4 + i] *= corr[qi]; }
    }
    // Each of this invocation's vec4s of the head dimensions, over the tile's groups of 4 keys (the scores' vec4s): the 4
    // keys' V loads together, as in score4. Probabilities past the tile's end are 0 (MASKED scores) and their rows
    // are read as zeros.
    let n_g = (tile_end - kt + 3u) / 4u;
    for (var qi = 0u; qi < NQ; qi++) {
      var sum = 0.0;
      for (var g4 = 0u; g4 < n_g; g4++) { sum += dot(sh_s[qi * n4 + g4], vec4<f32>(1.0)); }
      l[qi] += sum;
    }
    for (var i = 0u; i < nd; i++) {
      let d4 = lid + i * WG;
      if (d4 >= MAXD4) { break; }
      for (var g4 = 0u; g4 < n_g; g4++) {
        let j = kt + 4u * g4;
        let v0 = v_elem(j, tile_end, d4, kvh);
        let v1 = v_elem(j + 1u, tile_end, d4, kvh);
        let v2 = v_elem(j + 2u, tile_end, d4, kvh);
        let v3 = v_elem(j + 3u, tile_end, d4, kvh);
        for (var qi = 0u; qi < NQ; qi++) {
          let e = sh_s[qi * n4 + g4];
          acc[qi * MAXD4 + i] += e.x * v0 + e.y * v1 + e.z * v2 + e.w * v3;
        }
      }
    }
    workgroupBarrier(); // the next tile overwrites sh_s and sh_max
  }
}

fn init_state() {
  for (var qi = 0u; qi < NQ; qi++) {
    m[qi] = EMPTY_M;
    l[qi] = 0.0;
    for (var d = 0u; d < MAXD4; d++) { acc[qi * MAXD4 + d] = vec4<f32>(0.0); }
  }
}

// Query qi's output at token row t of out (its dimensions of this invocation).
fn write_out(qi: u32, t: u32, kvh: u32, lid: u32) {
  let hd4 = p.head_dim / 4u;
  let o_base = (t * p.n_head + kvh * GROUP + qi % GROUP) * hd4;
  let inv = 1.0 / l[qi];
  for (var i = 0u; i < d4_count(); i++) {
    let d4 = lid + i * WG;
    if (d4 < MAXD4) { out[o_base + d4] = acc[qi * MAXD4 + i] * inv; }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wg.x;
  let t0 = wg.y * TQ;
  if (t0 >= step.n_tokens) { return; }
  let n_t = min(TQ, step.n_tokens - t0); // tokens of this workgroup
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  for (var i = lid; i < NQ * MAXD4; i += WG) {
    let qi = i / MAXD4;
    let t = min(t0 + qi / GROUP, step.n_tokens - 1u); // tokens past the pass repeat the last one, unwritten
    sh_q[i] = qkv4(t * row_len + (kvh * GROUP + qi % GROUP) * p.head_dim, i % MAXD4) * p.scale;
  }
  var span: Span;
  for (var qi = 0u; qi < NQ; qi++) {
    let n_keys = step.pos + min(t0 + qi / GROUP, step.n_tokens - 1u) + 1u; // keys 0..pos+t (causal)
    span.lo[qi] = first_key(n_keys);
    span.hi[qi] = key_end(n_keys);
  }
  workgroupBarrier();
  init_state();
  attend(first_key(step.pos + t0 + 1u), key_end(step.pos + t0 + n_t), kvh, lid, &span);
  for (var qi = 0u; qi < GROUP * n_t; qi++) { write_out(qi, t0 + qi / GROUP, kvh, lid); }
}

// A decode workgroup's keys [start, end): a range of whole tiles, so that a short context keeps to the first
// splits; start >= end when this split has none.
struct Keys { start: u32, end: u32 }

// Decode before the keys (every invocation, in uniform control flow): the split's keys; RoPE and scale of the
// queries into sh_q; the split holding the new position stores its K and V. A split with no keys marks its
// partial states empty.
// Splits are whole multiples of `gran` keys (the entry point's tile).
fn decode_begin(kvh: u32, split: u32, lid: u32, gran: u32) -> Keys {
  let hd4 = p.head_dim / 4u;
  let pos = step.pos;
  let n_keys = pos + 1u;
  let first = first_key(n_keys);
  let chunk = ((n_keys - first + p.n_split - 1u) / p.n_split + gran - 1u) / gran * gran;
  let start = first + split * chunk;
  if (start >= n_keys) { // nothing left for this split
    for (var g = lid; g < GROUP; g += WG) { part_ml[(kvh * GROUP + g) * p.n_split + split] = vec2<f32>(EMPTY_M, 0.0); }
    return Keys(start, start);
  }
  let end = min(start + chunk, n_keys);
  let has_new = end == n_keys; // this split holds the new position
  let q_dim = p.n_head * p.head_dim;
  let kv_dim = p.n_kv * p.head_dim;
  let q_scale = q_temperature(pos) * p.scale; // the same for every element of the step's queries
  for (var i = lid; i < GROUP * hd4; i += WG) {
    sh_q[i] = rope4((kvh * GROUP + i / hd4) * p.head_dim, i % hd4, pos) * q_scale;
  }
  if (has_new) {
    for (var d = lid; d < hd4; d += WG) {
      kv_new[d] = rope4(q_dim + kvh * p.head_dim, d, pos);
      kv_new[hd4 + d] = qkv4(q_dim + kv_dim + kvh * p.head_dim, d);
    }
  }
  workgroupBarrier();
  if (has_new) {
    kv_commit(pos % p.cache_len, kvh, lid, WG, true);
    storageBarrier(); // the new row, stored by some invocations, is read by all
  }
  return Keys(start, end);
}

// Decode after the keys: the output (one split) or this split's partial states (m, l, acc).
fn decode_end(kvh: u32, split: u32, lid: u32) {
  if (p.n_split == 1u) {
    for (var qi = 0u; qi < NQ; qi++) { write_out(qi, 0u, kvh, lid); }
    return;
  }
  let hd4 = p.head_dim / 4u;
  for (var qi = 0u; qi < NQ; qi++) {
    let slot = (kvh * GROUP + qi) * p.n_split + split;
    for (var i = 0u; i < d4_count(); i++) {
      let d4 = lid + i * WG;
      if (d4 < MAXD4) { part_acc[slot * hd4 + d4] = acc[qi * MAXD4 + i]; }
    }
    if (lid == 0u) { part_ml[slot] = vec2<f32>(m[qi], l[qi]); }
  }
}

@compute @workgroup_size(WG)
fn decode(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let kvh = wg.x;
  let keys = decode_begin(kvh, wg.y, lid, KT);
  if (keys.start >= keys.end) { return; }
  var span: Span;
  for (var qi = 0u; qi < NQ; qi++) {
    span.lo[qi] = keys.start;
    span.hi[qi] = keys.end;
  }
  init_state();
  attend(keys.start, keys.end, kvh, lid, &span);
  decode_end(kvh, wg.y, lid);
}

// One workgroup of WG >= MAXD4 lanes per query head (64: src/kernels/attention.ts's MERGE_WG): lane s loads split s's
// (m, l) (n_split <= WG), and lane l sums head vec4 l % MAXD4 over the splits l / MAXD4, + WG / MAXD4, ... (empty splits
// wrote no acc), so its loads are in flight together where one lane per head vec4 went over every split in turn.
var<workgroup> sh_ml: array<vec2<f32>, WG>; // the splits' (m, l)
var<workgroup> sh_merge: array<vec4<f32>, WG>; // (WG / MAXD4, MAXD4): the split subsets' partial outputs

@compute @workgroup_size(WG)
fn merge(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (step.n_tokens != 1u) { return; }
  let h = wg.x;
  let hd4 = p.head_dim / 4u;
  sh_ml[lid] = select(vec2<f32>(EMPTY_M, 0.0), part_ml[h * p.n_split + min(lid, p.n_split - 1u)], lid < p.n_split);
  workgroupBarrier();
  var m_all = EMPTY_M;
  for (var s = 0u; s < p.n_split; s++) { m_all = max(m_all, sh_ml[s].x); }
  var l_all = 0.0;
  for (var s = 0u; s < p.n_split; s++) { l_all += sh_ml[s].y * exp(sh_ml[s].x - m_all); }
  let ksub = WG / MAXD4;
  let sub = lid / MAXD4;
  let d4 = lid % MAXD4;
  if (sub < ksub) {
    var o = vec4<f32>(0.0);
    for (var s = sub; s < p.n_split; s += ksub) {
      let ml = sh_ml[s];
      if (ml.y > 0.0) { o += part_acc[(h * p.n_split + s) * hd4 + d4] * exp(ml.x - m_all); }
    }
    sh_merge[sub * MAXD4 + d4] = o;
  }
  workgroupBarrier();
  if (lid >= MAXD4) { return; }
  var a = sh_merge[d4];
  for (var u = 1u; u < ksub; u++) { a += sh_merge[u * MAXD4 + d4]; }
  out[h * hd4 + d4] = a * (1.0 / l_all);
}

// Several inputs in one pass (embeddings: src/model/pass_inputs.ts): token t attends only within its own input,
// pass tokens [inputs[t].x, inputs[t].y). main_inputs, prefill_dims_inputs and prefill_flat_inputs are main,
// prefill_dims and prefill_flat with that bound; entry points of their own, written after the others, so that those
// keep their text (a change there would miss lavapipe's shader cache for every attention pipeline).
@group(0) @binding(10) var<storage, read> inputs: array<vec4<u32>>; // (T): its input's first token, one past its last, token type, 0

// first_key and key_end for token t (at key count n_keys), kept within its input.
fn input_first(n_keys: u32, t: u32) -> u32 {
  return max(first_key(n_keys), step.pos + inputs[t].x);
}

fn input_end(n_keys: u32, t: u32) -> u32 {
  return min(key_end(n_keys), step.pos + inputs[t].y);
}

@compute @workgroup_size(WG)
fn main_inputs(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wg.x;
  let t0 = wg.y * TQ;
  if (t0 >= step.n_tokens) { return; }
  let n_t = min(TQ, step.n_tokens - t0);
  let row_len = (p.n_head + 2u * p.n_kv) * p.head_dim;
  for (var i = lid; i < NQ * MAXD4; i += WG) {
    let qi = i / MAXD4;
    let t = min(t0 + qi / GROUP, step.n_tokens - 1u);
    sh_q[i] = qkv4(t * row_len + (kvh * GROUP + qi % GROUP) * p.head_dim, i % MAXD4) * p.scale;
  }
  var span: Span;
  for (var qi = 0u; qi < NQ; qi++) {
    let t = min(t0 + qi / GROUP, step.n_tokens - 1u);
    span.lo[qi] = input_first(step.pos + t + 1u, t);
    span.hi[qi] = input_end(step.pos + t + 1u, t);
  }
  workgroupBarrier();
  init_state();
  let t1 = t0 + n_t - 1u; // (the bounds grow with t: the workgroup's keys are its first token's start to its last's end)
  attend(input_first(step.pos + t0 + 1u, t0), input_end(step.pos + t1 + 1u, t1), kvh, lid, &span);
  for (var qi = 0u; qi < GROUP * n_t; qi++) { write_out(qi, t0 + qi / GROUP, kvh, lid); }
}

// DeBERTa's disentangled terms for a pass (ModelConfig.disentangled), written before the layer's attention adds them
// to its scores (shaders/attention_rel_deberta.wgsl): for token t, head h and relative row b,
//   c2p[t, h, b] = scale q[t, h] . Kr[b, h],   p2c[t, h, b] = scale k[t, h] . Qr[b, h],
// Qr | Kr the layer's query and key projections of the LayerNorm'd relative rows, made at load. Only what the
// attention reads is written: of token t, c2p at the rows of key - t for its keys 0..n-1, p2c at the rows of t - query.
// An invocation takes TB rows of one head for TT tokens: per head dimension vec4 it loads the tokens' q (k) and the
// rows' Kr (Qr) for TT TB pairs of terms, where one invocation per (row, token) took 4 loads a pair (lavapipe issues
// each load lane by lane: a DeBERTa-xsmall-shaped cross-encoder over 256 tokens took 2,631 ms; tiles of 4 x 4,
// 1,290; computing only what is read, 961; 8 x 8 tiles spill, 4 x 8 and 8 x 4 gained nothing).
// Put in front at load: MAXD4 = head_dim / 4 (the loop over a head's vec4s unrolled, as lavapipe wants it).
override WG: u32 = 64;
const TT: u32 = 4u; // tokens an invocation takes
const TB: u32 = 4u; // and rows

struct Params {
  n_head: u32, // (as many kv heads)
  head_dim: u32,
  rows: u32, // the relative rows: 2 buckets
  scale: f32, // the attention's: 1 / sqrt(3 head_dim)
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>; // (T, 3 q_dim): q | k | v, unrotated
@group(0) @binding(3) var<storage, read> rel: array<vec4<f32>>; // (rows, 2 q_dim): Qr | Kr
@group(0) @binding(4) var<storage, read> rel_at: array<u32>; // (2R + 2): R, then key - query = r's row at 1 + R + r
@group(0) @binding(5) var<storage, read_write> c2p: array<f32>; // (T, n_head, rows)
@group(0) @binding(6) var<storage, read_write> p2c: array<f32>; // (T, n_head, rows)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = step.n_tokens;
  let zero = 1u + rel_at[0]; // where key - query = 0 is
  let first = rel_at[zero + n - 1u];
  let last = rel_at[zero + 1u - n];
  let b0 = first + gid.x * TB;
  let t0 = gid.z * TT;
  let h = gid.y;
  if (b0 > last || t0 >= n) { return; }
  // What attention reads of the tile's tokens t0..tl (keys 0..n-1): c2p[t] at the rows of key - t in [-t, n - 1 - t], p2c[t]
  // at those of t - query in [t - n + 1, t]; about half the rows each (rows fall as key - query grows).
  let tl = min(t0 + TT - 1u, n - 1u);
  let b1 = b0 + TB - 1u;
  let need_c = b1 >= rel_at[zero + n - 1u - t0] && b0 <= rel_at[zero - tl];
  let need_p = b1 >= rel_at[zero + tl] && b0 <= rel_at[zero + t0 + 1u - n];
  if (!need_c && !need_p) { return; }
  let q_dim4 = p.n_head * (p.head_dim / 4u);
  // (tokens past the pass and rows past the last repeat the last one: read, never written)
  var q_at: array<u32, TT>; // q[t, h]'s first vec4 (k[t, h] q_dim later)
  var r_at: array<u32, TB>; // Qr[b, h]'s (Kr[b, h] q_dim later)
  for (var i = 0u; i < TT; i++) { q_at[i] = min(t0 + i, n - 1u) * 3u * q_dim4 + h * (p.head_dim / 4u); }
  for (var j = 0u; j < TB; j++) { r_at[j] = min(b0 + j, last) * 2u * q_dim4 + h * (p.head_dim / 4u); }
  var c: array<vec4<f32>, TT * TB>; // [token i][row j]
  var e: array<vec4<f32>, TT * TB>;
  for (var d = 0u; d < MAXD4; d++) {
    var q: array<vec4<f32>, TT>;
    var k: array<vec4<f32>, TT>;
    var qr: array<vec4<f32>, TB>;
    var kr: array<vec4<f32>, TB>;
    if (need_c) {
      for (var i = 0u; i < TT; i++) { q[i] = qkv[q_at[i] + d]; }
      for (var j = 0u; j < TB; j++) { kr[j] = rel[r_at[j] + q_dim4 + d]; }
      for (var i = 0u; i < TT; i++) {
        for (var j = 0u; j < TB; j++) { c[i * TB + j] += q[i] * kr[j]; }
      }
    }
    if (need_p) {
      for (var i = 0u; i < TT; i++) { k[i] = qkv[q_at[i] + q_dim4 + d]; }
      for (var j = 0u; j < TB; j++) { qr[j] = rel[r_at[j] + d]; }
      for (var i = 0u; i < TT; i++) {
        for (var j = 0u; j < TB; j++) { e[i * TB + j] += k[i] * qr[j]; }
      }
    }
  }
  for (var i = 0u; i < TT; i++) {
    for (var j = 0u; j < TB; j++) {
      if (t0 + i >= n || b0 + j > last) { continue; }
      let at = ((t0 + i) * p.n_head + h) * p.rows + b0 + j;
      let cv = c[i * TB + j];
      let ev = e[i * TB + j];
      if (need_c) { c2p[at] = p.scale * (cv.x + cv.y + cv.z + cv.w); }
      if (need_p) { p2c[at] = p.scale * (ev.x + ev.y + ev.z + ev.w); }
    }
  }
}

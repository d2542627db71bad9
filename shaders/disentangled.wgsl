// DeBERTa's disentangled terms for a pass (ModelConfig.disentangled), written before the layer's attention adds them
// to its scores (shaders/attention_rel_deberta.wgsl): for token t, head h and relative row b,
//   c2p[t, h, b] = scale q[t, h] . Kr[b, h],   p2c[t, h, b] = scale k[t, h] . Qr[b, h],
// Qr | Kr the layer's query and key projections of the LayerNorm'd relative rows, made at load. Only the rows a pass
// of n tokens reaches are written: rel_at[1 + R + n - 1] (the key n - 1 after the query) to rel_at[1 + R - n + 1].
// One invocation per (row, head, token). Put in front at load: MAXD4 = head_dim / 4 (the loops over a head's vec4s
// unrolled, as lavapipe wants them).
override WG: u32 = 64;

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
  let b = rel_at[zero + n - 1u] + gid.x;
  let h = gid.y;
  let t = gid.z;
  if (b > rel_at[zero + 1u - n] || t >= n) { return; }
  let hd4 = p.head_dim / 4u;
  let q_dim4 = p.n_head * hd4;
  let q = t * 3u * q_dim4 + h * hd4; // q[t, h]; k[t, h] follows q_dim later
  let r = b * 2u * q_dim4 + h * hd4; // Qr[b, h]; Kr[b, h] follows q_dim later
  var c = vec4<f32>(0.0);
  var e = vec4<f32>(0.0);
  for (var d = 0u; d < MAXD4; d++) {
    c += qkv[q + d] * rel[r + q_dim4 + d];
    e += qkv[q + q_dim4 + d] * rel[r + d];
  }
  let at = (t * p.n_head + h) * p.rows + b;
  c2p[at] = p.scale * (c.x + c.y + c.z + c.w);
  p2c[at] = p.scale * (e.x + e.y + e.z + e.w);
}

// Per-head RMSNorm of Q and K (Qwen3), in place on the fused QKV rows, before RoPE.
// One workgroup per (head, token); heads 0..n_head-1 are Q (weight q_w), the next n_kv are K (k_w).
override WG: u32 = 64;

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>; // (T, q_dim + 2*kv_dim)
@group(0) @binding(3) var<storage, read> q_w: array<f32>; // (head_dim)
@group(0) @binding(4) var<storage, read> k_w: array<f32>; // (head_dim)

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let hd = p.head_dim;
  let base = t * (p.n_head + 2u * p.n_kv) * hd + h * hd;
  var s = 0.0;
  for (var i = lid; i < hd; i += WG) {
    let v = qkv[base + i];
    s += v * v;
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(partial[0] / f32(hd) + p.eps);
  // Each invocation rewrites only the elements it read above, so in place is safe.
  for (var i = lid; i < hd; i += WG) {
    var w = k_w[i];
    if (h < p.n_head) { w = q_w[i]; }
    qkv[base + i] = qkv[base + i] * scale * w;
  }
}

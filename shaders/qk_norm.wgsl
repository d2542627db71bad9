// RMSNorm of the Q and K heads, in place on the fused QKV rows, before RoPE: per head (Qwen3, Gemma 3: q_span = k_span =
// head_dim), or one norm over all of Q and one over all of K (OLMo 2: q_span = q_dim, k_span = kv_dim).
// One workgroup per (norm group, token); the first q_dim / q_span groups are Q's (weight q_w), the rest K's (k_w).
// The sum of squares is RMSNorm's (shaders/rms_lib.wgsl, joined at load): 2 barriers whatever WG is, so CPU adapters
// take RMSNorm's small workgroups.
override WG: u32 = 64;

struct Params {
  q_dim: u32,
  kv_dim: u32,
  q_span: u32, // elements one Q norm covers (its weight's length)
  k_span: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>; // (T, q_dim + 2*kv_dim)
@group(0) @binding(3) var<storage, read> q_w: array<f32>; // (q_span)
@group(0) @binding(4) var<storage, read> k_w: array<f32>; // (k_span)

fn rms_x(i: u32) -> f32 {
  return qkv[i];
}
fn rms_w(k: u32) -> f32 {
  return q_w[k]; // (for the library's helpers that apply a weight, unused here)
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let q_groups = p.q_dim / p.q_span;
  let is_q = wg.x < q_groups;
  let len = select(p.k_span, p.q_span, is_q);
  let offset = select(p.q_dim + (wg.x - q_groups) * p.k_span, wg.x * p.q_span, is_q);
  let base = t * (p.q_dim + 2u * p.kv_dim) + offset;
  let scale = rms_scale(base, len, p.eps, lid, WG); // shaders/rms_lib.wgsl: its barriers end every read before the writes
  for (var i = lid; i < len; i += WG) {
    let w = select(k_w[i], q_w[i], is_q);
    qkv[base + i] = qkv[base + i] * scale * w;
  }
}

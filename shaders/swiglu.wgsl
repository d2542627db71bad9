// SwiGLU: h = silu(gate) * up, reading the fused gate|up matmul output.
override WG: u32 = 64;

struct Params {
  n_ff: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> gate_up: array<f32>; // (T, 2*n_ff): [gate | up] per token
@group(0) @binding(3) var<storage, read_write> h: array<f32>; // (T, n_ff)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.y;
  let i = gid.x;
  if (t >= step.n_tokens || i >= p.n_ff) { return; }
  let g = gate_up[t * 2u * p.n_ff + i];
  let u = gate_up[t * 2u * p.n_ff + p.n_ff + i];
  h[t * p.n_ff + i] = g / (1.0 + exp(-g)) * u;
}

// Soft-capping in place: x = cap * tanh(x / cap) (Gemma 2's final logits, after the LM head and
// before sampling). One invocation per element.
override WG: u32 = 64;

struct Params {
  n: u32,
  cap: f32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step is declared once, in src/gpu/step.ts, and put in front at load (unused here but bound like every kernel's).
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read_write> x: array<f32>; // (n)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n || step.n_tokens == 0u) { return; }
  x[i] = p.cap * tanh_stable(x[i] / p.cap);
}

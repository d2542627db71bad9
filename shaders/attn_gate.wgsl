// The attention output's gate (Qwen3.5's attention layers): out = attention * sigmoid(gate), in place, where the q
// projection wrote a gate per q channel beside q. One invocation per (channel, token).
override WG: u32 = 64;

struct Params {
  width: u32, // q_dim: the attention output's and the gate's row
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> gate: array<f32>; // (T, width)
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (T, width): the attention's output, gated in place

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let t = gid.y;
  if (i >= p.width || t >= step.n_tokens) { return; }
  let at = t * p.width + i;
  out[at] = out[at] / (1.0 + exp(-gate[at]));
}

// Learned absolute positions in a decoder (GPT-2's wpe): x[t] += table[step.pos + t], after the embedding gather, in
// every pass (a decode step's one token at its position). One invocation per (value, token).
override WG: u32 = 64;

struct Params {
  dim: u32, // the model width D: x's and the table's row
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> table: array<f32>; // (positions, dim)
@group(0) @binding(3) var<storage, read_write> x: array<f32>; // (T, dim): the gathered embeddings, positions added in place

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let t = gid.y;
  if (i >= p.dim || t >= step.n_tokens) { return; }
  x[t * p.dim + i] += table[(step.pos + t) * p.dim + i];
}

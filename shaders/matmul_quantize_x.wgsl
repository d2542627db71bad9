// matmul_quantize_x: activations to Q8_0 for the q8 / q4 matmuls, with ggml's quantize_row_q8_0
// numerics. Per block of 32 values of x:
//   amax = max |x|, d = amax / 127, id = d != 0 ? 1 / d : 0, q = roundf(x * id) (halves away from 0),
// and the stored scale is d rounded to f16 (the codes used the unrounded d, as in ggml).
// One invocation per block: x is tiny next to the weights, this pass is a small fraction of a matmul.

override WG: u32 = 64;

struct QuantizeParams {
  K: u32, // row length of x (a multiple of 32)
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: QuantizeParams;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (T, K/4)
@group(0) @binding(3) var<storage, read_write> xq: array<vec4<u32>>; // (T, K/16): int8, 4 per u32, element 4i in the low byte
@group(0) @binding(4) var<storage, read_write> xd: array<f32>; // (T, K/32)

// The block quantizer itself (quantize_q8_block) is in shaders/q8_block.wgsl, put in front at load,
// which RMSNorm and SwiGLU also use to hand their output to a q8/q4 matmul already quantized.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.y;
  let nb = p.K / 32u;
  let b = gid.x;
  if (t >= step.n_tokens || b >= nb) { return; }
  let i = t * nb + b; // block index in x
  var v: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) { v[j] = x[8u * i + j]; }
  let qb = quantize_q8_block(v);
  xq[2u * i] = qb.q0;
  xq[2u * i + 1u] = qb.q1;
  xd[i] = qb.d;
}

// SwiGLU: h = silu(gate) * up, reading the fused gate|up matmul output; GeGLU (act = 1, Gemma):
// h = gelu_tanh(gate) * up with PyTorch's tanh approximation (gelu_pytorch_tanh); with act = 2 GELU by erf (ModernBERT's
// GeGLU, which decode's GLU epilogue does not take: such a model only encodes). glu_act:
// shaders/glu.wgsl, put in front at load. The rows of gate|up are [gate | up] per token, or with
// paired = 1 gate j and up j side by side (the matmul's GLU layout, whose decode GEMV writes h itself;
// the prefill's GEMM leaves the pairs to this kernel); with paired = 2 an ungated FFN's h = act(up), the rows of
// gate_up n_ff long (BERT: GELU by erf, act = 2).
// main_q8 (one invocation per block of 32) also writes h in Q8_0 (shaders/q8_block.wgsl) for a q8/q4
// ffn_down, which then skips its own quantize dispatch.
override WG: u32 = 64;

struct Params {
  n_ff: u32,
  act: u32, // 0: silu, 1: tanh GELU, 2: GELU (erf)
  paired: u32, // 1: gate j at 2j and up j at 2j + 1 of each row; 0: gate j at j, up j at n_ff + j; 2: no gate, up j at j
  pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> gate_up: array<f32>; // (T, 2*n_ff): [gate | up] or pairs per token; (T, n_ff) ungated
@group(0) @binding(3) var<storage, read_write> h: array<f32>; // (T, n_ff)
@group(0) @binding(4) var<storage, read_write> hq: array<vec4<u32>>; // (T, n_ff/16): main_q8 only
@group(0) @binding(5) var<storage, read_write> hd: array<f32>; // (T, n_ff/32): main_q8 only

// The FFN's activation: GELU by erf (act 2: BERT's ungated, ModernBERT's gated), ReLU (act 3: T5's), or glu_act's. Here, not in
// shaders/glu.wgsl, which every matmul pipeline includes for its GLU epilogue: a change there has lavapipe compile all
// of them again.
fn ffn_act(g: f32, act: u32) -> f32 {
  if (act == 2u) { return 0.5 * g * (1.0 + erf_f32(g * 0.7071067811865476)); }
  if (act == 3u) { return max(g, 0.0); }
  return glu_act(g, act);
}

// erf by erfc's Chebyshev fit in Numerical Recipes (erfcc: fractional error under 1.2e-7 everywhere): WGSL has no erf.
fn erf_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let erfc = t * exp(-z * z + poly);
  return sign(x) * (1.0 - erfc);
}

// act(gate j) * up j of token t; act(up j) ungated
fn glu(t: u32, j: u32) -> f32 {
  if (p.paired == 2u) { return ffn_act(gate_up[t * p.n_ff + j], p.act); }
  let row = t * 2u * p.n_ff;
  if (p.paired == 1u) { return ffn_act(gate_up[row + 2u * j], p.act) * gate_up[row + 2u * j + 1u]; }
  return ffn_act(gate_up[row + j], p.act) * gate_up[row + p.n_ff + j];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.y;
  let i = gid.x;
  if (t >= step.n_tokens || i >= p.n_ff) { return; }
  h[t * p.n_ff + i] = glu(t, i);
}

@compute @workgroup_size(WG)
fn main_q8(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.y;
  let b = gid.x;
  let nb = p.n_ff / 32u;
  if (t >= step.n_tokens || b >= nb) { return; }
  var v: array<vec4<f32>, 8>;
  for (var j = 0u; j < 8u; j++) {
    var o = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
      let i = b * 32u + 4u * j + c;
      o[c] = glu(t, i);
      h[t * p.n_ff + i] = o[c];
    }
    v[j] = o;
  }
  let qb = quantize_q8_block(v);
  hq[2u * (t * nb + b)] = qb.q0;
  hq[2u * (t * nb + b) + 1u] = qb.q1;
  hd[t * nb + b] = qb.d;
}

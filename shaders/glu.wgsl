// The gate activation of a gated FFN, h = act(gate) * up: silu (SwiGLU) or PyTorch's tanh GELU
// (gelu_pytorch_tanh, Gemma's GeGLU); or an ungated FFN's activation, GELU by erf (BERT's gelu). A library, no
// bindings, shared by the SwiGLU kernel and the matmul's GLU epilogue (so both give the same bits); needs
// shaders/tanh.wgsl in front of it.

// act: 0 silu, 1 tanh GELU, 2 GELU (erf).
fn glu_act(g: f32, act: u32) -> f32 {
  if (act == 1u) { return 0.5 * g * (1.0 + tanh_stable(0.7978845608028654 * (g + 0.044715 * g * g * g))); }
  if (act == 2u) { return 0.5 * g * (1.0 + erf_f32(g * 0.7071067811865476)); }
  return g / (1.0 + exp(-g));
}

// erf by erfc's Chebyshev fit in Numerical Recipes (erfcc: fractional error under 1.2e-7 everywhere): WGSL has no erf.
fn erf_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let erfc = t * exp(-z * z + poly);
  return sign(x) * (1.0 - erfc);
}

// The gate activation of a gated FFN, h = act(gate) * up: silu (SwiGLU) or PyTorch's tanh GELU
// (gelu_pytorch_tanh, Gemma's GeGLU). A library, no bindings, shared by the SwiGLU kernel and the
// matmul's GLU epilogue (so both give the same bits); needs shaders/tanh.wgsl in front of it.

// act: 0 silu, 1 tanh GELU.
fn glu_act(g: f32, act: u32) -> f32 {
  if (act == 1u) { return 0.5 * g * (1.0 + tanh_stable(0.7978845608028654 * (g + 0.044715 * g * g * g))); }
  return g / (1.0 + exp(-g));
}

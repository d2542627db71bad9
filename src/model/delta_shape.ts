/**
 * The shape of a Gated DeltaNet mixer (Qwen3.5's linear-attention layers), and the widths derived from it. Shader-free,
 * so that the config readers, the weight readers and the kernels share one definition.
 *
 * A token's in-projection output, as the kernels read it: z (valueDim) | q (keyDim) | k (keyDim) | v (valueDim) |
 * b (nVHead) | a (nVHead). q|k|v is the convolved part (the causal convolution reads it after z, as the Mamba-2
 * convolution reads x|B|C after z).
 */
export interface DeltaShape {
  readonly nKHead: number; // linear_num_key_heads: heads of q and k
  /** linear_num_value_heads: a multiple of nKHead; v head h reads q and k of head floor(h / (nVHead / nKHead)) (repeat_interleave). */
  readonly nVHead: number;
  /**
   * The value heads laid out tiled rather than grouped by key head: v head h reads q and k of head h % nKHead (llama.cpp's
   * converter reorders them so, for ggml's broadcast; its GGUF files' z, b, a, A, dt_bias, v channels and out_proj
   * columns all follow), not floor(h / (nVHead / nKHead)) (transformers').
   */
  readonly vTiled: boolean;
  readonly headKDim: number; // linear_key_head_dim: the state's rows
  readonly headVDim: number; // linear_value_head_dim: the state's columns, and the gated norm's width
  readonly convKernel: number; // linear_conv_kernel_dim: taps of the causal convolution over q|k|v
}

export const deltaKeyDim = (s: DeltaShape) => s.nKHead * s.headKDim;

/** v's width, and z's and the output's. */
export const deltaValueDim = (s: DeltaShape) => s.nVHead * s.headVDim;

/** The convolved width: q, k, then v. */
export const deltaConvDim = (s: DeltaShape) => 2 * deltaKeyDim(s) + deltaValueDim(s);

/** The in-projection's width: z, q|k|v, b, a. */
export const deltaInProj = (s: DeltaShape) => deltaValueDim(s) + deltaConvDim(s) + 2 * s.nVHead;

/** One layer's recurrent state in f32 values: (nVHead, headKDim, headVDim). */
export const deltaStateSize = (s: DeltaShape) => s.nVHead * s.headKDim * s.headVDim;

/** A layer's per-head vectors as the scan binds them: A (= -exp(A_log)), then dt_bias. */
export function deltaPerHead(w: { readonly a: Float32Array; readonly dtBias: Float32Array }): Float32Array {
  const out = new Float32Array(2 * w.a.length);
  out.set(w.a, 0);
  out.set(w.dtBias, w.a.length);
  return out;
}

/**
 * The shape of a Mamba-2 mixer (Granite 4.0-H's recurrent layers), and the widths derived from it. Shader-free, so
 * the converter (models/hf_to_gguf.ts), the weight readers and the kernels share one definition.
 */
export interface SsmShape {
  readonly nHead: number; // heads of the scan (mamba_n_heads; GGUF ssm.time_step_rank)
  readonly headDim: number; // channels per head (mamba_d_head)
  readonly dState: number; // state entries per channel (mamba_d_state)
  readonly nGroup: number; // groups of heads sharing B and C (mamba_n_groups)
  readonly convKernel: number; // taps of the causal convolution over x|B|C (mamba_d_conv)
  /** dt = clamp(softplus(dt + dt_bias), dtMin, dtMax) (time_step_limit; (0, inf) is no clamp). */
  readonly dtMin: number;
  readonly dtMax: number;
  /** in_proj's output scaled by segment before anything reads it: z, x, B, C, dt (Falcon-H1's muP multipliers; else 1s). */
  readonly inScales: readonly [number, number, number, number, number];
  /** RMSNorm of the gated output before out_proj (Granite 4.0-H's; Falcon-H1's mamba_rms_norm, false in its releases). */
  readonly gatedNorm: boolean;
}

/** No per-segment scaling of in_proj's output. */
export const UNIT_SCALES = Object.freeze([1, 1, 1, 1, 1] as const);

/** x's width, and z's and y's: every head's channels. */
export const ssmInner = (s: SsmShape) => s.nHead * s.headDim;

/** The convolved width: x, then B and C of every group. */
export const ssmConvDim = (s: SsmShape) => ssmInner(s) + 2 * s.nGroup * s.dState;

/** in_proj's rows: z, then x|B|C, then dt of every head. */
export const ssmInProj = (s: SsmShape) => ssmInner(s) + ssmConvDim(s) + s.nHead;

/** One layer's recurrent state in f32 values: (heads, headDim, dState). */
export const ssmStateSize = (s: SsmShape) => ssmInner(s) * s.dState;

/** A layer's per-head vectors as the scan binds them: dt_bias, A, D, one after the other. */
export function ssmPerHead(w: { readonly dtBias: Float32Array; readonly a: Float32Array; readonly d: Float32Array }): Float32Array {
  const out = new Float32Array(3 * w.dtBias.length);
  out.set(w.dtBias, 0);
  out.set(w.a, w.dtBias.length);
  out.set(w.d, 2 * w.dtBias.length);
  return out;
}

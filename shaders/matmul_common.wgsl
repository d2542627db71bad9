// What the matmul skeletons (shaders/matmul.wgsl), the embedding gather and every weight decoder
// (shaders/weights/*.wgsl) share, put in front of each at load: launch-shape overrides, the Params
// uniform, and the row clamp; shaders/tiled_index.wgsl (tiled_index) goes with it (MATMUL_COMMON_SOURCE).

override WG: u32 = 64; // rows, gemv_split, gather: invocations per workgroup
override R: u32 = 2; // rows: rows per invocation; gemv_split: rows per lane group; 1..4
override LANES: u32 = WG; // gemv_split: lanes that share out one group of R rows (WG a multiple; see gemv_split)
override ROW_ITERS: u32 = 1u; // gemv_split: groups of rows each lane group takes in turn
override WARP: bool = false; // gemv_split: each lane group is one subgroup (LANES lanes, every subgroup that size)
override TT: u32 = 1; // rows: tokens per invocation, 1..4 (1 for decode)
override FLOAT_DOT: bool = false; // rows, flat: products of codes in f32 (exact; for CPU SIMD), not dot4i8
override MUL_WIDEN: bool = false; // GGUF planes' codes taken out by multiplies and masks, not shifts (piece_f32)
override TM: u32 = 32; // gemm: tokens per tile (multiple of 4)
override TN: u32 = 32; // gemm: rows per tile (multiple of 4)
// rows: how x's words reach the lanes: 1 (a word of a piece per lane, shared by subgroup broadcast), 4 (the
// subgroup's first 4 lanes the 4 words of a piece each, as one vec4 where the input's view allows, the others'
// loads masked off), or 8 (the first 8 lanes a word of two pieces each, once per two pieces: Q8_0 x, subgroups
// of 8 or more): x_fetch, x_shared in the variant header. The TS side takes 1 where an f32 x row is not whole
// vec4s (K % 4 != 0, for 4) and where 8 does not apply (effectiveXVec).
override X_VEC: u32 = 1;
// Rows per tile of the weights (src/kernels/matmul_weights.ts GpuWeights.rowTile; q8, q4, fp8, GGUF block
// formats): 1 = row-major.
override ROW_TILE: u32 = 1;

struct MatmulParams {
  N: u32, // row length of y (the whole matrix's rows, or more when y_offset places them in a wider y)
  K: u32, // row length of x and W (f16: even; q8/q4/GGUF block formats: whole blocks; fp8: a multiple of 4)
  row_start: u32, // first row of this chunk of W
  rows: u32, // rows in this chunk
  has_bias: u32, // 1: add bias[n]
  accumulate: u32, // 1: y += result (y is read first): the residual add, fused
  group: u32, // weights per scale group along a row (q8, fp8: 32 or more; others: their block)
  groups: u32, // scale groups per row, ceil(K / group)
  y_offset: u32, // y column of the matrix's row 0 (a part of a fused output)
  x_norm: u32, // 1: RMS-normalise x (with eps and the norm weight) as the input reads it; 0: x as it is
  eps: f32, // the RMSNorm epsilon (x_norm)
  glu: u32, // 0: y = the rows; 1 + act: rows are gate/up pairs, y = h = act(gate) * up (glu_act's act)
  out_scale: f32, // multiplies each output before it is written or added (Granite's residual multiplier), else 1
  slots: u32, // the expert matmuls (shaders/matmul_experts*.wgsl): experts each token takes (rows of y per token), else 0
  x_div: u32, // the expert matmuls: rows of y per row of x (slots, or 1), else 1
  expert_rows: u32, // the expert matmuls: rows of one expert in the stacked matrix (N), else 0
  expert_first: u32, // the expert matmuls: the first expert in this chunk, else 0
  expert_count: u32, // the expert matmuls: experts in this chunk, else 0
  experts_all: u32, // the expert GEMM: the mixture's experts, else 0
  order_at: u32, // the expert GEMM: where moe/group's slot order starts in its buffer (after the tiles' experts), else 0
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;

// Rows r0 .. r0+3 of the chunk, clamped into it so that every lane runs the same loop.
fn clamp_rows(r0: u32) -> vec4<u32> {
  return min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.rows - 1u));
}

// K's 32-blocks and its words of 4 int8 codes (Q8_0 weights and x): shifts, not divisions, which SwiftShader's JIT
// runs lane by lane (a division per block cost its Q8_0 GEMV 10-20%, bench/gemv_shapes' 'r4 d4 runtime nb').
fn k_blocks32() -> u32 {
  return p.K >> 5u;
}
fn k_words() -> u32 {
  return p.K >> 2u;
}

// Decoder blocks per row (rows are padded to whole blocks at upload) and per scale group.
fn blocks_per_row() -> u32 {
  return (p.K + BLOCK - 1u) / BLOCK;
}
fn blocks_per_group() -> u32 {
  return (p.group + BLOCK - 1u) / BLOCK;
}

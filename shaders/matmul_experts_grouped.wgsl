// The expert GEMM (src/kernels/matmul.ts, MatmulArgs.experts with groups: the prefill's): the `rows` (TT 4) or `rows8`
// entry over a mixture's experts stacked along rows (expert e's rows at e * expert_rows), its TT rows of y within a tile
// of GROUP_TILE slots of one expert. moe/group (shaders/moe.wgsl) sorted the pass's slots (a token's chosen experts) by
// expert into runs padded to whole tiles, the padding repeating the run's first slot (the same row computed twice and
// written with the same bits), and wrote each tile's expert; so each expert's weights are read once per TT of its slots,
// not once per slot as the expert GEMV reads them. Joined after the skeleton in place of the plain matrix's hooks
// (matmulSkeleton).

// [tile] its expert (NO_EXPERT past the pass's last), then from p.order_at [padded row] its slot (a row of y)
@group(0) @binding(8) var<storage, read> expert_groups: array<u32>;

const NOT_HERE: u32 = 0xffffffffu;
const GROUP_TILE: u32 = 8u; // EXPERT_TILE in src/kernels/matmul.ts: a multiple of TT

var<workgroup> expert_of_tile: u32;

// Padded rows in this pass, at most: every slot, each expert's run rounded up to whole tiles.
fn y_rows() -> u32 {
  return step.n_tokens * p.slots + p.experts_all * (GROUP_TILE - 1u);
}

// The slot (row of y) of padded row r.
fn y_row(r: u32) -> u32 {
  return expert_groups[p.order_at + r];
}

// The row of x that padded row r reads: its slot's token's (x_div = slots) or the slot's own (x_div = 1).
fn x_row(r: u32) -> u32 {
  return y_row(r) / p.x_div;
}

// rows' x rows of its TT rows from r0 (within one tile: one expert's run).
fn x_rows4(r0: u32, nr: u32) -> vec4<u32> {
  let r = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(r0 + TT - 1u));
  return vec4<u32>(x_row(r.x), x_row(r.y), x_row(r.z), x_row(r.w));
}

// The first stacked row of the tile's expert in this chunk, NOT_HERE past the pass's tiles or where the expert is in
// another chunk; read by one lane and handed to all, as in shaders/matmul_experts.wgsl.
fn expert_start(r0: u32, lid: u32) -> u32 {
  if (lid == 0u) { expert_of_tile = expert_groups[r0 / GROUP_TILE]; }
  let e = workgroupUniformLoad(&expert_of_tile) - p.expert_first;
  return select(NOT_HERE, e * p.expert_rows, e < p.expert_count);
}

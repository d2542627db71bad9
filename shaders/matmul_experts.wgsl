// The expert GEMV (src/kernels/matmul.ts, MatmulArgs.experts): the GEMV entries (rows, rows_flat, gemv_split) over a
// mixture of experts' matrices stacked into one (expert e's rows at e * expert_rows), where row a of y is a token's
// slot (T * slots of them) and takes the expert that routing chose for it (expert_ids[a], shaders/moe.wgsl). Joined
// after the skeleton in place of the plain matrix's hooks (matmulSkeleton): y_rows, y_row, x_row, x_rows4, expert_start.

@group(0) @binding(8) var<storage, read> expert_ids: array<u32>; // (T * slots): the expert of each row of y

const NOT_HERE: u32 = 0xffffffffu;

var<workgroup> expert_of_row: u32;

// Rows of y in this pass: every token's slots.
fn y_rows() -> u32 {
  return step.n_tokens * p.slots;
}

// Row a of y is row a of the output.
fn y_row(a: u32) -> u32 {
  return a;
}

// The row of x that row a of y reads: its token's (x_div = slots: the FFN's normalised input) or its own (x_div = 1:
// the expert's hidden row).
fn x_row(a: u32) -> u32 {
  return a / p.x_div;
}

// rows' x rows of its TT (here 1) rows of y from a0.
fn x_rows4(a0: u32, na: u32) -> vec4<u32> {
  return min(vec4<u32>(a0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(na - 1u)) / vec4<u32>(p.x_div);
}

// The first stacked row of row a's expert in this chunk (its experts expert_first .. +expert_count), NOT_HERE where
// the expert is in another chunk. Read by one lane and handed to all (uniform, as the early return and the
// subgroup operations after it need).
fn expert_start(a: u32, lid: u32) -> u32 {
  if (lid == 0u) { expert_of_row = expert_ids[a]; }
  let e = workgroupUniformLoad(&expert_of_row) - p.expert_first;
  return select(NOT_HERE, e * p.expert_rows, e < p.expert_count);
}

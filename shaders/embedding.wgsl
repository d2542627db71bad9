// Embedding lookup: x[t] = table[ids[t]], dequantized to f32. The table keeps its load-time format (any
// weight format of src/kernels/matmul.ts) so a tied LM head can share it, and is decoded by the same
// decoder the matmul uses (shaders/weights/<format>.wgsl, put in front at load, with its x mode for
// the piece types): weight k of a block is block_combine(block, code k, 1, 1), the decoder's
// contribution of that code times an x of 1. A table larger than one storage binding is split into
// row chunks; each chunk's dispatch writes only the tokens whose id falls in its rows.
// MatmulParams (K = dim, row_start, rows, group, groups), p, step, WG: shaders/matmul_common.wgsl.

@group(0) @binding(8) var<storage, read> ids: array<u32>; // (T)
@group(0) @binding(9) var<storage, read_write> out: array<f32>; // (T, dim)

const PIECE: u32 = 4u * X_PER_WORD; // weights per piece
const PIECES: u32 = BLOCK / PIECE;

// Code e (< PIECE) of a piece, as the x mode sums it.
fn piece_code(q: XV, e: u32) -> ACC {
  if (X_PER_WORD == 1u) { return ACC(q[e]); }
  return ACC(extractBits(bitcast<i32>(u32(q[e / 4u])), 8u * (e % 4u), 8u)); // int8
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  if (t >= step.n_tokens) { return; }
  let id = ids[t];
  if (id < p.row_start || id >= p.row_start + p.rows) { return; }
  let r = id - p.row_start;
  let bpg = blocks_per_group();
  for (var b = lid; b < blocks_per_row(); b += WG) {
    let blk = load_block(r, b, load_group(r, b / bpg));
    for (var v = 0u; v < PIECES; v++) {
      let q = block_piece(blk, v);
      for (var e = 0u; e < PIECE; e++) {
        let k = b * BLOCK + v * PIECE + e;
        if (k < p.K) { out[t * p.K + k] = block_combine(blk, piece_code(q, e), ACC(1), 1.0); }
      }
    }
  }
}

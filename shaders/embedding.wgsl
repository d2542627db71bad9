// Embedding lookup: x[t] = table[ids[t]] widened to f32. The table keeps its load-time format
// (f32, f16, q8, q4 as in src/kernels/matmul.ts) so a tied LM head can share it. A table larger
// than one storage binding is split into row chunks; each chunk's dispatch writes only the tokens
// whose id falls in its rows.
override WG: u32 = 64;

struct Params {
  dim: u32,
  row_start: u32,
  rows: u32,
  row_words: u32, // u32 words per table row (f32/f16 rows are padded to whole vec4s)
}

struct Step {
  n_tokens: u32,
  pos: u32,
  seed: u32,
  temperature: f32,
  top_k: u32,
  top_p: f32,
  uniform_rand: f32,
  pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> ids: array<u32>; // (T)
@group(0) @binding(3) var<storage, read> table: array<u32>; // (rows, dim) in the chunk's format
@group(0) @binding(4) var<storage, read> scales: array<f32>; // (rows, dim/32) for q8/q4; unused otherwise
@group(0) @binding(5) var<storage, read_write> x: array<f32>; // (T, dim)

fn local_row(t: u32) -> i32 {
  let id = ids[t];
  if (id < p.row_start || id >= p.row_start + p.rows) { return -1; }
  return i32(id - p.row_start);
}

@compute @workgroup_size(WG)
fn gather_f32(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  let r = local_row(t);
  if (t >= step.n_tokens || r < 0) { return; }
  for (var i = lid; i < p.dim; i += WG) {
    x[t * p.dim + i] = bitcast<f32>(table[u32(r) * p.row_words + i]);
  }
}

@compute @workgroup_size(WG)
fn gather_f16(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  let r = local_row(t);
  if (t >= step.n_tokens || r < 0) { return; }
  let half = p.dim / 2u;
  for (var i = lid; i < half; i += WG) {
    let v = unpack2x16float(table[u32(r) * p.row_words + i]);
    x[t * p.dim + 2u * i] = v.x;
    x[t * p.dim + 2u * i + 1u] = v.y;
  }
}

@compute @workgroup_size(WG)
fn gather_q8(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  let r = local_row(t);
  if (t >= step.n_tokens || r < 0) { return; }
  let words = p.dim / 4u;
  for (var i = lid; i < words; i += WG) {
    let q = unpack4xI8(table[u32(r) * p.row_words + i]);
    let d = scales[u32(r) * (p.dim / 32u) + i / 8u];
    let o = t * p.dim + 4u * i;
    x[o] = d * f32(q.x); x[o + 1u] = d * f32(q.y); x[o + 2u] = d * f32(q.z); x[o + 3u] = d * f32(q.w);
  }
}

// q4: each 32-block is 4 words; byte j of the block holds element j (low nibble) and j+16 (high).
@compute @workgroup_size(WG)
fn gather_q4(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  let r = local_row(t);
  if (t >= step.n_tokens || r < 0) { return; }
  let words = p.dim / 8u;
  for (var i = lid; i < words; i += WG) {
    let w = table[u32(r) * p.row_words + i];
    let blk = i / 4u;
    let d = scales[u32(r) * (p.dim / 32u) + blk];
    let j0 = (i % 4u) * 4u; // first element (low nibbles) of this word within the block
    let o = t * p.dim + blk * 32u;
    for (var b = 0u; b < 4u; b++) {
      let byte = (w >> (8u * b)) & 0xffu;
      x[o + j0 + b] = d * (f32(byte & 0xfu) - 8.0);
      x[o + j0 + b + 16u] = d * (f32(byte >> 4u) - 8.0);
    }
  }
}

// Embedding lookup: x[t] = table[ids[t]] widened to f32. The table keeps its load-time format
// (f32, f16, q8, q4, fp8e4m3, fp8e5m2 as in src/kernels/matmul.ts) so a tied LM head can share it.
// Quantized tables have one scale per `group` weights of a row (q4: 32). A table larger
// than one storage binding is split into row chunks; each chunk's dispatch writes only the tokens
// whose id falls in its rows. Values are multiplied by `scale` (Gemma scales its embeddings by sqrt(dim)).
override WG: u32 = 64;

struct Params {
  dim: u32,
  row_start: u32,
  rows: u32,
  row_words: u32, // u32 words per table row (f32/f16/fp8 rows are padded to whole vec4s)
  group: u32, // quantized tables: weights per scale along a row
  groups: u32, // quantized tables: scales per row
  scale: f32, // multiplies every value (Gemma: sqrt(dim)), else 1
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> ids: array<u32>; // (T)
@group(0) @binding(3) var<storage, read> table: array<u32>; // (rows, dim) in the chunk's format
@group(0) @binding(4) var<storage, read> scales: array<f32>; // (rows, groups) for quantized tables; unused otherwise
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
    x[t * p.dim + i] = bitcast<f32>(table[u32(r) * p.row_words + i]) * p.scale;
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
    x[t * p.dim + 2u * i] = v.x * p.scale;
    x[t * p.dim + 2u * i + 1u] = v.y * p.scale;
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
    let d = scales[u32(r) * p.groups + (4u * i) / p.group];
    let o = t * p.dim + 4u * i;
    let ds = d * p.scale;
    x[o] = ds * f32(q.x); x[o + 1u] = ds * f32(q.y); x[o + 2u] = ds * f32(q.z); x[o + 3u] = ds * f32(q.w);
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
      x[o + j0 + b] = d * (f32(byte & 0xfu) - 8.0) * p.scale;
      x[o + j0 + b + 16u] = d * (f32(byte >> 4u) - 8.0) * p.scale;
    }
  }
}

// FP8 codes as f32, exactly: the same decoding as matmul_fp8.wgsl's fp8x4 (see there), with the format
// as an argument. Both are checked on all 256 codes of each format (test/matmul.test.ts).
fn fp8x4(word: u32, e5m2: bool) -> vec4<f32> {
  let c = (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu);
  let mag = c & vec4<u32>(0x7Fu);
  var bits: vec4<u32>;
  if (e5m2) {
    let normal = (mag << vec4<u32>(21u)) + vec4<u32>(112u << 23u);
    let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * (1.0 / 65536.0));
    bits = select(normal, sub, mag < vec4<u32>(4u));
    let special = select(vec4<u32>(0x7FC00000u), vec4<u32>(0x7F800000u), mag == vec4<u32>(0x7Cu));
    bits = select(bits, special, mag >= vec4<u32>(0x7Cu));
  } else {
    let normal = (mag << vec4<u32>(20u)) + vec4<u32>(120u << 23u);
    let sub = bitcast<vec4<u32>>(vec4<f32>(mag) * (1.0 / 512.0));
    bits = select(normal, sub, mag < vec4<u32>(8u));
    bits = select(bits, vec4<u32>(0x7FC00000u), mag == vec4<u32>(0x7Fu));
  }
  return bitcast<vec4<f32>>(bits | ((c & vec4<u32>(0x80u)) << vec4<u32>(24u)));
}

// FP8 rows: codes 4 per u32 (element 4i in the low byte), one word per step; dim is a multiple of 4.
fn gather_fp8(t: u32, lid: u32, e5m2: bool) {
  let r = local_row(t);
  if (t >= step.n_tokens || r < 0) { return; }
  for (var i = lid; i < p.dim / 4u; i += WG) {
    let v = fp8x4(table[u32(r) * p.row_words + i], e5m2) * scales[u32(r) * p.groups + (4u * i) / p.group];
    let o = t * p.dim + 4u * i;
    x[o] = v.x * p.scale; x[o + 1u] = v.y * p.scale; x[o + 2u] = v.z * p.scale; x[o + 3u] = v.w * p.scale;
  }
}

@compute @workgroup_size(WG)
fn gather_fp8e4m3(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  gather_fp8(wg.x, lid, false);
}

@compute @workgroup_size(WG)
fn gather_fp8e5m2(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  gather_fp8(wg.x, lid, true);
}

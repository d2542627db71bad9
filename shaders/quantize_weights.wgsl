// quantize_weights: f32, f16 or bf16 weights converted on the GPU as they are uploaded, bit for bit as the CPU converts
// them, written in the stored format's upload layout (row-major, or in tiles of ROW_TILE rows: tiled_index,
// shaders/tiled_index.wgsl, put in front with shaders/q8_block.wgsl and shaders/f16_bits.wgsl: f16 both ways):
//   TARGET 0, q8: ggml's quantize_row_q8_0 rule (d = amax / 127, codes round(x / d) half away from 0 by 1 / d), per
//     32-block (`main`: the scale rounded to f16, src/gguf/convert.ts quantizeQ8G32; f32 scales or f16 pairs, PAIRED) or
//     per row (`main_row`: an f32 scale, src/quant/int8.ts quantizeInt8), 2 vec4 of codes a block;
//   TARGET 1, 2, FP8 E4M3, E5M2: scale = amax / the format's max, code = x / scale rounded to nearest even, saturating
//     (src/quant/fp8.ts quantizeFp8), per 32-block (`main`) or per row (`main_row`), f32 scales, a vec4 a 16 codes;
//   `main_f16`: each value rounded to the nearest f16 (src/gguf/convert.ts f32ToF16Bits), a vec2 a 4 values.
// Values are read as f32 bits and their magnitudes compared as integers, so a NaN (above every other magnitude) gives
// the CPU's NaN scale, and the f16 rounding never passes through float arithmetic. Every entry point raises flags[0]
// where a magnitude reaches 2^60 (inf and NaN too): the FP8 E4M3 decoders' f32-bit route needs scales below 2^60 and no
// NaN code (GpuWeights.fp8Bits, nanCodes), which no such matrix breaks.

override SRC: u32 = 2u; // the source's words: 0 one f32, 1 two f16, 2 two bf16 (element 2i in the low half)
override TARGET: u32 = 0u; // 0 q8, 1 FP8 E4M3, 2 FP8 E5M2 (main, main_row)
override PAIRED: bool = false; // q8 per 32-block: scales as f16 pairs (group 2j low, 2j + 1 high), else one f32 per block
override ROW_TILE: u32 = 1u; // rows per tile of the destination (1: row-major)
override CODE_FLIP: u32 = 0u; // q8: 0x80808080 stores the codes offset by 128 (GpuWeights.offsetCodes)
override WG: u32 = 64u;

struct QuantizeWeightsParams {
  rows: u32, // rows of the source, from the destination chunk's row `row0`
  K: u32, // row length (a multiple of 32)
  row0: u32,
  groups_x: u32, // invocations (main, main_f16) or workgroups (main_row) along x of the dispatch: its grid is 2D past 65,535
}

@group(0) @binding(0) var<uniform> p: QuantizeWeightsParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>; // (rows, K words of f32 or K/2 of 16-bit pairs)
@group(0) @binding(2) var<storage, read_write> codes: array<vec4<u32>>; // main, main_row: the chunk's codes
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>, 1>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>; // f32 bits, or f16 pairs
@group(0) @binding(5) var<storage, read_write> halves: array<vec2<u32>>; // main_f16: the chunk's f16 pairs

const BIG = 0x5D800000u; // 2^60's bits
const NAN = 0x7FC00000u; // the NaN JavaScript stores

// Block b of source row r as 8 vec4 of f32 bits: bf16's low half moved up and high half masked, f16's widened exactly.
fn source_block(r: u32, b: u32) -> array<vec4<u32>, 8> {
  var v: array<vec4<u32>, 8>;
  if (SRC != 0u) {
    let base = (r * p.K + 32u * b) / 8u; // 8 values a vec4 of words
    for (var i = 0u; i < 4u; i++) {
      let w = src[base + i];
      var lo = w * 65536u;
      var hi = w & vec4<u32>(0xFFFF0000u);
      if (SRC == 1u) {
        lo = f16_bits_to_f32(w);
        hi = f16_bits_to_f32(w >> vec4<u32>(16u));
      }
      v[2u * i] = vec4<u32>(lo.x, hi.x, lo.y, hi.y);
      v[2u * i + 1u] = vec4<u32>(lo.z, hi.z, lo.w, hi.w);
    }
  } else {
    let base = (r * p.K + 32u * b) / 4u;
    for (var i = 0u; i < 8u; i++) { v[i] = src[base + i]; }
  }
  return v;
}

// The block's largest magnitude, as bits: a NaN's are above inf's, so a NaN wins, as in Math.max.
fn amax_bits(v: array<vec4<u32>, 8>) -> u32 {
  var m = vec4<u32>(0u);
  for (var j = 0u; j < 8u; j++) { m = max(m, v[j] & vec4<u32>(0x7FFFFFFFu)); }
  return max(max(m.x, m.y), max(m.z, m.w));
}

fn flag_big(amax: u32) {
  if (amax >= BIG) { atomicOr(&flags[0], 1u); }
}

// amax / c correctly rounded (src/quant: f32 divisions of f32 values); inf and NaN as they divide. div_exact leaves
// subnormal operands and quotients to the hardware's division, so rows or blocks whose largest magnitude is below
// ~2^-118 (and FP8 codes of subnormal weights) may differ from the CPU's: zeros in all but name.
fn scale_of(amax: u32, c: f32) -> f32 {
  // Bit patterns made at run time: WGSL refuses a constant inf or NaN.
  if (amax > 0x7F800000u) { return bitcast<f32>((amax & 0u) | NAN); }
  if (amax == 0x7F800000u) { return bitcast<f32>(amax); }
  return div_exact(bitcast<f32>(amax), c);
}

// ---- q8 -------------------------------------------------------------------------------------------------------

// Codes of a block by the scale d: round(x * (1 / d)) half away from zero; all 0 where d is 0, inf or NaN (the CPU's
// 1 / d is then 0 or unused, and x * 0 a zero or a NaN, stored as 0).
fn q8_codes(v: array<vec4<u32>, 8>, d: f32) -> array<vec4<u32>, 2> {
  var q: array<vec4<u32>, 2>;
  if ((bitcast<u32>(d) & 0x7FFFFFFFu) - 1u >= 0x7F7FFFFFu) { return q; } // 0, inf or NaN
  let id = div_exact(1.0, d);
  for (var j = 0u; j < 2u; j++) {
    let i = 4u * j;
    q[j] = vec4<u32>(q8_word(bitcast<vec4<f32>>(v[i]), id), q8_word(bitcast<vec4<f32>>(v[i + 1u]), id),
      q8_word(bitcast<vec4<f32>>(v[i + 2u]), id), q8_word(bitcast<vec4<f32>>(v[i + 3u]), id));
  }
  return q;
}

// The q8 per-32 scale as stored: d rounded to f16 (NaN kept a NaN).
fn q8_stored(d: f32) -> f32 {
  if ((bitcast<u32>(d) & 0x7FFFFFFFu) > 0x7F800000u) { return d; }
  return q8_stored_scale(d);
}

// ---- FP8 ------------------------------------------------------------------------------------------------------

override M_BITS = select(2u, 3u, TARGET == 1u);
override BIAS = select(15u, 7u, TARGET == 1u);
override MAX_CODE = select(0x7Bu, 0x7Eu, TARGET == 1u);
override INF_CODE = select(0x7Cu, 0x7Eu, TARGET == 1u); // E4M3 has no inf: its max
override NAN_CODE = select(0x7Eu, 0x7Fu, TARGET == 1u);
override FP8_MAX = select(57344.0, 448.0, TARGET == 1u);

// The code of a magnitude (f32 bits, finite or inf), rounded to nearest even, saturating (src/quant/fp8.ts encode).
fn fp8_magnitude(a: u32) -> u32 {
  if (a >= 0x7F800000u) { return INF_CODE; }
  if (a > bitcast<u32>(FP8_MAX)) { return MAX_CODE; }
  let exp = a >> 23u;
  let full = (a & 0x7FFFFFu) | select(0u, 0x800000u, exp != 0u);
  var code: u32;
  var shift: u32;
  if (exp + BIAS >= 128u) { // a normal FP8 value: exp - 127 >= 1 - BIAS
    shift = 23u - M_BITS;
    code = ((exp + BIAS - 127u) << M_BITS) | ((full & 0x7FFFFFu) >> shift);
  } else { // subnormal in FP8, in units of its smallest subnormal 2^(1 - BIAS - M_BITS)
    shift = 150u + 1u - exp - BIAS - M_BITS;
    if (shift > 24u) { return 0u; } // below half the smallest subnormal
    code = full >> shift;
  }
  let rem = full & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (code & 1u) == 1u)) { code++; } // a carry into the exponent is right
  return min(code, MAX_CODE);
}

// The code of x / scale (bits of x; scale nonzero), as the CPU's f32 quotient encodes it.
fn fp8_code(x: u32, scale: f32) -> u32 {
  let s = bitcast<u32>(scale);
  let mag = x & 0x7FFFFFFFu;
  let sign = (x >> 24u) & 0x80u;
  if (s > 0x7F800000u || (s == 0x7F800000u && mag >= 0x7F800000u)) { return NAN_CODE; } // x / NaN, inf / inf
  if (s == 0x7F800000u || mag == 0u) { return sign; } // a signed zero
  return sign | fp8_magnitude(bitcast<u32>(div_exact(bitcast<f32>(mag), scale)));
}

fn fp8_word(v: vec4<u32>, scale: f32) -> u32 {
  return fp8_code(v.x, scale) | (fp8_code(v.y, scale) << 8u) | (fp8_code(v.z, scale) << 16u) | (fp8_code(v.w, scale) << 24u);
}

// A block's codes, 2 vec4 of 16 codes; all 0 where scale is 0.
fn fp8_codes(v: array<vec4<u32>, 8>, scale: f32) -> array<vec4<u32>, 2> {
  var q: array<vec4<u32>, 2>;
  if (scale == 0.0) { return q; }
  for (var j = 0u; j < 2u; j++) {
    let i = 4u * j;
    q[j] = vec4<u32>(fp8_word(v[i], scale), fp8_word(v[i + 1u], scale), fp8_word(v[i + 2u], scale), fp8_word(v[i + 3u], scale));
  }
  return q;
}

// ---- both -----------------------------------------------------------------------------------------------------

fn block_codes(v: array<vec4<u32>, 8>, scale: f32) -> array<vec4<u32>, 2> {
  if (TARGET == 0u) { return q8_codes(v, scale); }
  return fp8_codes(v, scale);
}

// Block b's codes of chunk row cr: q8's block is one tiled item of 2 vec4, FP8's two items of a vec4.
fn store_block(cr: u32, b: u32, nb: u32, q: array<vec4<u32>, 2>) {
  if (TARGET == 0u) {
    let at = tiled_index(cr, b, nb);
    codes[2u * at] = q[0] ^ vec4<u32>(CODE_FLIP);
    codes[2u * at + 1u] = q[1] ^ vec4<u32>(CODE_FLIP);
  } else {
    codes[tiled_index(cr, 2u * b, 2u * nb)] = q[0];
    codes[tiled_index(cr, 2u * b + 1u, 2u * nb)] = q[1];
  }
}

fn row_scale(amax: u32) -> f32 {
  if (TARGET == 0u) { return scale_of(amax, 127.0); }
  return scale_of(amax, FP8_MAX);
}

// Per 32-block: one invocation per row and pair of blocks (a pair's q8 f16 scales share a word).
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let nb = p.K / 32u;
  let np = (nb + 1u) / 2u;
  let i = g.x + g.y * p.groups_x;
  if (i >= p.rows * np) { return; }
  let r = i / np; // source row; the chunk's row r + row0
  let pair = i % np;
  let cr = r + p.row0;
  var half = vec2<u32>(0u);
  for (var h = 0u; h < 2u; h++) {
    let b = 2u * pair + h;
    if (b < nb) {
      let v = source_block(r, b);
      let amax = amax_bits(v);
      flag_big(amax);
      let d = row_scale(amax);
      store_block(cr, b, nb, block_codes(v, d));
      let stored = select(d, q8_stored(d), TARGET == 0u);
      // An f16 pair by bit operations (to_f16, exact for an f16 value): pack2x16float may flush f16 subnormals.
      if (PAIRED) { half[h] = to_f16(bitcast<u32>(stored)); } else { scales[tiled_index(cr, b, nb)] = bitcast<u32>(stored); }
    }
  }
  if (PAIRED) { scales[tiled_index(cr, pair, np)] = half.x | (half.y << 16u); }
}

var<workgroup> row_amax: atomic<u32>;

// One scale per row: a workgroup per row; its blocks' largest magnitude first, then their codes.
@compute @workgroup_size(WG)
fn main_row(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * p.groups_x;
  if (r >= p.rows) { return; } // the same for the whole workgroup
  let nb = p.K / 32u;
  var m = 0u;
  for (var b = lid; b < nb; b += WG) { m = max(m, amax_bits(source_block(r, b))); }
  atomicMax(&row_amax, m);
  workgroupBarrier();
  let amax = atomicLoad(&row_amax);
  let d = row_scale(amax);
  let cr = r + p.row0;
  for (var b = lid; b < nb; b += WG) { store_block(cr, b, nb, block_codes(source_block(r, b), d)); }
  if (lid == 0u) {
    flag_big(amax);
    scales[tiled_index(cr, 0u, 1u)] = bitcast<u32>(d);
  }
}

// ---- f16 ------------------------------------------------------------------------------------------------------

// One invocation per row and 32-block: 8 tiled items of a vec2 (4 values).
@compute @workgroup_size(WG)
fn main_f16(@builtin(global_invocation_id) g: vec3u) {
  let nb = p.K / 32u;
  let i = g.x + g.y * p.groups_x;
  if (i >= p.rows * nb) { return; }
  let r = i / nb;
  let b = i % nb;
  let v = source_block(r, b);
  flag_big(amax_bits(v));
  for (var j = 0u; j < 8u; j++) {
    let w = v[j];
    halves[tiled_index(r + p.row0, 8u * b + j, 8u * nb)] = vec2<u32>(to_f16(w.x) | (to_f16(w.y) << 16u), to_f16(w.z) | (to_f16(w.w) << 16u));
  }
}

// quantize_ggml: values to ggml's blocks on the GPU, the bytes of ggml's reference quantizers (quantize_row_*_ref
// without an imatrix; src/quant/ggml/quant_32.ts and quant_k.ts are the CPU's copies, each C float operation rounded
// once). One invocation a block (32 values, 256 for the K-quants), written to `dst` as the block's bytes padded to
// whole words (BLOCK_WORDS); the host drops the padding. The values come as f32, or as a checkpoint's f16 or bf16
// words (SRC), widened exactly here. Needs shaders/round_f16.wgsl, shaders/q8_block.wgsl (div_exact, round_away) and
// shaders/f16_bits.wgsl in front of it.
// Every division is div_rn (WGSL lets f32 division be off by 2.5 ULP: EXACT_DIV) and every product that feeds a sum
// goes through rn (a compiler may fuse a multiply and an add into one rounding; C built without FMA, as llama-quantize
// is, does not). nearest_int is round(): ties to even, as ggml's 1.5 * 2^23 trick. sqrt (the K-quants' weights) is
// WGSL's: exact on CPU adapters, within an ULP or so on GPUs, where a block's codes may then differ from the CPU's at a
// near tie.

override SRC: u32 = 0u; // the values' words: 0 one f32, 1 two f16, 2 two bf16 (value 2i in the low half)
override TYPE: u32 = 0u; // 0 Q4_0, 1 Q4_1, 2 Q5_0, 3 Q5_1, 4 Q8_0, 5 Q4_K, 6 Q5_K, 7 Q6_K
override BLOCK_WORDS: u32 = 5u; // words of a padded block in dst
override WG: u32 = 64u;
// Divisions by div_exact (correctly rounded on any device), or by WGSL's `/` where the device's is known to be:
// lavapipe's (x86's divps; test/quantize_ggml.test.ts checks the bytes), at 0.5-0.6x the time. SwiftShader's `/` is not
// (its blocks then differ from the CPU's), nor, by WGSL's 2.5 ULP, any GPU's.
override EXACT_DIV: bool = true;

struct QuantizeGgmlParams {
  blocks: u32, // blocks in this piece of src
  groups_x: u32, // invocations along x of the dispatch (its grid is 2D past 65,535 workgroups)
  zero: u32, // 0, unknown to the compiler: rn's OR cannot be folded away
  pad: u32,
}

@group(0) @binding(0) var<uniform> p: QuantizeGgmlParams;
@group(0) @binding(1) var<storage, read> src: array<u32>; // (blocks * values a block) f32 words, or half as many pairs
@group(0) @binding(2) var<storage, read_write> dst: array<u32>; // (blocks * BLOCK_WORDS)

var<private> out: array<u32, 53>; // the block's bytes, little-endian in words (Q6_K's 210 the most)
var<private> xs: X32; // a sub-block's values (Q6_K's 16 in v0..v3)
var<private> lq: array<u32, 256>; // the block's codes
var<private> scales: array<f32, 16>; // the sub-blocks' scales
var<private> mins: array<f32, 8>; // and mins (Q4_K, Q5_K)

// x, a product, as an f32 value: the OR with a zero the compiler cannot see keeps it from fusing the product into the
// add that takes it (one rounding, where C rounds twice).
fn rn(x: f32) -> f32 {
  return bitcast<f32>(bitcast<u32>(x) | p.zero);
}

// a / b correctly rounded, any signs (div_exact takes magnitudes; the sign as IEEE's, -0 included).
fn div_rn(a: f32, b: f32) -> f32 {
  if (!EXACT_DIV) { return a / b; }
  let q = div_exact(abs(a), abs(b));
  return select(q, -q, ((bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u) != 0u);
}

// 16-bit source values (in the low halves) as f32, exactly.
fn widen(h: vec4<u32>) -> vec4<f32> {
  if (SRC == 2u) { return bitcast<vec4<f32>>(h << vec4<u32>(16u)); }
  return bitcast<vec4<f32>>(f16_bits_to_f32(h));
}

// Value i of the source.
fn value(i: u32) -> f32 {
  if (SRC == 0u) { return bitcast<f32>(src[i]); }
  return widen(vec4<u32>((src[i >> 1u] >> (16u * (i & 1u))) & 0xFFFFu)).x;
}

fn put(i: u32, v: u32) {
  out[i >> 2u] |= (v & 0xFFu) << (8u * (i & 3u));
}

// f16(v)'s bytes at i, i + 1 (ties to even, as ggml stores it); returns the f16 value.
fn put_f16(i: u32, v: f32) -> f32 {
  let h = to_f16(bitcast<u32>(v));
  put(i, h);
  put(i + 1u, h >> 8u);
  return bitcast<f32>(f16_bits_to_f32(vec4<u32>(h)).x);
}

// The low byte of nearest_int(v), as C's (int) then & 255 (negatives in two's complement).
fn low_byte(v: f32) -> u32 {
  return bitcast<u32>(i32(round(v))) & 0xFFu;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let blk = gid.y * p.groups_x + gid.x;
  if (blk >= p.blocks) { return; }
  for (var i = 0u; i < BLOCK_WORDS; i++) { out[i] = 0u; }
  switch TYPE {
    case 0u: { quant_sym(blk * 32u, 4u); }
    case 1u: { quant_affine(blk * 32u, 4u); }
    case 2u: { quant_sym(blk * 32u, 5u); }
    case 3u: { quant_affine(blk * 32u, 5u); }
    case 4u: { quant_q8_0(blk * 32u); }
    case 5u: { quant_q45_k(blk * 256u, false); }
    case 6u: { quant_q45_k(blk * 256u, true); }
    default: { quant_q6_k(blk * 256u); }
  }
  for (var i = 0u; i < BLOCK_WORDS; i++) { dst[blk * BLOCK_WORDS + i] = out[i]; }
}

// Q4_0, Q5_0: d = max / -half (max the value of largest magnitude, the first on a tie), codes trunc(x / d + half + 0.5).
fn quant_sym(x0: u32, bits: u32) {
  let half = f32(1u << (bits - 1u));
  let top = f32((1u << bits) - 1u);
  let qs = select(2u, 6u, bits == 5u);
  var amax = 0.0;
  var mx = 0.0;
  for (var j = 0u; j < 32u; j++) {
    let v = value(x0 + j);
    if (amax < abs(v)) {
      amax = abs(v);
      mx = v;
    }
  }
  let d = div_rn(mx, -half);
  let id = select(0.0, div_rn(1.0, d), d != 0.0);
  put_f16(0u, d);
  var qh = 0u;
  for (var j = 0u; j < 16u; j++) {
    let a = u32(min(top, trunc(rn(value(x0 + j) * id) + (half + 0.5))));
    let b = u32(min(top, trunc(rn(value(x0 + j + 16u) * id) + (half + 0.5))));
    put(qs + j, (a & 15u) | ((b & 15u) << 4u));
    qh |= ((a >> 4u) << j) | ((b >> 4u) << (j + 16u));
  }
  if (bits == 5u) { // qh's 4 bytes at 2..5
    out[0] |= qh << 16u;
    out[1] |= qh >> 16u;
  }
}

// Q4_1, Q5_1: d = (max - min) / (2^bits - 1), m = min, codes trunc((x - min) / d + 0.5) (Q5_1's C has no clamp).
fn quant_affine(x0: u32, bits: u32) {
  var mn = value(x0);
  var mx = value(x0);
  for (var j = 1u; j < 32u; j++) { // comparisons, not min/max: which of -0 and 0 is kept matters to the f16 min
    if (value(x0 + j) < mn) { mn = value(x0 + j); }
    if (value(x0 + j) > mx) { mx = value(x0 + j); }
  }
  let d = div_rn(mx - mn, f32((1u << bits) - 1u));
  let id = select(0.0, div_rn(1.0, d), d != 0.0);
  put_f16(0u, d);
  put_f16(2u, mn);
  var qh = 0u;
  for (var j = 0u; j < 16u; j++) {
    var a = u32(trunc(rn((value(x0 + j) - mn) * id) + 0.5));
    var b = u32(trunc(rn((value(x0 + j + 16u) - mn) * id) + 0.5));
    if (bits == 4u) {
      a = min(15u, a);
      b = min(15u, b);
    }
    put(select(4u, 8u, bits == 5u) + j, (a & 15u) | ((b & 15u) << 4u));
    qh |= (((a >> 4u) & 1u) << j) | (((b >> 4u) & 1u) << (j + 16u));
  }
  if (bits == 5u) { out[1] = qh; }
}

// Q8_0: quantize_q8_block (shaders/q8_block.wgsl: d = amax / 127, codes roundf(x / d), d stored as f16), the rule the
// activations take; its codes' words at byte 2.
fn quant_q8_0(x0: u32) {
  var v: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) { v[i] = load4(x0 + 4u * i); }
  let b = quantize_q8_block(v);
  put_f16(0u, b.d);
  for (var w = 0u; w < 4u; w++) {
    for (var c = 0u; c < 4u; c++) {
      put(2u + 4u * w + c, b.q0[w] >> (8u * c));
      put(18u + 4u * w + c, b.q1[w] >> (8u * c));
    }
  }
}

// A sub-block's 32 values as named vec4s, not an array: registers where an array indexed by a loop counter stays in
// memory (SwiftShader unrolls no loop; lavapipe's NIR not loops of 32). The searches below go through them 4 values at
// a time, each sum in element order (add4), so every f32 operation is the C's, on the same values in the same order.
struct X32 {
  v0: vec4<f32>,
  v1: vec4<f32>,
  v2: vec4<f32>,
  v3: vec4<f32>,
  v4: vec4<f32>,
  v5: vec4<f32>,
  v6: vec4<f32>,
  v7: vec4<f32>,
}

// Values i .. i + 3 (i % 4 == 0).
fn load4(i: u32) -> vec4<f32> {
  if (SRC == 0u) { return bitcast<vec4<f32>>(vec4<u32>(src[i], src[i + 1u], src[i + 2u], src[i + 3u])); }
  let w0 = src[i >> 1u];
  let w1 = src[(i >> 1u) + 1u];
  return widen(vec4<u32>(w0, w0 >> 16u, w1, w1 >> 16u) & vec4<u32>(0xFFFFu));
}

fn rn4(v: vec4<f32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) | vec4<u32>(p.zero));
}

// s + v.x + v.y + v.z + v.w, in that order.
fn add4(s: f32, v: vec4<f32>) -> f32 {
  return (((s + v.x) + v.y) + v.z) + v.w;
}

// make_qkx2's statistics over q in order: (min, max) by comparisons, and the sums of w and w * x (w = av_x + |x|).
fn qkx2_stats4(m: vec4<f32>, q: vec4<f32>, av_x: f32) -> vec4<f32> {
  var r = m;
  for (var c = 0u; c < 4u; c++) {
    if (q[c] < r.x) { r.x = q[c]; }
    if (q[c] > r.y) { r.y = q[c]; }
  }
  let w = av_x + abs(q);
  return vec4<f32>(r.xy, add4(r.z, w), add4(r.w, rn4(w * q)));
}

// A candidate's sums over q: (sum w l, sum w l^2, sum w l x), codes l = clamp(round(iscale * (x - mn)), 0, nmax).
fn qkx2_sums4(s: vec3<f32>, q: vec4<f32>, iscale: f32, mn: f32, nmax: f32, av_x: f32) -> vec3<f32> {
  let l = clamp(round(iscale * (q - mn)), vec4<f32>(0.0), vec4<f32>(nmax));
  let wl = rn4((av_x + abs(q)) * l);
  return vec3<f32>(add4(s.x, wl), add4(s.y, rn4(wl * l)), add4(s.z, rn4(wl * q)));
}

// The weighted squared error over q of codes clamp(round(iscale * (x - mn)), 0, nmax) taken as scale * l + m.
fn qkx2_err4(e: f32, q: vec4<f32>, iscale: f32, mn: f32, nmax: f32, av_x: f32, scale: f32, m: f32) -> f32 {
  let l = clamp(round(iscale * (q - mn)), vec4<f32>(0.0), vec4<f32>(nmax));
  let diff = (rn4(scale * l) + m) - q;
  return add4(e, rn4((av_x + abs(q)) * rn4(diff * diff)));
}

fn qkx2_sums(iscale: f32, mn: f32, nmax: f32, av_x: f32) -> vec3<f32> {
  var s = vec3<f32>(0.0);
  s = qkx2_sums4(s, xs.v0, iscale, mn, nmax, av_x);
  s = qkx2_sums4(s, xs.v1, iscale, mn, nmax, av_x);
  s = qkx2_sums4(s, xs.v2, iscale, mn, nmax, av_x);
  s = qkx2_sums4(s, xs.v3, iscale, mn, nmax, av_x);
  s = qkx2_sums4(s, xs.v4, iscale, mn, nmax, av_x);
  s = qkx2_sums4(s, xs.v5, iscale, mn, nmax, av_x);
  s = qkx2_sums4(s, xs.v6, iscale, mn, nmax, av_x);
  return qkx2_sums4(s, xs.v7, iscale, mn, nmax, av_x);
}

fn qkx2_err(iscale: f32, mn: f32, nmax: f32, av_x: f32, scale: f32, m: f32) -> f32 {
  var e = qkx2_err4(0.0, xs.v0, iscale, mn, nmax, av_x, scale, m);
  e = qkx2_err4(e, xs.v1, iscale, mn, nmax, av_x, scale, m);
  e = qkx2_err4(e, xs.v2, iscale, mn, nmax, av_x, scale, m);
  e = qkx2_err4(e, xs.v3, iscale, mn, nmax, av_x, scale, m);
  e = qkx2_err4(e, xs.v4, iscale, mn, nmax, av_x, scale, m);
  e = qkx2_err4(e, xs.v5, iscale, mn, nmax, av_x, scale, m);
  e = qkx2_err4(e, xs.v6, iscale, mn, nmax, av_x, scale, m);
  return qkx2_err4(e, xs.v7, iscale, mn, nmax, av_x, scale, m);
}

// Codes clamp(round(iscale * (x - mn)), lo_code, hi_code) + bias of q into lq[at .. at + 3].
fn put_codes4(at: u32, q: vec4<f32>, iscale: f32, mn: f32, lo_code: f32, hi_code: f32, bias: f32) {
  let l = vec4<u32>(clamp(round(iscale * (q - mn)), vec4<f32>(lo_code), vec4<f32>(hi_code)) + bias);
  lq[at] = l.x;
  lq[at + 1u] = l.y;
  lq[at + 2u] = l.z;
  lq[at + 3u] = l.w;
}

// make_qkx2_quants(32, nmax, xs, weights av_x + |x|, lq[lo..], rmin, rdelta, nstep, use_mad = false): unsigned codes
// with a min, the least-squares (scale, min) of nstep + 1 candidate scales; returns (scale, -min). A candidate's codes
// are recomputed where they are needed, and the best candidate's written once at the end (its scale and the min it
// was taken against).
fn make_qkx2(nmax: f32, lo: u32, rmin: f32, rdelta: f32, nstep: u32, av_x: f32) -> vec2<f32> {
  // -0 is the sums' identity (+0 would turn a first -0 term into +0)
  var st = qkx2_stats4(vec4<f32>(xs.v0.x, xs.v0.x, -0.0, -0.0), xs.v0, av_x);
  st = qkx2_stats4(st, xs.v1, av_x);
  st = qkx2_stats4(st, xs.v2, av_x);
  st = qkx2_stats4(st, xs.v3, av_x);
  st = qkx2_stats4(st, xs.v4, av_x);
  st = qkx2_stats4(st, xs.v5, av_x);
  st = qkx2_stats4(st, xs.v6, av_x);
  st = qkx2_stats4(st, xs.v7, av_x);
  var mn = st.x;
  if (mn > 0.0) { mn = 0.0; }
  let mx = st.y;
  let sum_w = st.z;
  let sum_x = st.w;
  if (mx == mn) {
    for (var i = 0u; i < 32u; i++) { lq[lo + i] = 0u; }
    return vec2<f32>(0.0, -mn);
  }
  var iscale = div_rn(nmax, mx - mn);
  var scale = div_rn(1.0, iscale);
  var best = qkx2_err(iscale, mn, nmax, av_x, scale, mn);
  var code_scale = iscale; // the best codes so far: clamp(round(code_scale * (x - code_min)), 0, nmax)
  var code_min = mn;
  for (var is = 0u; is <= nstep; is++) {
    iscale = div_rn((rmin + rn(rdelta * f32(is))) + nmax, mx - mn);
    let s = qkx2_sums(iscale, mn, nmax, av_x); // (sum_l, sum_l2, sum_xl)
    let det = rn(sum_w * s.y) - rn(s.x * s.x);
    if (det > 0.0) {
      var this_scale = div_rn(rn(sum_w * s.z) - rn(sum_x * s.x), det);
      var this_min = div_rn(rn(s.y * sum_x) - rn(s.x * s.z), det);
      if (this_min > 0.0) {
        this_min = 0.0;
        this_scale = div_rn(s.z, s.y);
      }
      let err = qkx2_err(iscale, mn, nmax, av_x, this_scale, this_min);
      if (err < best) {
        code_scale = iscale;
        code_min = mn;
        best = err;
        scale = this_scale;
        if (this_min != mn) { mn = this_min; }
      }
    }
  }
  put_codes4(lo, xs.v0, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 4u, xs.v1, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 8u, xs.v2, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 12u, xs.v3, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 16u, xs.v4, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 20u, xs.v5, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 24u, xs.v6, code_scale, code_min, 0.0, nmax, 0.0);
  put_codes4(lo + 28u, xs.v7, code_scale, code_min, 0.0, nmax, 0.0);
  return vec2<f32>(scale, -mn);
}

// Q4_K, Q5_K: 8 sub-blocks of 32, make_qkx2 each (weights avg |x| + |x|), 6-bit scales and mins, f16 d and dmin.
fn quant_q45_k(x0: u32, fifth: bool) {
  let nmax = select(15.0, 31.0, fifth);
  var max_scale = 0.0;
  var max_min = 0.0;
  for (var j = 0u; j < 8u; j++) {
    let at = x0 + 32u * j;
    xs = X32(load4(at), load4(at + 4u), load4(at + 8u), load4(at + 12u), load4(at + 16u), load4(at + 20u), load4(at + 24u), load4(at + 28u));
    var sum_x2 = add4(0.0, rn4(xs.v0 * xs.v0));
    sum_x2 = add4(sum_x2, rn4(xs.v1 * xs.v1));
    sum_x2 = add4(sum_x2, rn4(xs.v2 * xs.v2));
    sum_x2 = add4(sum_x2, rn4(xs.v3 * xs.v3));
    sum_x2 = add4(sum_x2, rn4(xs.v4 * xs.v4));
    sum_x2 = add4(sum_x2, rn4(xs.v5 * xs.v5));
    sum_x2 = add4(sum_x2, rn4(xs.v6 * xs.v6));
    sum_x2 = add4(sum_x2, rn4(xs.v7 * xs.v7));
    let av_x = sqrt(sum_x2 * 0.03125);
    var sm: vec2<f32>;
    if (fifth) { sm = make_qkx2(nmax, 32u * j, -0.5, 0.1, 15u, av_x); } else { sm = make_qkx2(nmax, 32u * j, -1.0, 0.1, 20u, av_x); }
    scales[j] = sm.x;
    mins[j] = sm.y;
    if (sm.x > max_scale) { max_scale = sm.x; }
    if (sm.y > max_min) { max_min = sm.y; }
  }
  let inv_scale = select(0.0, div_rn(63.0, max_scale), max_scale > 0.0);
  let inv_min = select(0.0, div_rn(63.0, max_min), max_min > 0.0);
  var ls: array<u32, 8>;
  var lm: array<u32, 8>;
  for (var j = 0u; j < 8u; j++) {
    ls[j] = min(63u, low_byte(inv_scale * scales[j]));
    lm[j] = min(63u, low_byte(inv_min * mins[j]));
    if (j < 4u) {
      put(4u + j, ls[j]);
      put(8u + j, lm[j]);
    } else {
      put(8u + j, (ls[j] & 15u) | ((lm[j] & 15u) << 4u));
      put(j, (ls[j] >> 4u) << 6u);
      put(4u + j, (lm[j] >> 4u) << 6u);
    }
  }
  let d0 = put_f16(0u, div_rn(max_scale, 63.0));
  let dmin0 = put_f16(2u, div_rn(max_min, 63.0));
  for (var j = 0u; j < 8u; j++) {
    let d = d0 * f32(ls[j]);
    if (d == 0.0) { continue; }
    let dm = dmin0 * f32(lm[j]);
    for (var i = 0u; i < 32u; i++) {
      lq[32u * j + i] = u32(clamp(round(div_rn(value(x0 + 32u * j + i) + dm, d)), 0.0, nmax));
    }
  }
  let qs = select(16u, 48u, fifth);
  for (var c = 0u; c < 4u; c++) {
    for (var l = 0u; l < 32u; l++) {
      var l1 = lq[64u * c + l];
      var l2 = lq[64u * c + l + 32u];
      if (fifth && l1 > 15u) {
        l1 -= 16u;
        put(16u + l, 1u << (2u * c));
      }
      if (fifth && l2 > 15u) {
        l2 -= 16u;
        put(16u + l, 2u << (2u * c));
      }
      put(qs + 32u * c + l, l1 | (l2 << 4u));
    }
  }
}

// make_qx's sums over q for codes l = clamp(round(iscale * x), -32, 31): (sum x^2 x l, sum x^2 l^2), in order.
fn qx_sums4(s: vec2<f32>, q: vec4<f32>, iscale: f32) -> vec2<f32> {
  let l = clamp(round(iscale * q), vec4<f32>(-32.0), vec4<f32>(31.0));
  let w = q * q;
  return vec2<f32>(add4(s.x, rn4(rn4(w * q) * l)), add4(s.y, rn4(rn4(w * l) * l)));
}

// The value of largest magnitude so far (m.y; m.x its magnitude), the first on a tie, over q in order.
fn qx_max4(m: vec2<f32>, q: vec4<f32>) -> vec2<f32> {
  var r = m;
  for (var c = 0u; c < 4u; c++) {
    if (abs(q[c]) > r.x) { r = vec2<f32>(abs(q[c]), q[c]); }
  }
  return r;
}

// make_qx_quants(16, 32, xs.v0..v3, lq[lo..], rmse_type 1): signed codes (stored + 32), the best of 19 candidate
// scales -(32 + 0.1 is) / max weighted by x^2; returns the scale. The best candidate's codes are written once at the end.
fn make_qx(lo: u32) -> f32 {
  let m = qx_max4(qx_max4(qx_max4(qx_max4(vec2<f32>(0.0), xs.v0), xs.v1), xs.v2), xs.v3);
  let amax = m.x;
  let mx = m.y;
  if (amax < 1e-15) {
    for (var i = 0u; i < 16u; i++) { lq[lo + i] = 0u; }
    return 0.0;
  }
  var scale = 0.0;
  var best = 0.0;
  var code_scale = 0.0; // the best codes so far: clamp(round(code_scale * x), -32, 31)
  for (var is = -10; is <= 9; is++) {
    if (is == 0) { continue; }
    var iscale = div_rn(-32.0, mx);
    if (is != -10) { iscale = div_rn(-(32.0 + rn(0.1 * f32(is))), mx); }
    let s = qx_sums4(qx_sums4(qx_sums4(qx_sums4(vec2<f32>(0.0), xs.v0, iscale), xs.v1, iscale), xs.v2, iscale), xs.v3, iscale);
    let sum_lx = s.x;
    let sum_l2 = s.y;
    if (is == -10 || (sum_l2 > 0.0 && sum_lx * sum_lx > best * sum_l2)) {
      code_scale = iscale;
      scale = select(div_rn(sum_lx, sum_l2), 0.0, is == -10 && sum_l2 == 0.0);
      best = scale * sum_lx;
    }
  }
  put_codes4(lo, xs.v0, code_scale, 0.0, -32.0, 31.0, 32.0);
  put_codes4(lo + 4u, xs.v1, code_scale, 0.0, -32.0, 31.0, 32.0);
  put_codes4(lo + 8u, xs.v2, code_scale, 0.0, -32.0, 31.0, 32.0);
  put_codes4(lo + 12u, xs.v3, code_scale, 0.0, -32.0, 31.0, 32.0);
  return scale;
}

// Q6_K: 16 sub-blocks of 16, make_qx each, int8 scales against one f16 d = max_scale / -128.
fn quant_q6_k(x0: u32) {
  var max_scale = 0.0;
  var max_abs = 0.0;
  for (var ib = 0u; ib < 16u; ib++) {
    let at = x0 + 16u * ib;
    xs.v0 = load4(at);
    xs.v1 = load4(at + 4u);
    xs.v2 = load4(at + 8u);
    xs.v3 = load4(at + 12u);
    scales[ib] = make_qx(16u * ib);
    if (abs(scales[ib]) > max_abs) {
      max_abs = abs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  if (max_abs < 1e-15) { return; } // an all-zero block
  let iscale = div_rn(-128.0, max_scale);
  let d0 = put_f16(208u, div_rn(1.0, iscale));
  for (var ib = 0u; ib < 16u; ib++) {
    let q = i32(min(127.0, round(iscale * scales[ib])));
    put(192u + ib, bitcast<u32>(q));
    let d = d0 * f32(q);
    if (d == 0.0) { continue; }
    for (var i = 0u; i < 16u; i++) {
      lq[16u * ib + i] = u32(i32(clamp(round(div_rn(value(x0 + 16u * ib + i), d)), -32.0, 31.0)) + 32);
    }
  }
  for (var h = 0u; h < 2u; h++) {
    for (var l = 0u; l < 32u; l++) {
      let a = lq[128u * h + l];
      let b = lq[128u * h + l + 32u];
      let c = lq[128u * h + l + 64u];
      let e = lq[128u * h + l + 96u];
      put(64u * h + l, (a & 15u) | ((c & 15u) << 4u));
      put(64u * h + l + 32u, (b & 15u) | ((e & 15u) << 4u));
      put(128u + 32u * h + l, (a >> 4u) | ((b >> 4u) << 2u) | ((c >> 4u) << 4u) | ((e >> 4u) << 6u));
    }
  }
}

/**
 * Experiment: which way of writing the q8 x Q8_0 GEMV suits this page's adapter. Each variant reads the same
 * weights (row-major int8 codes as vec4<u32>, an f32 scale per 32) and Q8_0 x, and must give the CPU's sums.
 * Rounds alternate the variants (a slow spell falls on all); each keeps its least time. Query: K, N, iters, rounds,
 * wg (workgroup size), only (variant names, comma-separated).
 *   npx tsx bench/browser.ts gemv_shapes 'K=576&N=1536&rounds=6&only=r4 dot4I8Packed,r4 d4 x words loop'
 */
import { reportPage, showInOut } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const K = Number(q.get('K') ?? 576);
const N = Number(q.get('N') ?? 1536);
const ITERS = Number(q.get('iters') ?? 20);
const NB = K / 32;
const WG = Number(q.get('wg') ?? 64);
const ONLY = q.get('only')?.split(',');

const XWORDS = /* wgsl */ `
struct P { K: u32 }
const p = P(${K}u);
fn xword(t: u32, k: u32) -> u32 { return xq[(t * (p.K / 4u) + k) / 4u][k % 4u]; }
fn xquad(t: u32, k: u32) -> vec4<u32> { return vec4<u32>(xword(t, k), xword(t, k + 1u), xword(t, k + 2u), xword(t, k + 3u)); }
`;
const HEAD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> wd: array<f32>;
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> xd: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
const NB: u32 = ${NB}u;
const N: u32 = ${N}u;
fn d4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}
fn u4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot(unpack4xI8(a.x), unpack4xI8(b.x)) + dot(unpack4xI8(a.y), unpack4xI8(b.y)) + dot(unpack4xI8(a.z), unpack4xI8(b.z)) + dot(unpack4xI8(a.w), unpack4xI8(b.w));
}
fn x4(a: vec4<u32>, b: vec4<u32>) -> i32 { // loads only: not a product (timing)
  let c = a ^ b;
  return bitcast<i32>(c.x ^ c.y ^ c.z ^ c.w);
}
fn sx(v: u32) -> vec4<f32> { return vec4<f32>((vec4<i32>(bitcast<i32>(v)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u)); }
fn f4(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return i32((dot(sx(a.x), sx(b.x)) + dot(sx(a.y), sx(b.y))) + (dot(sx(a.z), sx(b.z)) + dot(sx(a.w), sx(b.w))));
}
`;

// One row per lane.
const R1 = (dot: string) => HEAD + /* wgsl */ `
@compute @workgroup_size(WGS)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r = min(g.x, N - 1u);
  var acc = 0.0;
  for (var b = 0u; b < NB; b++) {
    let wi = (r * NB + b) * 2u;
    let s = ${dot}(w[wi], xq[2u * b]) + ${dot}(w[wi + 1u], xq[2u * b + 1u]);
    acc += f32(s) * (wd[r * NB + b] * xd[b]);
  }
  if (g.x < N) { y[g.x] += acc; }
}`;

// Four rows per lane, written out (no arrays: SwiftShader does not unroll loops, so an array indexed
// by a loop counter stays in memory and every access is a per-lane gather). `sums` sets block b's 4 sums s (vec4<f32>)
// from the rows' vec4 indices wi of its codes; `lib` adds functions.
const rows4 = (sums: string, lib = '') => HEAD + lib + /* wgsl */ `
@compute @workgroup_size(WGS)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let r0 = g.x * 4u;
  let r = min(vec4<u32>(r0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(N - 1u));
  var acc = vec4<f32>();
  for (var b = 0u; b < NB; b++) {
    let wi = (r * NB + b) * 2u;
    ${sums}
    let gi = r * NB + b;
    acc += s * vec4<f32>(wd[gi.x], wd[gi.y], wd[gi.z], wd[gi.w]) * xd[b];
  }
  for (var i = 0u; i < 4u; i++) { if (r0 + i < N) { y[r0 + i] += acc[i]; } }
}`;

// The products by `dot` (d4, u4, f4 or x4 in HEAD), x's two pieces loaded once for the 4 rows.
const R4 = (dot: string) => rows4(/* wgsl */ `let xa = xq[2u * b];
    let xb = xq[2u * b + 1u];
    let s = vec4<f32>(vec4<i32>(
      ${dot}(w[wi.x], xa) + ${dot}(w[wi.x + 1u], xb),
      ${dot}(w[wi.y], xa) + ${dot}(w[wi.y + 1u], xb),
      ${dot}(w[wi.z], xa) + ${dot}(w[wi.z + 1u], xb),
      ${dot}(w[wi.w], xa) + ${dot}(w[wi.w + 1u], xb)));`);

// Codes widened to f32 by `widen` (a WGSL function of a word, defined in `lib`), x's once per piece for the 4 rows;
// the sums then times `scale`.
const rows4Wide = (widen: string, lib: string, scale = '') => rows4(/* wgsl */ `var s = vec4<f32>();
    for (var v = 0u; v < 2u; v++) {
      let xv = xq[2u * b + v];
      let x0 = ${widen}(xv.x);
      let x1 = ${widen}(xv.y);
      let x2 = ${widen}(xv.z);
      let x3 = ${widen}(xv.w);
      s += vec4<f32>(wdot(w[wi.x + v], x0, x1, x2, x3), wdot(w[wi.y + v], x0, x1, x2, x3), wdot(w[wi.z + v], x0, x1, x2, x3), wdot(w[wi.w + v], x0, x1, x2, x3));
    }
    ${scale}`, lib + /* wgsl */ `
fn wdot(w: vec4<u32>, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> f32 {
  return (dot(${widen}(w.x), x0) + dot(${widen}(w.y), x1)) + (dot(${widen}(w.z), x2) + dot(${widen}(w.w), x3));
}`);

// By shifts (sx in HEAD).
const R4X = rows4Wide('sx', '');
// By shifts, each component's written with scalar amounts (is it the vector of amounts that costs?).
const R4X1 = rows4Wide('sx1', `fn sx1(v: u32) -> vec4<f32> {
  let i = bitcast<i32>(v);
  return vec4<f32>(f32((i << 24u) >> 24u), f32((i << 16u) >> 24u), f32((i << 8u) >> 24u), f32(i >> 24u));
}`);
// mw (below) in the same loop, for a like-for-like comparison with R4X.
const R4MW = rows4Wide('mw1', `fn mw1(w: u32) -> vec4<f32> {
  const M = 0xFF000000u;
  return vec4<f32>(vec4<i32>(bitcast<i32>(w * 16777216u), bitcast<i32>((w * 65536u) & M), bitcast<i32>((w * 256u) & M), bitcast<i32>(w & M)));
}`, 's *= 3.552713678800501e-15;');
// By unpack4x8snorm, whose shifts SwiftShader compiles with constant amounts (a WGSL shift's amount is a vector
// there, which SSE has no instruction for). Codes come as c/127.
const R4S = rows4Wide('sn', 'fn sn(w: u32) -> vec4<f32> { return unpack4x8snorm(w); }', 's *= 16129.0;');
// As R4S with the codes made exact integers again (round(c/127 * 127)), the products then exact in f32.
const R4SR = rows4Wide('ic', 'fn ic(w: u32) -> vec4<f32> { return round(unpack4x8snorm(w) * 127.0); }');

// Codes widened to f32 without shifts (SwiftShader shifts lane by lane): byte i moved to the top byte by a multiply
// by 2^(24 - 8i) (a vector multiply there), masked, taken as i32: code * 2^24, exact in f32. x's words widened the
// same way once for the 4 rows; each piece's products are then exact integers * 2^48.
const MW = /* wgsl */ `
fn mw(w: u32) -> vec4<f32> {
  const M = 0xFF000000u;
  return vec4<f32>(vec4<i32>(bitcast<i32>(w * 16777216u), bitcast<i32>((w * 65536u) & M), bitcast<i32>((w * 256u) & M), bitcast<i32>(w & M)));
}
fn mdot(w: vec4<u32>, x: mat4x4<f32>) -> f32 {
  return (dot(mw(w.x), x[0]) + dot(mw(w.y), x[1])) + (dot(mw(w.z), x[2]) + dot(mw(w.w), x[3]));
}
fn mx(v: vec4<u32>) -> mat4x4<f32> { return mat4x4<f32>(mw(v.x), mw(v.y), mw(v.z), mw(v.w)); }
`;
const R4M = rows4(/* wgsl */ `let xa = mx(xq[2u * b]);
    let xb = mx(xq[2u * b + 1u]);
    let s = vec4<f32>(
      mdot(w[wi.x], xa) + mdot(w[wi.x + 1u], xb),
      mdot(w[wi.y], xa) + mdot(w[wi.y + 1u], xb),
      mdot(w[wi.z], xa) + mdot(w[wi.z + 1u], xb),
      mdot(w[wi.w], xa) + mdot(w[wi.w + 1u], xb)) * 3.552713678800501e-15;`, MW);

// R4M with x as the engine reads it (xquad: 4 word loads a piece, not one vec4).
const R4MW4 = rows4(/* wgsl */ `let xa = mx(xquad(0u, 8u * b));
    let xb = mx(xquad(0u, 8u * b + 4u));
    let s = vec4<f32>(
      mdot(w[wi.x], xa) + mdot(w[wi.x + 1u], xb),
      mdot(w[wi.y], xa) + mdot(w[wi.y + 1u], xb),
      mdot(w[wi.z], xa) + mdot(w[wi.z + 1u], xb),
      mdot(w[wi.w], xa) + mdot(w[wi.w + 1u], xb)) * 3.552713678800501e-15;`, MW + XWORDS);

// R4M with the engine's scale-group cursor: the 4 rows' scales loaded under a branch on a counter carried in the loop
// (one block a group here, as in Q8_0), not unconditionally each block.
const R4MC = R4M.replace('var acc = vec4<f32>();', `var acc = vec4<f32>();
  var left = 1u;
  var grp = 0u;
  var sc = vec4<f32>();`).replace('acc += s * vec4<f32>(wd[gi.x], wd[gi.y], wd[gi.z], wd[gi.w]) * xd[b];', `if (left == 1u) { sc = vec4<f32>(wd[r.x * NB + grp], wd[r.y * NB + grp], wd[r.z * NB + grp], wd[r.w * NB + grp]); }
    acc += s * sc * xd[b];
    if (left == 1u) { grp += 1u; left = 1u; } else { left -= 1u; }`);

// R4's dot4I8Packed with the x sums the engine's rows_flat keeps for every format (used by formats with a minimum),
// here folded in with a factor 0 so that nothing can drop them.
const R4XS = rows4(/* wgsl */ `let xa = xq[2u * b];
    let xb = xq[2u * b + 1u];
    let xs = d4(xa, vec4<u32>(0x01010101u)) + d4(xb, vec4<u32>(0x01010101u));
    let s = vec4<f32>(vec4<i32>(
      d4(w[wi.x], xa) + d4(w[wi.x + 1u], xb),
      d4(w[wi.y], xa) + d4(w[wi.y + 1u], xb),
      d4(w[wi.z], xa) + d4(w[wi.z + 1u], xb),
      d4(w[wi.w], xa) + d4(w[wi.w + 1u], xb))) + f32(xs) * xd[NB];`);

// R4 with x as the engine's matmul_in_q8.wgsl reads it: 4 words a piece, each its own load at t * (K / 4) + k.
const R4W = rows4(/* wgsl */ `let xa = xquad(0u, 8u * b);
    let xb = xquad(0u, 8u * b + 4u);
    let s = vec4<f32>(vec4<i32>(
      d4(w[wi.x], xa) + d4(w[wi.x + 1u], xb),
      d4(w[wi.y], xa) + d4(w[wi.y + 1u], xb),
      d4(w[wi.z], xa) + d4(w[wi.z + 1u], xb),
      d4(w[wi.w], xa) + d4(w[wi.w + 1u], xb)));`, XWORDS);

// R4W with the engine's loop over a block's pieces.
const R4L = rows4(/* wgsl */ `var si = vec4<i32>();
    for (var v = 0u; v < 2u; v++) {
      let xv = xquad(0u, 8u * b + 4u * v);
      si += vec4<i32>(d4(w[wi.x + v], xv), d4(w[wi.y + v], xv), d4(w[wi.z + v], xv), d4(w[wi.w + v], xv));
    }
    let s = vec4<f32>(si);`, XWORDS);

// R4W with the pieces in constant-guarded ifs (how a loop over PIECES could be written out in WGSL), 4 of them
// dead: whether dead constant branches cost anything.
const R4I = rows4(/* wgsl */ `var si = vec4<i32>();
    ${[0, 1, 2, 3, 4, 5].map((v) => `if (PC > ${v}u) {
      let xv = xquad(0u, 8u * b + 4u * ${v}u);
      si += vec4<i32>(d4(w[wi.x + ${v}u], xv), d4(w[wi.y + ${v}u], xv), d4(w[wi.z + ${v}u], xv), d4(w[wi.w + ${v}u], xv));
    }`).join('\n    ')}
    let s = vec4<f32>(si);`, XWORDS + 'const PC: u32 = 2u;');

// R4 with the engine's row-tile index (tiled_index: a division and a remainder by the override ROW_TILE, 1 here)
// and its blocks per row divided from K (a runtime value) for every block.
const R4T = (index: string) => R4('d4').replace('let wi = (r * NB + b) * 2u;', `let wi = ${index} * 2u;`).replace('@compute', `
override RT: u32 = 1u;
fn tiled(r: vec4<u32>, b: u32, per: u32) -> vec4<u32> { return ((r / RT) * per + b) * RT + r % RT; }
fn k_words() -> u32 { return arrayLength(&xq) * 16u; }
@compute`);

// R4M with x shared by the subgroup (SwiftShader's 4 lanes): lane l loads word l of a piece (a gather of 4 different
// words, not 4 of one word per lane) and subgroupBroadcast hands each word to every lane.
const R4MS = 'enable subgroups;\n' + rows4(/* wgsl */ `let xa = mx(xshared(2u * b, lane));
    let xb = mx(xshared(2u * b + 1u, lane));
    let s = vec4<f32>(
      mdot(w[wi.x], xa) + mdot(w[wi.x + 1u], xb),
      mdot(w[wi.y], xa) + mdot(w[wi.y + 1u], xb),
      mdot(w[wi.z], xa) + mdot(w[wi.z + 1u], xb),
      mdot(w[wi.w], xa) + mdot(w[wi.w + 1u], xb)) * 3.552713678800501e-15;`, MW + /* wgsl */ `
@group(0) @binding(5) var<storage, read> xw: array<u32>; // x's words (the buffer of xq)
fn xshared(piece: u32, lane: u32) -> vec4<u32> {
  let mine = xw[4u * piece + (lane & 3u)];
  return vec4<u32>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u));
}`).replace('fn main(@builtin(global_invocation_id) g: vec3u)', 'fn main(@builtin(global_invocation_id) g: vec3u, @builtin(subgroup_invocation_id) lane: u32)');

// R4MS with the codes' bytes taken apart by masks alone (2026-12-07): bytes 0-2 flipped to offset binary by one xor
// a word (u = code + 128, masked in place: u * 2^(8i)), byte 3 masked as it is (the code * 2^24, signed); x's codes as
// floats scaled by 2^(-8i) at their place, so each product is u * x exactly, and the block's 128 * (x0 + x1 + x2) sums,
// found once for the 4 rows, taken off. No integer multiply.
const XA = /* wgsl */ `
fn ma(w: u32) -> vec4<f32> {
  let o = w ^ 0x00808080u;
  return vec4<f32>(vec4<i32>(bitcast<i32>(o & 0xFFu), bitcast<i32>(o & 0xFF00u), bitcast<i32>(o & 0xFF0000u), bitcast<i32>(w & 0xFF000000u)));
}
fn adot(w: vec4<u32>, x: mat4x4<f32>) -> f32 {
  return (dot(ma(w.x), x[0]) + dot(ma(w.y), x[1])) + (dot(ma(w.z), x[2]) + dot(ma(w.w), x[3]));
}
const XPLACE = vec4<f32>(5.960464477539063e-8, 2.3283064365386963e-10, 9.094947017729282e-13, 3.552713678800501e-15); // 2^-24 * 2^(-8i), x's mw codes * 2^24
fn ax(v: vec4<u32>) -> mat4x4<f32> { return mat4x4<f32>(mw(v.x) * XPLACE, mw(v.y) * XPLACE, mw(v.z) * XPLACE, mw(v.w) * XPLACE); }
fn off(x: mat4x4<f32>) -> f32 { // 128 * the sum of x's codes at bytes 0-2 (the offsets' part of every row's sum)
  let s = x[0] + x[1] + x[2] + x[3];
  return 128.0 * (s.x + s.y * 256.0 + s.z * 65536.0);
}
`;
const R4XA = 'enable subgroups;\n' + rows4(/* wgsl */ `let xa = ax(xshared(2u * b, lane));
    let xb = ax(xshared(2u * b + 1u, lane));
    let o = off(xa) + off(xb);
    let s = vec4<f32>(
      adot(w[wi.x], xa) + adot(w[wi.x + 1u], xb),
      adot(w[wi.y], xa) + adot(w[wi.y + 1u], xb),
      adot(w[wi.z], xa) + adot(w[wi.z + 1u], xb),
      adot(w[wi.w], xa) + adot(w[wi.w + 1u], xb)) - vec4<f32>(o);`, MW + XA + /* wgsl */ `
@group(0) @binding(5) var<storage, read> xw: array<u32>;
fn xshared(piece: u32, lane: u32) -> vec4<u32> {
  let mine = xw[4u * piece + (lane & 3u)];
  return vec4<u32>(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u));
}`).replace('fn main(@builtin(global_invocation_id) g: vec3u)', 'fn main(@builtin(global_invocation_id) g: vec3u, @builtin(subgroup_invocation_id) lane: u32)');

// Controls for R4MS: R4M with the subgroups extension and the lane id only; and with one subgroupBroadcast of its sums.
const withLane = (src: string) => 'enable subgroups;\n' + src.replace('fn main(@builtin(global_invocation_id) g: vec3u)', 'fn main(@builtin(global_invocation_id) g: vec3u, @builtin(subgroup_invocation_id) lane: u32)');
const R4ML = withLane(R4M);
const R4MB = withLane(R4M).replace('acc += s *', 'acc += select(s, subgroupBroadcast(s, 0u), lane == 0u) *');

// R4M with the codes from an rgba32uint texture (a texel fetch is one 16-byte load per lane in SwiftShader, a buffer's
// vec4 four gathers lane by lane): TEX_ROWS weight rows to a texture row, so a row's run never crosses one and its
// coordinates are found once, before the loop.
const TEX_ROWS = Math.max(1, Math.floor(8192 / (2 * NB)));
const R4MT = rows4(/* wgsl */ `let xa = mx(xq[2u * b]);
    let xb = mx(xq[2u * b + 1u]);
    let cx = tcol + 2u * b;
    let s = vec4<f32>(
      mdot(textureLoad(wt, vec2u(cx.x, trow.x), 0), xa) + mdot(textureLoad(wt, vec2u(cx.x + 1u, trow.x), 0), xb),
      mdot(textureLoad(wt, vec2u(cx.y, trow.y), 0), xa) + mdot(textureLoad(wt, vec2u(cx.y + 1u, trow.y), 0), xb),
      mdot(textureLoad(wt, vec2u(cx.z, trow.z), 0), xa) + mdot(textureLoad(wt, vec2u(cx.z + 1u, trow.z), 0), xb),
      mdot(textureLoad(wt, vec2u(cx.w, trow.w), 0), xa) + mdot(textureLoad(wt, vec2u(cx.w + 1u, trow.w), 0), xb)) * 3.552713678800501e-15;`, MW + /* wgsl */ `
@group(0) @binding(6) var wt: texture_2d<u32>;`).replace('var acc = vec4<f32>();', `var acc = vec4<f32>();
  let trow = r / ${TEX_ROWS}u;
  let tcol = (r - trow * ${TEX_ROWS}u) * ${2 * NB}u;`);

// R4M and R4MT with the codes xor-folded in place of their products: the two loads alone, the loop otherwise the same.
const XT = 'fn xt(a: vec4<u32>, x: mat4x4<f32>) -> f32 { return f32(a.x ^ a.y ^ a.z ^ a.w) * x[0].x; }\n';
const xorOf = (src: string) => src.replaceAll(/(?<!fn )mdot\(/g, 'xt(').replace('@compute', XT + '@compute'); // (calls, not mdot's own definition)

const VARIANTS: [string, string, number, number?][] = [
  ['r4 mul-and texture', R4MT, 4], ['r4 texture xor', xorOf(R4MT), 4], ['r4 mul-and xor', xorOf(R4M), 4],
  ['r4 f32 mul-and', R4M, 4], ['r4 mul-and x shared', R4MS, 4], ['r4 xor-and x shared', R4XA, 4], ['r4 mul-and lane id', R4ML, 4], ['r4 mul-and broadcast own', R4MB, 4], ['r4 mul-and x words', R4MW4, 4], ['r4 mul-and cursor', R4MC, 4], ['r4 wide scalar shifts', R4X1, 4], ['r4 wide mul-and loop', R4MW, 4],
  ['r4 d4 tiled', R4T('tiled(r, b, NB)'), 4], ['r4 d4 runtime nb', R4T('(r * (k_words() / 32u) + b)'), 4],
  ['r4 d4 x words ifs', R4I, 4],
  ['r4 d4 wg16', R4('d4'), 4, 16], ['r4 d4 x words', R4W, 4], ['r4 d4 x words loop', R4L, 4],
  ['r4 dot4I8Packed xsums', R4XS, 4],
  ['r4 snorm', R4S, 4], ['r4 snorm rounded', R4SR, 4],
  ['r1 dot4I8Packed', R1('d4'), 1], ['r1 f32', R1('f4'), 1],
  ['r4 dot4I8Packed', R4('d4'), 4], ['r4 f32', R4('f4'), 4], ['r4 unpack4xI8', R4('u4'), 4], ['r4 f32 x widened once', R4X, 4], ['r4 xor (no dot)', R4('x4'), 4],
];

// Whether a variant's code reads binding i: 'auto' layouts drop the others, and a bind group naming them is invalid.
const uses = (code: string, i: number) => new RegExp(`@binding\\(${i}\\) var<[^>]*> \\w+`).test(code) && new RegExp(`\\b${['w', 'wd', 'xq', 'xd', 'y', 'xw'][i]}\\[`).test(code.replace(/@group.*\n/g, ''));

async function main(): Promise<{ text: string }> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice({ requiredFeatures: adapter.features.has('subgroups') ? ['subgroups' as GPUFeatureName] : [] });
  let seed = 1;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 0);
  const codes = new Int8Array(N * K).map(() => (rnd() % 255) - 127);
  const xc = new Int8Array(K).map(() => (rnd() % 255) - 127);
  const UNIT = q.has('unit'); // scales 1: every variant's sums must be exact integers
  const wd = new Float32Array(N * NB).map(() => (UNIT ? 1 : (rnd() % 1000) / 1e5));
  const xd = new Float32Array(NB + 1).map(() => (UNIT ? 1 : (rnd() % 1000) / 1e3));
  xd[NB] = 0; // the factor R4XS adds its x sums with
  const expect = new Float32Array(N);
  const size = new Float32Array(N); // the sum of the terms' magnitudes: what f32 rounding scales with
  for (let r = 0; r < N; r++) {
    let acc = 0;
    for (let b = 0; b < NB; b++) {
      let s = 0;
      for (let k = 0; k < 32; k++) s += codes[r * K + b * 32 + k] * xc[b * 32 + k];
      acc += s * (wd[r * NB + b] * xd[b]);
      size[r] += Math.abs(s * (wd[r * NB + b] * xd[b]));
    }
    expect[r] = acc;
  }
  const buf = (data: ArrayBufferView, usage = GPUBufferUsage.STORAGE) => {
    const b = device.createBuffer({ size: data.byteLength, usage: usage | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  };
  const bufs = [buf(codes), buf(wd), buf(xc), buf(xd), device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST })];
  bufs.push(bufs[2]); // binding 5: x's words, for the variants that declare it
  // Binding 6: the codes as an rgba32uint texture, TEX_ROWS rows of 2 * NB texels to a texture row.
  const texW = TEX_ROWS * 2 * NB;
  const texH = Math.ceil(N / TEX_ROWS);
  const tex = device.createTexture({ size: [texW, texH], format: 'rgba32uint', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
  const texData = new Uint8Array(texW * texH * 16);
  texData.set(new Uint8Array(codes.buffer));
  device.queue.writeTexture({ texture: tex }, texData, { bytesPerRow: texW * 16 }, [texW, texH]);
  const read = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const lines = [`adapter ${adapter.info.vendor} ${adapter.info.architecture}, K=${K} N=${N}, ${(N * K * 1.125 / 1e6).toFixed(2)} MB`];
  const ROUNDS = Number(q.get('rounds') ?? 3);
  const runs: { name: string; best: number; run: (n: number) => Promise<{ ms: number; y: Float32Array }>; y: Float32Array }[] = [];
  for (const [name, source, rows, wg = WG] of VARIANTS.filter(([n]) => !ONLY || ONLY.some((o) => n === o))) {
    const code = source.replace('WGS', String(wg));
    // A variant that does not compile or bind must fail here: an invalid pipeline's or bind group's submits fail, and
    // the read buffer would still hold the previous variant's (right) sums.
    device.pushErrorScope('validation');
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } });
    const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [
      ...bufs.map((buffer, binding) => ({ binding, resource: { buffer } as GPUBindingResource })).filter((e) => uses(code, e.binding)),
      ...(code.includes('var wt:') ? [{ binding: 6, resource: tex.createView() }] : []),
    ] });
    const invalid = await device.popErrorScope();
    if (invalid) throw new Error(`${name}: ${invalid.message}`);
    const run = async (n: number) => {
      device.queue.writeBuffer(bufs[4], 0, new Float32Array(N));
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bg);
      for (let i = 0; i < n; i++) pass.dispatchWorkgroups(Math.ceil(N / rows / wg));
      pass.end();
      enc.copyBufferToBuffer(bufs[4], 0, read, 0, N * 4);
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const ms = performance.now() - t0;
      const y = new Float32Array(read.getMappedRange().slice(0));
      read.unmap();
      return { ms, y };
    };
    const { y } = await run(1);
    let worst = 0;
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(y[i] - expect[i]) / (1e-6 + 1e-5 * size[i]));
    if (!(worst <= 1) && !name.includes('xor')) throw new Error(`${name}: wrong (worst error ratio ${worst})`);
    lines.push(`${name}: worst error ${worst.toFixed(3)} of the tolerance`);
    runs.push({ name, best: Infinity, run, y });
  }
  // Rounds alternate the variants, so a slow spell of this machine falls on all of them; the least time of each.
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of runs) {
      const t = await v.run(ITERS);
      if (!v.name.includes('xor') && t.y.some((x, i) => Math.abs(x - ITERS * v.y[i]) > 1e-3 * ITERS * Math.abs(v.y[i]) + 1e-3)) throw new Error(`${v.name}: ${ITERS} runs did not add up`);
      v.best = Math.min(v.best, t.ms / ITERS);
    }
  }
  for (const v of runs) lines.push(`${v.name.padEnd(24)} ${(v.best * 1e3).toFixed(0).padStart(7)} us  ${(N * K * 1.125 / v.best / 1e6).toFixed(2)} GB/s`);
  document.getElementById('out')!.textContent = lines.join('\n');
  return { text: lines.join('\n') };
}

reportPage(main(), showInOut); // main shows its lines as they come

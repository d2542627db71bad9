// bench/gemv_lab.ts's GEMV layouts for GPUs, Q8_0 weights and x (llama.cpp's numerics: per block an exact integer
// sum, times d_w * d_x, summed in f32): which access pattern a discrete GPU's decode wants, measured apart from the
// engine's skeleton. Weights row-major (N, K/16) vec4<u32> codes, f32 block scales (N, K/32).
// A warp (subgroup of SG lanes) takes R rows at a time, ITERS times; U vec4 loads a lane per step.
//   PAIR false: a lane per 32-block (2 vec4s), neighbouring lanes neighbouring blocks (the engine's split GEMV).
//   PAIR true: 2 lanes per block, a vec4 each, so a warp's load is 512 contiguous bytes; the halves' integer sums
//     are joined by a shuffle (exact).
//   XSRC 0: x's Q8_0 codes from a buffer (quantized once, by its producer); 1: copied to workgroup memory first;
//     2: RMSNorm and Q8_0 of f32 x in a prologue per workgroup, a lane a block (the engine's matmul_in_q8_local
//     before ce83df8, from its library code; `--engine split-local` runs today's);
//     3: only its RMSNorm sums (codes copied); 4: only its quantization (no norm). Results are wrong in 3 and 4.
//   MODE 1: only read the weights (XOR), the ceiling for this pattern.
enable subgroups;

override WG: u32 = 256;
override R: u32 = 2;
override U: u32 = 1;
override ITERS: u32 = 1;
override PAIR: bool = true;
override XSRC: u32 = 0;
override MODE: u32 = 0;
override SG: u32 = 32u; // the subgroup size (the adapter's)

struct P {
  K: u32,
  N: u32,
  eps: f32,
  pad: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> d: array<f32>;
@group(0) @binding(3) var<storage, read> xq: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> xd: array<f32>;
@group(0) @binding(5) var<storage, read> xf: array<f32>;
@group(0) @binding(6) var<storage, read> nw: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

var<workgroup> xl: array<vec4<u32>, 512>; // K <= 8192
var<workgroup> xdl: array<f32, 256>;

fn rms_x(i: u32) -> f32 {
  return xf[i];
}
fn rms_w(k: u32) -> f32 {
  return nw[k];
}

fn x_vec(j: u32) -> vec4<u32> {
  if (XSRC == 0u) { return xq[j]; }
  return xl[j];
}
fn x_d(b: u32) -> f32 {
  if (XSRC == 0u) { return xd[b]; }
  return xdl[b];
}

fn prologue(lid: u32) {
  if (XSRC == 1u) {
    for (var j = lid; j < p.K / 16u; j += WG) { xl[j] = xq[j]; }
    for (var b = lid; b < p.K / 32u; b += WG) { xdl[b] = xd[b]; }
  }
  if (XSRC == 3u) { // the norm's sums alone (x's codes copied)
    let scale = rms_scale(0u, p.K, p.eps, lid, WG);
    for (var j = lid; j < p.K / 16u; j += WG) { xl[j] = xq[j] | vec4<u32>(u32(scale == 0.0)); }
    for (var b = lid; b < p.K / 32u; b += WG) { xdl[b] = xd[b]; }
  }
  if (XSRC == 4u) { // the quantization alone (no norm)
    for (var b = lid; b < p.K / 32u; b += WG) {
      var v: array<vec4<f32>, 8>;
      for (var j = 0u; j < 8u; j++) {
        let i = 32u * b + 4u * j;
        v[j] = vec4<f32>(xf[i], xf[i + 1u], xf[i + 2u], xf[i + 3u]);
      }
      let qb = quantize_q8_block(v);
      xl[2u * b] = qb.q0;
      xl[2u * b + 1u] = qb.q1;
      xdl[b] = qb.d;
    }
  }
  if (XSRC == 2u) {
    let scale = rms_scale(0u, p.K, p.eps, lid, WG);
    for (var b = lid; b < p.K / 32u; b += WG) {
      let qb = quantize_q8_block(rms_block(0u, 32u * b, scale));
      xl[2u * b] = qb.q0;
      xl[2u * b + 1u] = qb.q1;
      xdl[b] = qb.d;
    }
  }
  workgroupBarrier();
}

fn dot16(a: vec4<u32>, b: vec4<u32>) -> i32 {
  return dot4I8Packed(a.x, b.x) + dot4I8Packed(a.y, b.y) + dot4I8Packed(a.z, b.z) + dot4I8Packed(a.w, b.w);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32) {
  if (XSRC != 0u) { prologue(lid); }
  let warp = lid / SG;
  let nv = p.K / 16u;
  let nb = p.K / 32u;
  for (var it = 0u; it < ITERS; it++) {
    let r0 = ((wid.x * ITERS + it) * (WG / SG) + warp) * R;
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    var bits = vec4<u32>();
    if (PAIR) {
      for (var base = 0u; base < nv; base += SG * U) {
        let j0 = base + lane;
        var xv: array<vec4<u32>, 4>;
        var xs: array<f32, 4>;
        for (var u = 0u; u < U; u++) {
          let j = min(j0 + u * SG, nv - 1u);
          xv[u] = x_vec(j);
          xs[u] = x_d(j / 2u);
        }
        for (var r = 0u; r < R; r++) {
          let row = min(r0 + r, p.N - 1u);
          var wv: array<vec4<u32>, 4>;
          for (var u = 0u; u < U; u++) { wv[u] = w[row * nv + min(j0 + u * SG, nv - 1u)]; }
          for (var u = 0u; u < U; u++) {
            let j = j0 + u * SG;
            if (MODE == 1u) {
              bits ^= wv[u];
            } else {
              var s = dot16(wv[u], xv[u]);
              s += subgroupShuffleXor(s, 1u);
              let dw = d[row * nb + min(j, nv - 1u) / 2u];
              if (j < nv && (lane & 1u) == 0u) { acc[r] += f32(s) * (dw * xs[u]); }
            }
          }
        }
      }
    } else {
      for (var base = 0u; base < nb; base += SG * U) {
        let b0 = base + lane;
        var xa: array<vec4<u32>, 4>;
        var xb: array<vec4<u32>, 4>;
        var xs: array<f32, 4>;
        for (var u = 0u; u < U; u++) {
          let b = min(b0 + u * SG, nb - 1u);
          xa[u] = x_vec(2u * b);
          xb[u] = x_vec(2u * b + 1u);
          xs[u] = x_d(b);
        }
        for (var r = 0u; r < R; r++) {
          let row = min(r0 + r, p.N - 1u);
          for (var u = 0u; u < U; u++) {
            let b = b0 + u * SG;
            let bc = min(b, nb - 1u);
            let wa = w[row * nv + 2u * bc];
            let wb = w[row * nv + 2u * bc + 1u];
            if (MODE == 1u) {
              bits ^= wa ^ wb;
            } else {
              let s = dot16(wa, xa[u]) + dot16(wb, xb[u]);
              if (b < nb) { acc[r] += f32(s) * (d[row * nb + bc] * xs[u]); }
            }
          }
        }
      }
    }
    for (var r = 0u; r < R; r++) {
      var v = subgroupAdd(acc[r]);
      if (MODE == 1u) { v = f32(subgroupXor(bits.x ^ bits.y ^ bits.z ^ bits.w) & 1u); }
      if (lane == 0u && r0 + r < p.N) { y[r0 + r] = v; }
    }
  }
}

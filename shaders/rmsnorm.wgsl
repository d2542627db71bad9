// RMSNorm: y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w, one workgroup per token row; with add = 1,
// y[t] += that instead (Gemma's post-attention/FFN norms feed the residual stream directly).
// main_q8 also writes y in Q8_0 (shaders/q8_block.wgsl, put in front at load) when y feeds a q8/q4
// matmul, which then skips its own quantize dispatch (the prefill; decode fuses the norm into the matmul).
// The scale comes from rms_scale (shaders/rms_lib.wgsl, put in front at load): the fused matmuls' order of sums.
override WG: u32 = 64;

struct Params {
  dim: u32,
  eps: f32,
  last_only: u32, // 1: normalise only the last token's row, into row 0 of y (the LM head needs no other)
  add: u32, // 1: y += norm(x) * w (main only)
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, dim)
@group(0) @binding(3) var<storage, read> w: array<f32>; // (dim)
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // (T, dim)
@group(0) @binding(5) var<storage, read_write> yq: array<vec4<u32>>; // (T, dim/16): main_q8 only, int8 4 per u32
@group(0) @binding(6) var<storage, read_write> yd: array<f32>; // (T, dim/32): main_q8 only

fn rms_x(i: u32) -> f32 {
  return x[i];
}
fn rms_w(k: u32) -> f32 {
  return w[k];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  var t = wg.x;
  var out_base = t * p.dim;
  if (p.last_only == 1u) {
    t = step.n_tokens - 1u;
    out_base = 0u;
  }
  if (t >= step.n_tokens) { return; }
  let base = t * p.dim;
  let scale = rms_scale(base, p.dim, p.eps, lid, WG);
  for (var i = lid; i < p.dim; i += WG) {
    var v = x[base + i] * scale * w[i];
    if (p.add == 1u) { v += y[out_base + i]; }
    y[out_base + i] = v;
  }
}

@compute @workgroup_size(WG)
fn main_q8(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  if (t >= step.n_tokens) { return; }
  let base = t * p.dim;
  let scale = rms_scale(base, p.dim, p.eps, lid, WG);
  let nb = p.dim / 32u;
  for (var b = lid; b < nb; b += WG) {
    let v = rms_block(base, b * 32u, scale);
    for (var j = 0u; j < 8u; j++) {
      let i = base + b * 32u + 4u * j;
      y[i] = v[j].x; y[i + 1u] = v[j].y; y[i + 2u] = v[j].z; y[i + 3u] = v[j].w;
    }
    let qb = quantize_q8_block(v);
    yq[2u * (t * nb + b)] = qb.q0;
    yq[2u * (t * nb + b) + 1u] = qb.q1;
    yd[t * nb + b] = qb.d;
  }
}

// main_q8 with x, w and y a vec4 at a time, the partial sums too (rms_scale_quads): the same bits, for CPU adapters
// without subgroups of 8 (SwiftShader), whose loads are issued lane by lane (src/kernels/rmsnorm.ts). Also the views
// and sums shaders/rmsnorm_words.wgsl takes.
@group(0) @binding(2) var<storage, read> x_quads: array<vec4<f32>>; // (T, dim/4)
@group(0) @binding(3) var<storage, read> w_quads: array<vec4<f32>>; // (dim/4)
@group(0) @binding(4) var<storage, read_write> y_quads: array<vec4<f32>>; // (T, dim/4)

// rms_scale's partials by quads: invocation lid takes partials 4a .. 4a+3 for a = lid, lid + lanes, ..., each
// summing its elements in order as rms_scale's do (x_quads[q] holds elements 4q .. 4q+3). q0: the row's first quad.
fn rms_scale_quads(q0: u32, dim: u32, eps: f32, lid: u32, lanes: u32) -> f32 {
  for (var a = lid; a < RMS_LANES / 4u; a += lanes) {
    var s = vec4<f32>();
    for (var q = a; q < dim / 4u; q += RMS_LANES / 4u) {
      let v = x_quads[q0 + q];
      s += v * v;
    }
    rms_partial[a] = s;
  }
  return rms_tree(dim, eps, lid);
}

@compute @workgroup_size(WG)
fn main_q8_quads(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = wg.x;
  if (t >= step.n_tokens) { return; }
  let q0 = t * (p.dim / 4u);
  let scale = rms_scale_quads(q0, p.dim, p.eps, lid, WG);
  let nb = p.dim / 32u;
  for (var b = lid; b < nb; b += WG) {
    var v: array<vec4<f32>, 8>;
    for (var j = 0u; j < 8u; j++) {
      v[j] = x_quads[q0 + 8u * b + j] * scale * w_quads[8u * b + j];
      y_quads[q0 + 8u * b + j] = v[j];
    }
    let qb = quantize_q8_block(v);
    yq[2u * (t * nb + b)] = qb.q0;
    yq[2u * (t * nb + b) + 1u] = qb.q1;
    yd[t * nb + b] = qb.d;
  }
}

// Gated DeltaNet's recurrence (Qwen3.5's linear-attention layers), after the causal convolution over q|k|v that it
// shares with Mamba-2 (shaders/ssm.wgsl's `conv`, dispatched by src/kernels/delta_net.ts), one entry point:
// scan: a workgroup per v head h, a lane per column j of the head's (head_k, head_v) state, walking the pass's tokens
//   in order. Column j of S only ever meets column j, so a lane keeps its column in registers (vec4s: head_k is a
//   multiple of 4), as ssm.wgsl's scan keeps a channel's d_state entries. Per token, q and k unit-normalised (q also by
//   1 / sqrt(head_k)), beta = sigmoid(b), g = A softplus(a + dt_bias):
//     S = exp(g) S;  delta = (v - S^T k) beta;  S += k delta^T;  o = S^T q
//   then the gated RMSNorm over the head's columns: y = o / rms(o) w SiLU(z). The state comes from the slot of position
//   pos - 1 (zero at position 0) and goes to the slot of the pass's last position, as ssm.wgsl's does
//   (src/model/kv_rings.ts).
// The l2 norms are scalars, so a lane folds them in after its dot products with the raw q and k (S^T k = |k| S^T k^,
// and o = exp(g) S^T q^ + delta k^.q^ by linearity) instead of normalising q and k first: one pass over the column
// reads S, a second updates it.
override WG: u32 = 128; // head_v: a lane per column (a multiple of 4, at most the device's invocations per workgroup)
// K4: head_k / 4, the vec4s of a column (a const put in front at load: the lane's registers are as many)

struct Params {
  n_k_head: u32,
  n_v_head: u32, // a multiple of n_k_head: v head h reads q and k of head h / (n_v_head / n_k_head), or h % n_k_head where v_tiled
  head_k: u32,
  head_v: u32, // WG
  key_dim: u32, // n_k_head head_k: q's width and k's
  value_dim: u32, // n_v_head head_v: v's width, z's and y's
  conv_dim: u32, // 2 key_dim + value_dim: q|k|v
  in_proj: u32, // value_dim + conv_dim + 2 n_v_head: z, q|k|v, b, a
  slots: u32, // the recurrent state's slots
  eps: f32, // the gated norm's
  v_tiled: u32, // 1: the value heads laid out tiled (llama.cpp's GGUF order), 0: grouped by key head (transformers')
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> zqkvba: array<f32>; // (T, in_proj): in_proj's output (z, b and a read here)
@group(0) @binding(3) var<storage, read> qkv: array<f32>; // (T, conv_dim): the convolution's output, SiLU
@group(0) @binding(4) var<storage, read> per_head: array<f32>; // (2, n_v_head): A (= -exp(A_log)), dt_bias
@group(0) @binding(5) var<storage, read> norm_w: array<f32>; // (head_v): the gated norm's weight, shared by every head
// (slots, head_k / 4, value_dim): a vec4 of rows n..n+3 of each column (h, j), columns side by side, so that
// consecutive lanes read consecutive vec4s
@group(0) @binding(6) var<storage, read_write> state: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // (T, value_dim): normed and gated, for out_proj

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

// torch's softplus: log(1 + e^v), v itself above 20
fn softplus(v: f32) -> f32 {
  return select(log(1.0 + exp(v)), v, v > 20.0);
}

// One barrier a token (on CPU adapters each barrier costs a switch per SIMD group): q and k of the next token are
// staged, o^2 of this one published, and the partial sums of o^2 of the one before, in the halves the token before
// last used, which every lane left before the barrier in between. qk: per half, q (K4 vec4s) then k.
var<workgroup> qk: array<vec4f, 4u * K4>;
var<workgroup> o2: array<vec4f, WG / 2u>; // per half, o^2 of lane j at [j / 4][j % 4]
// The gated norm's sum of o^2 in two steps, a token apart: lane p < WG / 16 sums vec4s 4p..4p+3 of o2 into
// component p % 4 of part[p / 4] (components no lane writes stay zero), then every lane sums the P4 vec4s of part,
// 2 for heads of 128, where each summing o2 read WG / 4 vec4s (on CPU adapters a lane's load is what costs: on
// lavapipe a 64-token prefill pass took a quarter less).
override P4: u32 = (WG + 63u) / 64u;
var<workgroup> part: array<vec4f, 2u * P4>; // per half

// q and k of this pass's token t (its head hk's) into half `buf` of qk, the workgroup's lanes sharing the loads.
fn stage(t: u32, hk: u32, buf: u32, li: u32) {
  let q0 = t * p.conv_dim + hk * p.head_k;
  for (var i = li; i < 2u * K4; i += WG) {
    let c = select(q0 + 4u * i, q0 + p.key_dim + 4u * (i - K4), i >= K4);
    qk[buf * 2u * K4 + i] = vec4f(qkv[c], qkv[c + 1u], qkv[c + 2u], qkv[c + 3u]);
  }
}

// Token t's partial sums of o^2, once every lane's o^2 of it is in its half of o2.
fn sum_part(t: u32, j: u32) {
  if (j < (WG + 15u) / 16u) {
    let base = (t % 2u) * (WG / 4u);
    var acc = vec4f(0.0);
    for (var i = 4u * j; i < min(4u * j + 4u, WG / 4u); i++) { acc += o2[base + i]; }
    part[(t % 2u) * P4 + j / 4u][j % 4u] = acc.x + acc.y + acc.z + acc.w;
  }
}

// Token t's output of column `col` (lane j of head h), once its partial sums of o^2 are in their half of part.
fn emit(t: u32, o: f32, col: u32, w: f32) {
  let base = (t % 2u) * P4;
  var acc = vec4f(0.0);
  for (var i = 0u; i < P4; i++) { acc += part[base + i]; } // every lane the same sums in the same order
  let ms = (acc.x + acc.y + acc.z + acc.w) / f32(WG);
  y[t * p.value_dim + col] = o * inverseSqrt(ms + p.eps) * w * silu(zqkvba[t * p.in_proj + col]);
}

@compute @workgroup_size(WG)
fn scan(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) j: u32) {
  let h = wid.x;
  let hk = select(h / (p.n_v_head / p.n_k_head), h % p.n_k_head, p.v_tiled == 1u);
  let col = h * p.head_v + j;
  let n_tok = step.n_tokens;
  let slot = p.value_dim * K4;
  var s: array<vec4f, K4>;
  if (step.pos > 0u) {
    let src = ((step.pos - 1u) % p.slots) * slot + col;
    for (var n = 0u; n < K4; n++) { s[n] = state[src + n * p.value_dim]; }
  }
  let a_neg = per_head[h];
  let dt_bias = per_head[p.n_v_head + h];
  let w = norm_w[j];
  let q_scale = inverseSqrt(f32(p.head_k));
  let ba = p.value_dim + p.conv_dim + h; // b of head h in a token's row; a is n_v_head further
  stage(0u, hk, 0u, j);
  var o_prev = 0.0; // token t - 1's o
  var o_prev2 = 0.0; // token t - 2's
  for (var t = 0u; t < n_tok; t++) {
    workgroupBarrier(); // token t's q and k staged; token t - 1's o^2 published, token t - 2's partial sums
    if (t > 1u) { emit(t - 2u, o_prev2, col, w); }
    if (t > 0u) { sum_part(t - 1u, j); }
    if (t + 1u < n_tok) { stage(t + 1u, hk, (t + 1u) % 2u, j); }
    let qb = (t % 2u) * 2u * K4;
    let kb = qb + K4;
    let beta = 1.0 / (1.0 + exp(-zqkvba[t * p.in_proj + ba]));
    let decay = exp(a_neg * softplus(zqkvba[t * p.in_proj + ba + p.n_v_head] + dt_bias));
    var sk = 0.0; // (S^T k)_j, raw k, before the decay
    var sq = 0.0; // (S^T q)_j
    var kk = 0.0;
    var qq = 0.0;
    var kq = 0.0;
    for (var n = 0u; n < K4; n++) {
      let kv = qk[kb + n];
      let qv = qk[qb + n];
      sk += dot(s[n], kv);
      sq += dot(s[n], qv);
      kk += dot(kv, kv);
      qq += dot(qv, qv);
      kq += dot(kv, qv);
    }
    let rk = inverseSqrt(kk + 1e-6);
    let rq = inverseSqrt(qq + 1e-6) * q_scale;
    let v = qkv[t * p.conv_dim + 2u * p.key_dim + col];
    let u = (v - decay * sk * rk) * beta * rk; // delta_j / |k|: S += k u^T with the raw k
    for (var n = 0u; n < K4; n++) { s[n] = s[n] * decay + qk[kb + n] * u; }
    let o = (decay * sq + u * kq) * rq;
    o2[(t % 2u) * (WG / 4u) + j / 4u][j % 4u] = o * o;
    o_prev2 = o_prev;
    o_prev = o;
  }
  workgroupBarrier(); // the last token's o^2 published, the partial sums of the one before
  if (n_tok > 1u) { emit(n_tok - 2u, o_prev2, col, w); }
  sum_part(n_tok - 1u, j);
  workgroupBarrier(); // the last token's partial sums published
  emit(n_tok - 1u, o_prev, col, w);
  let dst = ((step.pos + n_tok - 1u) % p.slots) * slot + col;
  for (var n = 0u; n < K4; n++) { state[dst + n * p.value_dim] = s[n]; }
}

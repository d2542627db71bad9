// Gated DeltaNet's recurrence (Qwen3.5's linear-attention layers), after the causal convolution over q|k|v that it
// shares with Mamba-2 (shaders/ssm.wgsl's `conv`, dispatched by src/kernels/delta_net.ts), two entry points:
// scan: a workgroup per v head h, a lane per column j of the head's (head_k, head_v) state, walking the pass's tokens
//   in order. Column j of S only ever meets column j, so a lane keeps its column in registers (vec4s: head_k is a
//   multiple of 4), as ssm.wgsl's scan keeps a channel's d_state entries. Per token, q and k unit-normalised (q also by
//   1 / sqrt(head_k)), beta = sigmoid(b), g = A softplus(a + dt_bias):
//     S = exp(g) S;  delta = (v - S^T k) beta;  S += k delta^T;  o = S^T q
//   o into y. The state comes from the slot of position pos - 1 (zero at position 0) and goes to the slot of the
//   pass's last position, as ssm.wgsl's does (src/model/kv_rings.ts).
// norm: the gated RMSNorm over each head's columns, in place in y: y = o / rms(o) w SiLU(z), an invocation per (token,
//   v head). Apart from the scan, so that the scan's lanes never wait for each other's o (see `norm`).
// The l2 norms are scalars, so a lane folds them in after its dot products with the raw q and k (S^T k = |k| S^T k^,
// and o = exp(g) S^T q^ + delta k^.q^ by linearity) instead of normalising q and k first: one pass over the column
// reads S, a second updates it. Every lane reads q and k of the token (its key head's) straight from qkv, and the
// scan has no barriers: staged through workgroup memory a token ahead, with the norm's sum of o^2 there too, they took
// a barrier a token (docs/kernels.md has the timings). Where the adapter has subgroups, scan_sg (delta_net_sg.wgsl)
// shares q and k by shuffles instead.
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
// (T, conv_dim / 4): the convolution's output, SiLU, as vec4s (key_dim and conv_dim are multiples of 4)
@group(0) @binding(3) var<storage, read> qkv: array<vec4f>;
@group(0) @binding(4) var<storage, read> per_head: array<f32>; // (2, n_v_head): A (= -exp(A_log)), dt_bias
@group(0) @binding(5) var<storage, read> norm_w: array<f32>; // (head_v): the gated norm's weight, shared by every head
// (slots, head_k / 4, value_dim): a vec4 of rows n..n+3 of each column (h, j), columns side by side, so that
// consecutive lanes read consecutive vec4s
@group(0) @binding(6) var<storage, read_write> state: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>; // (T, value_dim): o from the scan, then normed and gated, for out_proj

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

// torch's softplus: log(1 + e^v), v itself above 20
fn softplus(v: f32) -> f32 {
  return select(log(1.0 + exp(v)), v, v > 20.0);
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
  let q_scale = inverseSqrt(f32(p.head_k));
  let ba = p.value_dim + p.conv_dim + h; // b of head h in a token's row; a is n_v_head further
  for (var t = 0u; t < n_tok; t++) {
    let qb = (t * p.conv_dim + hk * p.head_k) / 4u; // q of head hk in the token's row of qkv, in vec4s
    let kb = qb + p.key_dim / 4u;
    let beta = 1.0 / (1.0 + exp(-zqkvba[t * p.in_proj + ba]));
    let decay = exp(a_neg * softplus(zqkvba[t * p.in_proj + ba + p.n_v_head] + dt_bias));
    var sk = 0.0; // (S^T k)_j, raw k, before the decay
    var sq = 0.0; // (S^T q)_j
    var kk = 0.0;
    var qq = 0.0;
    var kq = 0.0;
    for (var n = 0u; n < K4; n++) {
      let kv = qkv[kb + n];
      let qv = qkv[qb + n];
      sk += dot(s[n], kv);
      sq += dot(s[n], qv);
      kk += dot(kv, kv);
      qq += dot(qv, qv);
      kq += dot(kv, qv);
    }
    let rk = inverseSqrt(kk + 1e-6);
    let rq = inverseSqrt(qq + 1e-6) * q_scale;
    let v = qkv[(t * p.conv_dim + 2u * p.key_dim) / 4u + col / 4u][col % 4u];
    let u = (v - decay * sk * rk) * beta * rk; // delta_j / |k|: S += k u^T with the raw k
    for (var n = 0u; n < K4; n++) { s[n] = s[n] * decay + qkv[kb + n] * u; }
    let o = (decay * sq + u * kq) * rq;
    y[t * p.value_dim + col] = o;
  }
  let dst = ((step.pos + n_tok - 1u) % p.slots) * slot + col;
  for (var n = 0u; n < K4; n++) { state[dst + n * p.value_dim] = s[n]; }
}

// An invocation per (token, v head) reads its head_v values of o twice: little work beside the scan's, and it spares
// the scan a barrier a token (a decode step's convolution, scan and norm took 4.3 ms in chromium on SwiftShader against
// 7.4 with the norm in the scan; docs/kernels.md).
@compute @workgroup_size(64)
fn norm(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= step.n_tokens * p.n_v_head) { return; }
  let t = gid.x / p.n_v_head;
  let row = t * p.value_dim + (gid.x % p.n_v_head) * p.head_v; // the head's columns in y's row, and in z's
  let z = t * p.in_proj + row - t * p.value_dim;
  var ss = 0.0;
  for (var i = 0u; i < p.head_v; i++) { ss += y[row + i] * y[row + i]; }
  let r = inverseSqrt(ss / f32(p.head_v) + p.eps);
  for (var i = 0u; i < p.head_v; i++) { y[row + i] = y[row + i] * r * norm_w[i] * silu(zqkvba[z + i]); }
}

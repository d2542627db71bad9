// Mamba-2's mixer between its in_proj and its gated norm (Granite 4.0-H's recurrent layers), two entry points:
// conv: one invocation per (channel of x|B|C, token): the token's x|B|C into the layer's ring by position, as
//   shortconv.wgsl keeps LFM2's, and the causal convolution over the channel's last `taps` positions, its bias, SiLU.
// scan: one invocation per channel (head h, channel i of it) walking the pass's tokens in order, its d_state entries of
//   the recurrent state in registers (vec4s: d_state is a multiple of 4): s = exp(dt A) s + dt x B; y = C.s + D x;
//   out = y SiLU(z). The state comes from the slot of position pos - 1 (zero at position 0) and goes to the slot of
//   the pass's last position, so a request may go back to any position whose slot is still held
//   (src/model/kv_rings.ts). A token's B and C serve every channel of its group: the workgroup loads them once.
override WG: u32 = 64;
override BC4: u32 = 8; // 2 n_group d_state / 4: one token's B and C, in vec4s
// STATE4: d_state / 4, the vec4s of a channel's state (a const put in front at load: the scan's registers are as many,
// not src/model/validate.ts's SSM_STATE_MAX / 4)

struct Params {
  n_head: u32,
  head_dim: u32,
  d_state: u32,
  n_group: u32,
  inner: u32, // n_head head_dim: x's width, z's and y's
  conv_dim: u32, // inner + 2 n_group d_state
  in_proj: u32, // inner + conv_dim + n_head: z, x|B|C, dt
  taps: u32,
  rows: u32, // the convolution ring's rows
  slots: u32, // the recurrent state's slots
  dt_min: f32,
  dt_max: f32,
  // in_proj's output scaled by segment as it is read (Falcon-H1's muP multipliers; 1 elsewhere)
  z_scale: f32,
  x_scale: f32,
  b_scale: f32,
  c_scale: f32,
  dt_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> zxbcdt: array<f32>; // (T, in_proj): in_proj's output
@group(0) @binding(3) var<storage, read> conv_w: array<f32>; // (conv_dim, taps): oldest position first
@group(0) @binding(4) var<storage, read> conv_b: array<f32>; // (conv_dim)
@group(0) @binding(5) var<storage, read_write> ring: array<f32>; // (rows, conv_dim): x|B|C of position q in row q % rows
@group(0) @binding(6) var<storage, read_write> xbc: array<f32>; // (T, conv_dim): convolved, SiLU
@group(0) @binding(7) var<storage, read> per_head: array<f32>; // (3, n_head): dt_bias, A, D
// (slots, d_state / 4, inner): a vec4 of state entries n..n+3 of each channel, channels side by side, so that on GPUs
// a subgroup's lanes (consecutive channels) read consecutive vec4s
@group(0) @binding(8) var<storage, read_write> state: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>; // (T, inner): gated, before the norm

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

// torch's softplus: log(1 + e^v), v itself above 20
fn softplus(v: f32) -> f32 {
  return select(log(1.0 + exp(v)), v, v > 20.0);
}

// Channel c of x|B|C of this pass's token t, scaled by its segment's multiplier (the ring keeps it scaled).
fn xbc_in(t: u32, c: u32) -> f32 {
  let bc = p.n_group * p.d_state;
  let scale = select(select(p.c_scale, p.b_scale, c < p.inner + bc), p.x_scale, c < p.inner);
  return scale * zxbcdt[t * p.in_proj + p.inner + c];
}

fn dt_in(t: u32, h: u32) -> f32 {
  return p.dt_scale * zxbcdt[t * p.in_proj + p.inner + p.conv_dim + h];
}

fn z_in(t: u32, ch: u32) -> f32 {
  return p.z_scale * zxbcdt[t * p.in_proj + ch];
}

@compute @workgroup_size(WG)
fn conv(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let t = gid.y;
  if (c >= p.conv_dim || t >= step.n_tokens) { return; }
  let pos = step.pos + t;
  ring[(pos % p.rows) * p.conv_dim + c] = xbc_in(t, c);
  var acc = conv_b[c];
  for (var k = 0u; k < p.taps; k++) {
    let back = p.taps - 1u - k; // how many positions before this one tap k reads
    if (back > pos) { continue; } // before position 0: zero padding
    let q = pos - back;
    var v: f32;
    if (q >= step.pos) {
      v = xbc_in(q - step.pos, c);
    } else {
      v = ring[(q % p.rows) * p.conv_dim + c];
    }
    acc += conv_w[c * p.taps + k] * v;
  }
  xbc[t * p.conv_dim + c] = silu(acc);
}

// Four state entries a load: on CPU adapters a lane's load costs about the same whatever its width.
var<workgroup> bc: array<vec4f, BC4>;

@compute @workgroup_size(WG)
fn scan(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) li: u32) {
  let ch = gid.x; // h head_dim + i
  let live = ch < p.inner;
  let h = min(ch, p.inner - 1u) / p.head_dim;
  let g = h / (p.n_head / p.n_group);
  let n_tok = step.n_tokens;
  let n4 = p.d_state / 4u;
  let slot = p.inner * n4;
  var s: array<vec4f, STATE4>;
  if (live && step.pos > 0u) {
    let src = ((step.pos - 1u) % p.slots) * slot + ch;
    for (var n = 0u; n < n4; n++) { s[n] = state[src + n * p.inner]; }
  }
  let dt_bias = per_head[h];
  let a = per_head[p.n_head + h];
  let skip = per_head[2u * p.n_head + h];
  let b0 = g * n4;
  let c0 = (p.n_group + g) * n4;
  for (var t = 0u; t < n_tok; t++) {
    workgroupBarrier(); // the previous token's B and C are read
    let row = t * p.conv_dim + p.inner;
    for (var j = li; j < 2u * p.n_group * n4; j += WG) {
      bc[j] = vec4f(xbc[row + 4u * j], xbc[row + 4u * j + 1u], xbc[row + 4u * j + 2u], xbc[row + 4u * j + 3u]);
    }
    workgroupBarrier();
    if (live) {
      let dt = clamp(softplus(dt_in(t, h) + dt_bias), p.dt_min, p.dt_max);
      let decay = exp(dt * a);
      let x = xbc[t * p.conv_dim + ch];
      let dtx = dt * x;
      var acc = 0.0;
      for (var n = 0u; n < n4; n++) {
        s[n] = s[n] * decay + dtx * bc[b0 + n];
        acc += dot(s[n], bc[c0 + n]);
      }
      y[t * p.inner + ch] = (acc + skip * x) * silu(z_in(t, ch));
    }
  }
  if (live) {
    let dst = ((step.pos + n_tok - 1u) % p.slots) * slot + ch;
    for (var n = 0u; n < n4; n++) { state[dst + n * p.inner] = s[n]; }
  }
}

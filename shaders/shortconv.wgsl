// LFM2's gated short convolution, one invocation per (channel, token): B * x of this position into its ring row, the
// causal convolution over the channel's last `taps` positions (earlier tokens of this pass read from bcx, older ones
// from the ring, none before position 0), times C. A pass writes rows pos..pos+T-1 and reads rows of older positions,
// which a ring of taps - 1 + maxBatch rows keeps apart (src/model/kv_rings.ts), so no invocation waits on another.
override WG: u32 = 64;

struct Params {
  dim: u32,
  taps: u32,
  rows: u32, // the ring's rows
  pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> bcx: array<f32>; // (T, 3 dim): B, C, x of each token (in_proj's output)
@group(0) @binding(3) var<storage, read> kernel: array<f32>; // (dim, taps): channel c's taps, oldest position first
@group(0) @binding(4) var<storage, read_write> state: array<f32>; // (rows, dim): B * x of position q in row q % rows
@group(0) @binding(5) var<storage, read_write> y: array<f32>; // (T, dim)

// B * x of channel c of this pass's token t.
fn gated_x(t: u32, c: u32) -> f32 {
  let row = t * 3u * p.dim;
  return bcx[row + c] * bcx[row + 2u * p.dim + c];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  let t = gid.y;
  if (c >= p.dim || t >= step.n_tokens) { return; }
  let pos = step.pos + t;
  state[(pos % p.rows) * p.dim + c] = gated_x(t, c);
  var acc = 0.0;
  for (var k = 0u; k < p.taps; k++) {
    let back = p.taps - 1u - k; // how many positions before this one tap k reads
    if (back > pos) { continue; } // before position 0: zero padding
    let q = pos - back;
    var v: f32;
    if (q >= step.pos) {
      v = gated_x(q - step.pos, c);
    } else {
      v = state[(q % p.rows) * p.dim + c];
    }
    acc += kernel[c * p.taps + k] * v;
  }
  y[t * p.dim + c] = bcx[t * 3u * p.dim + p.dim + c] * acc;
}

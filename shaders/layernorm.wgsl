// LayerNorm with a bias (BERT's): y[t] = (v - mean(v)) / sqrt(var(v) + eps) * w + b over a row v of dim values, the
// mean and the (biased) variance in two passes over the row, as PyTorch's layer_norm. v is x[t] itself (`plain`: a
// pre-norm encoder's, ModernBERT's, whose norms have no bias: b is zeros), or x[t] plus
//   residual    y[t] itself: a post-norm encoder's residual add and norm in one, y (the residual stream) rewritten in
//               place (every element is read again and written by the same invocation, after the sums' barriers)
//   positions   a row of `table`: the embeddings' norm, over the token's embedding plus its absolute position's row,
//               summed at load with its token type's (type 1's rows p.positions further); each token's position in its
//               input and its type from `inputs` (src/model/pass_inputs.ts: one input, or several side by side)
//   types       a row of `table` by the token's type alone (nomic-bert's embeddings: RoPE, no position rows)
//   rows        row t of `table`, a (T, dim) buffer (jina-bert-v2-code's second norm after attention: the layer's
//               input added again)
// or, `in_rows`, dim values of y's row t from p.offset (rows of p.stride) normalised in place (jina-bert-v2's q and k
// norms over all heads, in the fused q|k|v rows), or, `last`, the pass's last row of x alone into y's row 0 (a
// pre-LayerNorm decoder's final norm before the LM head: GPT-NeoX, Phi-2, StableLM). One workgroup a row.
override WG: u32 = 64;

struct Params {
  dim: u32,
  eps: f32,
  positions: u32, // `positions`: the table's rows of each token type
  stride: u32, // y's row length (dim but for `in_rows`)
  offset: u32, // where in y's row the dim values start (0 but for `in_rows`)
  pad1: u32,
  pad2: u32,
  pad3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, dim)
@group(0) @binding(3) var<storage, read> w: array<f32>; // (dim)
@group(0) @binding(4) var<storage, read> b: array<f32>; // (dim)
@group(0) @binding(5) var<storage, read> table: array<f32>; // (types, positions, dim): `positions`; (T, dim): `rows`
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (T, dim)
@group(0) @binding(7) var<storage, read> inputs: array<vec4<u32>>; // (T): its input's first token, one past its last, token type, 0

var<workgroup> partial: array<f32, WG>;

// The sum of every invocation's s (a tree by one invocation: two barriers, not log2(WG) + 1).
fn row_sum(s: f32, lid: u32) -> f32 {
  partial[lid] = s;
  workgroupBarrier();
  if (lid == 0u) {
    var t = 0.0;
    for (var i = 0u; i < WG; i++) { t += partial[i]; }
    partial[0] = t;
  }
  workgroupBarrier();
  let total = partial[0];
  workgroupBarrier(); // before a next row_sum writes partial
  return total;
}

// What is added to x: y's own row, a row of the table, or nothing.
const RESIDUAL = 0u;
const POSITIONS = 1u;
const PLAIN = 2u;
const IN_ROWS = 3u; // y's own values, nothing added

// Element i of row t's v.
fn value(t: u32, i: u32, table_row: u32, add: u32) -> f32 {
  if (add == RESIDUAL) { return x[t * p.dim + i] + y[t * p.dim + i]; }
  if (add == PLAIN) { return x[t * p.dim + i]; }
  if (add == IN_ROWS) { return y[t * p.stride + p.offset + i]; }
  return x[t * p.dim + i] + table[table_row * p.dim + i];
}

fn normalise(t: u32, lid: u32, table_row: u32, add: u32) {
  normalise_into(t, t, lid, table_row, add);
}

// Row t's v, normalised into y's row `out`.
fn normalise_into(t: u32, out: u32, lid: u32, table_row: u32, add: u32) {
  var s = 0.0;
  for (var i = lid; i < p.dim; i += WG) { s += value(t, i, table_row, add); }
  let mean = row_sum(s, lid) / f32(p.dim);
  var q = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let d = value(t, i, table_row, add) - mean;
    q += d * d;
  }
  let inv = 1.0 / sqrt(row_sum(q, lid) / f32(p.dim) + p.eps);
  for (var i = lid; i < p.dim; i += WG) {
    y[out * p.stride + p.offset + i] = (value(t, i, table_row, add) - mean) * inv * w[i] + b[i];
  }
}

@compute @workgroup_size(WG)
fn residual(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wg.x >= step.n_tokens) { return; }
  normalise(wg.x, lid, 0u, RESIDUAL);
}

@compute @workgroup_size(WG)
fn positions(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wg.x >= step.n_tokens) { return; }
  let own = inputs[wg.x];
  normalise(wg.x, lid, own.z * p.positions + wg.x - own.x, POSITIONS);
}

@compute @workgroup_size(WG)
fn types(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wg.x >= step.n_tokens) { return; }
  normalise(wg.x, lid, inputs[wg.x].z, POSITIONS);
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wg.x >= step.n_tokens) { return; }
  normalise(wg.x, lid, wg.x, POSITIONS);
}

@compute @workgroup_size(WG)
fn in_rows(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wg.x >= step.n_tokens) { return; }
  normalise(wg.x, lid, 0u, IN_ROWS);
}

@compute @workgroup_size(WG)
fn plain(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (wg.x >= step.n_tokens) { return; }
  normalise(wg.x, lid, 0u, PLAIN);
}

@compute @workgroup_size(WG)
fn last(@builtin(local_invocation_index) lid: u32) {
  normalise_into(step.n_tokens - 1u, 0u, lid, 0u, PLAIN);
}

// Causal grouped-query attention over the KV cache, one workgroup per (query head, token).
// Keys are taken in blocks of WG: first each invocation scores one key, then each invocation owns
// up to DPT output dims and folds the block in with an online softmax (running max and sum), so
// workgroup memory stays O(WG) whatever the context length.
override WG: u32 = 64;
const DPT: u32 = 4u; // output dims per invocation: head_dim <= WG * DPT

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  scale: f32, // 1/sqrt(head_dim)
}

struct Step {
  n_tokens: u32,
  pos: u32,
  seed: u32,
  temperature: f32,
  top_k: u32,
  top_p: f32,
  uniform_rand: f32,
  pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> qkv: array<f32>; // (T, q_dim + 2*kv_dim); q part read
@group(0) @binding(3) var<storage, read> k_cache: array<f32>; // (n_ctx, kv_dim)
@group(0) @binding(4) var<storage, read> v_cache: array<f32>; // (n_ctx, kv_dim)
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // (T, q_dim)

var<workgroup> q_sh: array<f32, 256>; // the query head (head_dim <= 256)
var<workgroup> prob: array<f32, WG>; // scores, then exp weights, of the current key block
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let hd = p.head_dim;
  let q_dim = p.n_head * hd;
  let kv_dim = p.n_kv * hd;
  let kvh = h / (p.n_head / p.n_kv);
  let q_base = t * (q_dim + 2u * kv_dim) + h * hd;
  for (var d = lid; d < hd; d += WG) { q_sh[d] = qkv[q_base + d]; }
  workgroupBarrier();

  let n_keys = step.pos + t + 1u; // causal: keys 0..pos+t
  var m = -3.0e38; // running max (same in every invocation)
  var l = 0.0; // running sum of exp
  var acc: array<f32, DPT>;
  for (var blk = 0u; blk < n_keys; blk += WG) {
    let j = blk + lid;
    var s = -3.0e38;
    if (j < n_keys) {
      let kb = j * kv_dim + kvh * hd;
      var dot = 0.0;
      for (var d = 0u; d < hd; d++) { dot += q_sh[d] * k_cache[kb + d]; }
      s = dot * p.scale;
    }
    red[lid] = s;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st /= 2u) {
      if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
      workgroupBarrier();
    }
    let m_new = max(m, red[0]);
    var e = 0.0;
    if (j < n_keys) { e = exp(s - m_new); }
    prob[lid] = e;
    workgroupBarrier();
    red[lid] = e;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st /= 2u) {
      if (lid < st) { red[lid] += red[lid + st]; }
      workgroupBarrier();
    }
    let corr = exp(m - m_new);
    l = l * corr + red[0];
    m = m_new;
    let n_in = min(WG, n_keys - blk);
    for (var i = 0u; i < DPT; i++) {
      let d = lid + i * WG;
      if (d < hd) {
        var a = acc[i] * corr;
        for (var jj = 0u; jj < n_in; jj++) {
          a += prob[jj] * v_cache[(blk + jj) * kv_dim + kvh * hd + d];
        }
        acc[i] = a;
      }
    }
    workgroupBarrier(); // prob and red are rewritten by the next block
  }
  let o_base = t * q_dim + h * hd;
  for (var i = 0u; i < DPT; i++) {
    let d = lid + i * WG;
    if (d < hd) { out[o_base + d] = acc[i] / l; }
  }
}

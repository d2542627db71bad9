// Causal grouped-query attention over the KV cache, one workgroup per (query head, token).
// Each invocation owns keys lid, lid+WG, ... and keeps its own online softmax (running max m,
// sum l, and the weighted sum of V rows, acc) in registers; the WG partial states are merged at the
// end in log2(WG) rounds through workgroup memory. So the key loop has no barriers at all: on
// lavapipe a barrier costs far more than the arithmetic, and the loop reads K and V as vec4s.
// Sliding-window layers read only the last `window` keys; their cache is a ring of cache_len rows
// (key j lives in row j % cache_len), which full-attention layers also use with cache_len = n_ctx.
// MAXD4 = head_dim / 4 is put in front at load (src/kernels/attention.ts): registers sized to the model.
override WG: u32 = 32;

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  scale: f32, // multiplies q.k: 1/sqrt(head_dim), or query_pre_attn_scalar^-0.5 (Gemma)
  window: u32, // keys pos-window+1..pos; 0 = all keys
  cache_len: u32, // rows of the K/V ring
  softcap: f32, // scores = softcap * tanh(scores / softcap) (Gemma 2); 0 = off
  pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>; // (T, (q_dim + 2*kv_dim)/4); q part read
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>; // (cache_len, kv_dim/4)
@group(0) @binding(4) var<storage, read> v_cache: array<vec4<f32>>; // (cache_len, kv_dim/4)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (T, q_dim/4)

// Partial states handed from the upper half of the active invocations to the lower half.
var<workgroup> sh_m: array<f32, WG>;
var<workgroup> sh_l: array<f32, WG>;
var<workgroup> sh_acc: array<vec4<f32>, WG * MAXD4 / 2u>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let hd4 = p.head_dim / 4u;
  let q_dim4 = p.n_head * hd4;
  let kv_dim4 = p.n_kv * hd4;
  let kvh = h / (p.n_head / p.n_kv);
  let q_base = t * (q_dim4 + 2u * kv_dim4) + h * hd4;

  var q: array<vec4<f32>, MAXD4>;
  var acc: array<vec4<f32>, MAXD4>;
  for (var d = 0u; d < hd4; d++) {
    q[d] = qkv[q_base + d] * p.scale;
    acc[d] = vec4<f32>(0.0);
  }
  // Finite start: merging two empty states gives exp(0) * 0, never NaN.
  var m = -3.0e38;
  var l = 0.0;
  let n_keys = step.pos + t + 1u; // causal: keys 0..pos+t
  var first = 0u;
  if (p.window > 0u && n_keys > p.window) { first = n_keys - p.window; }
  for (var j = first + lid; j < n_keys; j += WG) {
    let kb = (j % p.cache_len) * kv_dim4 + kvh * hd4;
    var s = 0.0;
    for (var d = 0u; d < hd4; d++) { s += dot(q[d], k_cache[kb + d]); }
    if (p.softcap > 0.0) { s = p.softcap * tanh_stable(s / p.softcap); }
    let m_new = max(m, s);
    let corr = exp(m - m_new);
    let e = exp(s - m_new);
    l = l * corr + e;
    for (var d = 0u; d < hd4; d++) { acc[d] = acc[d] * corr + e * v_cache[kb + d]; }
    m = m_new;
  }

  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid >= stride && lid < 2u * stride) {
      let o = lid - stride;
      sh_m[o] = m;
      sh_l[o] = l;
      for (var d = 0u; d < hd4; d++) { sh_acc[o * MAXD4 + d] = acc[d]; }
    }
    workgroupBarrier();
    if (lid < stride) {
      let m2 = sh_m[lid];
      let mm = max(m, m2);
      let c1 = exp(m - mm);
      let c2 = exp(m2 - mm);
      l = l * c1 + sh_l[lid] * c2;
      for (var d = 0u; d < hd4; d++) { acc[d] = acc[d] * c1 + sh_acc[lid * MAXD4 + d] * c2; }
      m = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let o_base = t * q_dim4 + h * hd4;
    let inv = 1.0 / l;
    for (var d = 0u; d < hd4; d++) { out[o_base + d] = acc[d] * inv; }
  }
}

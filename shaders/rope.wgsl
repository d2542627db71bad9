// RoPE on the fused QKV activations, and the KV-cache write.
// qkv is (T, q_dim + 2*kv_dim): per token [q heads | k heads | v heads]. Q is rotated in place;
// rotated K and plain V go to the caches at positions pos..pos+T, so attention reads only the cache.
// One invocation per (token, head, pair of elements). Frequencies come from a table computed on the
// CPU at load (freq_base, Llama-3 scaling, per-dimension factors all live there, none in the shader).
// LongRoPE models bind two tables (short, long) and use the long one for a pass whose last position + 1
// exceeds long_from, as transformers switches them per forward call; cos and sin are scaled by mscale.
// The caches are rings of cache_len rows (position p in row p % cache_len): bounded for windowed layers.
override WG: u32 = 64;

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  n_rot: u32, // rotated dims per head (<= head_dim)
  neox: u32, // 0: adjacent pairs (2i, 2i+1) as in Llama GGUF; 1: halves (i, i+n_rot/2) as in Qwen2/NeoX
  cache_len: u32, // rows of the K/V ring
  long_from: u32, // use the second table when pos + n_tokens > long_from (0xffffffff: one table)
  mscale: f32, // multiplies cos and sin of the rotated dims (LongRoPE attention factor), else 1
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (tables, n_rot/2), tables 1 or 2
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>; // (T, q_dim + 2*kv_dim)
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>; // (cache_len, kv_dim)
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>; // (cache_len, kv_dim)

// Element indices (within a head) of pair j.
fn pair_index(j: u32) -> vec2u {
  let half_rot = p.n_rot / 2u;
  if (j >= half_rot) { // past the rotated dims: a plain pair, copied unchanged
    let e = p.n_rot + 2u * (j - half_rot);
    return vec2u(e, e + 1u);
  }
  if (p.neox == 1u) { return vec2u(j, j + half_rot); }
  return vec2u(2u * j, 2u * j + 1u);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.y;
  let pairs = p.head_dim / 2u;
  let heads = p.n_head + p.n_kv;
  let idx = gid.x;
  if (t >= step.n_tokens || idx >= heads * pairs) { return; }
  let h = idx / pairs;
  let j = idx % pairs;
  let q_dim = p.n_head * p.head_dim;
  let kv_dim = p.n_kv * p.head_dim;
  let row = t * (q_dim + 2u * kv_dim);
  let e = pair_index(j);
  let pos = step.pos + t;

  var c = 1.0;
  var s = 0.0;
  if (j < p.n_rot / 2u) {
    var table = 0u;
    if (step.pos + step.n_tokens > p.long_from) { table = p.n_rot / 2u; }
    let theta = f32(pos) * inv_freq[table + j];
    c = cos(theta) * p.mscale;
    s = sin(theta) * p.mscale;
  }
  let base = row + h * p.head_dim; // q heads then k heads are contiguous in the row
  let x0 = qkv[base + e.x];
  let x1 = qkv[base + e.y];
  let y0 = x0 * c - x1 * s;
  let y1 = x0 * s + x1 * c;
  if (h < p.n_head) {
    qkv[base + e.x] = y0;
    qkv[base + e.y] = y1;
  } else {
    let kh = h - p.n_head;
    let dst = (pos % p.cache_len) * kv_dim + kh * p.head_dim;
    k_cache[dst + e.x] = y0;
    k_cache[dst + e.y] = y1;
    let vsrc = row + q_dim + kv_dim + kh * p.head_dim;
    v_cache[dst + e.x] = qkv[vsrc + e.x];
    v_cache[dst + e.y] = qkv[vsrc + e.y];
  }
}

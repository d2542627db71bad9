// RoPE on the fused QKV activations of a prefill pass, and the K/V cache write.
// qkv is (T, q_dim + 2*kv_dim): per token [q heads | k heads | v heads]. Q is rotated in place;
// rotated K and plain V go to the cache at positions pos..pos+T, so attention reads only the cache.
// One workgroup per (head, token): a head is staged whole in workgroup memory, because a NeoX pair
// spans the head and the int8/fp8 formats scale each head by its absmax. Decode steps do all of this
// inside the attention dispatch (shaders/attention.wgsl). Frequencies come from a table computed on
// the CPU at load (freq_base, Llama-3 scaling, per-dimension factors all live there); LongRoPE models
// bind two tables (short, long) and cos and sin are scaled by mscale (see rope4, shaders/kv_write.wgsl).
// Put in front at load: MAXD4 = head_dim / 4, a K/V format (shaders/kv/*.wgsl), shaders/kv_write.wgsl.
override WG: u32 = 32;

struct Params {
  n_head: u32,
  n_kv: u32,
  head_dim: u32,
  n_rot: u32, // rotated dims per head (<= head_dim)
  neox: u32, // 0: adjacent pairs (2i, 2i+1) as in Llama GGUF; 1: halves (i, i+n_rot/2) as in Qwen2/NeoX
  cache_len: u32, // rows of the K/V ring
  long_from: u32, // use the second table when pos + n_tokens > long_from (0xffffffff: one table)
  mscale: f32, // multiplies cos and sin of the rotated dims (LongRoPE attention factor), else 1
  temp_beta: f32, // q's temperature (q_temperature, shaders/kv_write.wgsl)
  temp_floor: u32,
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Step (n_tokens, pos, sampling settings) is declared once, in src/gpu/step.ts, and put in front at load.
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>; // (tables, n_rot/2), tables 1 or 2
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>; // (T, q_dim + 2*kv_dim)
// codes (2, n_kv, cache_len, head_dim), then scales (2, n_kv, cache_len)
@group(0) @binding(4) var<storage, read_write> kv: array<KvWord>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wg.x;
  let t = wg.y;
  if (t >= step.n_tokens) { return; }
  let hd4 = p.head_dim / 4u;
  let q_dim = p.n_head * p.head_dim;
  let kv_dim = p.n_kv * p.head_dim;
  let row = t * (q_dim + 2u * kv_dim);
  let pos = step.pos + t;
  if (h < p.n_head) {
    let base = row + h * p.head_dim;
    let q_temp = q_temperature(pos);
    for (var d = lid; d < hd4; d += WG) { kv_new[d] = rope4(base, d, pos) * q_temp; }
    workgroupBarrier(); // all of the head read before any of it is overwritten
    for (var d = lid; d < hd4; d += WG) {
      for (var c = 0u; c < 4u; c++) { qkv[base + 4u * d + c] = kv_new[d][c]; }
    }
    return;
  }
  let kvh = h - p.n_head;
  for (var d = lid; d < hd4; d += WG) {
    kv_new[d] = rope4(row + q_dim + kvh * p.head_dim, d, pos);
    kv_new[hd4 + d] = qkv4(row + q_dim + kv_dim + kvh * p.head_dim, d);
  }
  workgroupBarrier();
  kv_commit(pos % p.cache_len, kvh, lid, WG, true);
}

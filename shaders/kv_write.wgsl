// Rotating and storing a new position's K and V: library functions shared by the prefill writer
// (shaders/rope.wgsl) and the decode attention that writes its own token (shaders/attention.wgsl).
// The includer declares Params (n_kv, head_dim, cache_len, n_rot, neox, long_from, mscale), Step,
// inv_freq, qkv: array<f32> and kv: array<KvWord>; kvShaderParts (src/kernels/kv_cache.ts) puts MAXD4
// (head_dim / 4) and KV_PER_WORD (elements per u32 word, kv_layout.ts) in front, and a K/V format file
// (shaders/kv/*.wgsl) says how the cache's words hold 4 elements.
// Cache layout (src/kernels/kv_layout.ts): codes (2, n_kv, cache_len, head_dim) then scales (2, n_kv, cache_len);
// position p lives in row p % cache_len (a ring for sliding-window layers).

// The new position's K (rotated) and V of one kv head, staged in workgroup memory: (K | V) head_dim/4 each.
var<workgroup> kv_new: array<vec4<f32>, 2u * MAXD4>;

// Word of the first 4 elements of head kvh of K (which 0) or V (which 1) at `row`.
fn kv_word(which: u32, row: u32, kvh: u32) -> u32 {
  let hd4 = p.head_dim / 4u;
  return ((which * p.n_kv + kvh) * p.cache_len + row) * hd4;
}

// Word of that head's scale (scaled formats): after the codes, 2 * cache_len * kv_dim / KV_PER_WORD words.
fn kv_scale_word(which: u32, row: u32, kvh: u32) -> u32 {
  return 2u * p.cache_len * p.n_kv * p.head_dim / KV_PER_WORD + (which * p.n_kv + kvh) * p.cache_len + row;
}

// Llama 4's attention temperature (Ministral 3): q times 1 + beta ln(1 + floor(pos / floor)) after RoPE, 1 below
// `floor` positions (the YaRN original context); temp_floor 0: off.
fn q_temperature(pos: u32) -> f32 {
  if (p.temp_floor == 0u) { return 1.0; }
  return 1.0 + p.temp_beta * log(1.0 + f32(pos / p.temp_floor));
}

// Element i's pair partner: the other element of its pair (adjacent, or NeoX's halves); itself past n_rot.
fn rope_partner(i: u32) -> u32 {
  if (i >= p.n_rot) { return i; }
  if (p.neox == 1u) { return select(i - p.n_rot / 2u, i + p.n_rot / 2u, i < p.n_rot / 2u); }
  return i ^ 1u;
}

// Elements 4d..4d+3 of the head starting at qkv[base], rotated for position pos. A vec4 of rotated elements is loaded
// as one, its partners as one more (NeoX, halves of whole vec4s) or as its own pairs swapped (adjacent pairs);
// elsewhere (past n_rot, partial vec4s) element by element. Pairs: adjacent (2j, 2j+1) as in Llama GGUF, or halves
// (j, j + n_rot/2) as NeoX/Qwen2; LongRoPE reads the second table when the pass's last position + 1 > long_from. Then one
// cos and sin of a vec4 of angles (scaled by mscale) for all four, whatever the path: with them in each path (adjacent
// pairs 2, the others 4), lavapipe's LLVM took 2.9-3.1 s to compile the RoPE kernel, 1.1-1.8 s like this, and decode_dims
// ~1 s more (their expansions are most of a small kernel's code); adjacent pairs now take 4 where 2 would do (the RoPE
// dispatch 0.386 against 0.330 ms a prefill token, bench/prefill_profile.ts).
fn rope4(base: u32, d: u32, pos: u32) -> vec4<f32> {
  let i0 = 4u * d;
  let half = p.n_rot / 2u;
  var table = 0u;
  if (step.pos + step.n_tokens > p.long_from) { table = half; }
  let i = vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u);
  var x: vec4<f32>;
  var xp: vec4<f32>; // each element's pair partner
  var freq: vec4<f32>; // each element's pair's frequency
  var first: vec4<bool>; // the pair's first element
  if (i0 + 3u < p.n_rot && p.neox == 0u) {
    x = qkv4(base, d);
    xp = x.yxwz;
    freq = vec2<f32>(inv_freq[table + 2u * d], inv_freq[table + 2u * d + 1u]).xxyy; // two pairs: two loads
    first = vec4<bool>(true, false, true, false);
  } else if (i0 + 3u < p.n_rot && half % 4u == 0u) {
    let lo = i0 < half;
    x = qkv4(base, d);
    xp = qkv4(base, select(d - half / 4u, d + half / 4u, lo));
    let j0 = table + select(i0 - half, i0, lo);
    freq = vec4<f32>(inv_freq[j0], inv_freq[j0 + 1u], inv_freq[j0 + 2u], inv_freq[j0 + 3u]);
    first = vec4<bool>(lo);
  } else {
    for (var c = 0u; c < 4u; c++) {
      x[c] = qkv[base + i[c]];
      xp[c] = qkv[base + rope_partner(i[c])];
      let j = select(i[c] / 2u, i[c] % max(half, 1u), p.neox == 1u);
      freq[c] = inv_freq[table + min(j, max(half, 1u) - 1u)]; // (an element past n_rot keeps x: its pair is any)
      first[c] = select((i[c] & 1u) == 0u, i[c] < half, p.neox == 1u);
    }
  }
  let theta = f32(pos) * freq;
  let cos_t = cos(theta) * p.mscale;
  let sin_t = sin(theta) * p.mscale;
  let y = select(xp * sin_t + x * cos_t, x * cos_t - xp * sin_t, first);
  return select(x, y, i < vec4<u32>(p.n_rot));
}

fn qkv4(base: u32, d: u32) -> vec4<f32> {
  return vec4<f32>(qkv[base + 4u * d], qkv[base + 4u * d + 1u], qkv[base + 4u * d + 2u], qkv[base + 4u * d + 3u]);
}

fn kv_absmax(which: u32) -> f32 {
  let hd4 = p.head_dim / 4u;
  var a = vec4<f32>(0.0);
  for (var d = 0u; d < hd4; d++) { a = max(a, abs(kv_new[which * hd4 + d])); }
  return max(max(a.x, a.y), max(a.z, a.w));
}

// Encodes the staged K and V of head kvh (every invocation calls it, in uniform control flow, after a
// barrier), stores them in `row` when `store`, and leaves in kv_new what the cache reads back.
fn kv_commit(row: u32, kvh: u32, lid: u32, n_inv: u32, store: bool) {
  let hd4 = p.head_dim / 4u;
  var scale = vec2<f32>(1.0);
  if (KV_QMAX > 0.0) { scale = vec2<f32>(div_exact(kv_absmax(0u), KV_QMAX), div_exact(kv_absmax(1u), KV_QMAX)); }
  workgroupBarrier(); // every invocation has read kv_new before any overwrites it
  for (var i = lid; i < 2u * hd4; i += n_inv) {
    let which = i / hd4;
    let w = kv_encode(kv_new[i], scale[which]);
    if (store) { kv[kv_word(which, row, kvh) + i % hd4] = w; }
    kv_new[i] = kv_decode(w) * scale[which];
  }
  if (store && lid == 0u) {
    kv_set_scale(kv_scale_word(0u, row, kvh), scale.x);
    kv_set_scale(kv_scale_word(1u, row, kvh), scale.y);
  }
  workgroupBarrier();
}

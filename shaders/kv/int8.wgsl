// K/V cache format int8: 4 codes per word (element 4i in the low byte), and one f32 scale per head and
// position stored in words after the codes. src/quant/int8.ts's rule: d = amax / 127,
// q = roundf(x * (1 / d)), with div_exact and round_away (shaders/q8_block.wgsl) so the codes are the CPU's.
alias KvWord = u32;
const KV_QMAX: f32 = 127.0;

fn kv_encode(x: vec4<f32>, scale: f32) -> KvWord {
  let inv = select(0.0, div_exact(1.0, scale), scale != 0.0);
  return pack_i8(round_away(x * inv));
}

fn kv_decode(w: KvWord) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Without shifts, for SwiftShader (its JIT shifts a WGSL vector lane by lane): a multiply by 2^(24 - 8i) moves byte i
// to the top byte, a mask keeps it, and the i32 is the code times 2^24 (exact in f32, as is the scaling back): the
// matmul's word_top (shaders/matmul_x_q8.wgsl), which the K/V shaders do not include. A
// SmolLM2 layer's decode_flat at 512 and 2,048 keys: 448-458 and 1,497-1,507 us against 714-722 and 2,577-2,586.
// kv_decode stays for the others (lavapipe's LLVM shifts vectors at once).
fn kv_decode_flat(w: KvWord) -> vec4<f32> {
  const M = 0xFF000000u;
  let top = vec4<u32>(w * 16777216u, (w * 65536u) & M, (w * 256u) & M, w & M);
  return vec4<f32>(bitcast<vec4<i32>>(top)) * 5.9604644775390625e-8;
}

fn kv_scale(i: u32) -> f32 {
  return bitcast<f32>(kv[i]);
}

fn kv_set_scale(i: u32, s: f32) {
  kv[i] = bitcast<u32>(s);
}

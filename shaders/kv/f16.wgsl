// K/V cache format f16: 4 elements in two words, packed by pack2x16float (core WGSL: no shader-f16
// needed). round_f16 first: ties to even by bit operations, whatever rounding pack2x16float uses.
alias KvWord = vec2<u32>;
const KV_QMAX: f32 = 0.0;

fn kv_encode(x: vec4<f32>, scale: f32) -> KvWord {
  let r = round_f16(x);
  return vec2<u32>(pack2x16float(r.xy), pack2x16float(r.zw));
}

fn kv_decode(w: KvWord) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

// SwiftShader's unpack2x16float shifts by constants inside its JIT, as vectors (a WGSL shift is per lane there). Written
// without shifts (f16 bits to f32's by a multiply and a rebias, the high half brought down by conversions) a layer's
// decode_flat at 512 keys took 975-986 us against 858-903 (bench/browser.ts attention_page, alternating); with a
// multiply by 2^112 for the rebias (subnormals exact where f32 subnormals are kept, inf and NaN lost) 822-824 against
// 848-1,032, within noise: not kept.
fn kv_decode_flat(w: KvWord) -> vec4<f32> {
  return kv_decode(w);
}

fn kv_scale(i: u32) -> f32 {
  return 1.0;
}

fn kv_set_scale(i: u32, s: f32) {}

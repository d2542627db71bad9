/**
 * Word-level building blocks of the GGUF repacking (weight_layouts.ts): ggml's code bytes are read four
 * at a time as u32 words and rearranged with shifts, masks and a 4x4 byte transpose, never one code at
 * a time (loading a 1B model repacks ~10^9 codes). In a GPU vec4 of `bits`-bit codes, code e sits in
 * word e % 4 at slot e / 4 (shaders/weights/planes.wgsl), so word j of a vec4 gathers every fourth code
 * from j on; in ggml's arrays those codes are byte j of consecutive little-endian words. Hence the
 * common shape below: pack the wanted bit fields of several source words into the bytes of a few words
 * (byte j of each still belongs to word j of the vec4), then transpose their bytes.
 */

/**
 * The u32 (as an int32) at byte o of s, little-endian, assembled from bytes: ggml's blocks are 18, 22, 210 ...
 * bytes, so a word view would be misaligned, and neither alignment nor the platform's byte order matters.
 */
export const rd32 = (s: Uint8Array, o: number): number => s[o] | (s[o + 1] << 8) | (s[o + 2] << 16) | (s[o + 3] << 24);
export const rd16 = (s: Uint8Array, o: number): number => s[o] | (s[o + 1] << 8);

/** codes[at + j] = byte j of a, b, c, d as bytes 0..3 (a 4x4 byte transpose). */
export function putTransposed(codes: Uint32Array, at: number, a: number, b: number, c: number, d: number): void {
  const ab02 = (a & 0x00ff00ff) | ((b & 0x00ff00ff) << 8); // a0 b0 a2 b2
  const ab13 = ((a >>> 8) & 0x00ff00ff) | (b & 0xff00ff00); // a1 b1 a3 b3
  const cd02 = (c & 0x00ff00ff) | ((d & 0x00ff00ff) << 8);
  const cd13 = ((c >>> 8) & 0x00ff00ff) | (d & 0xff00ff00);
  codes[at] = (ab02 & 0xffff) | (cd02 << 16);
  codes[at + 1] = (ab13 & 0xffff) | (cd13 << 16);
  codes[at + 2] = (ab02 >>> 16) | (cd02 & 0xffff0000);
  codes[at + 3] = (ab13 >>> 16) | (cd13 & 0xffff0000);
}

const NIB = 0x0f0f0f0f;

/**
 * Two 4-bit vec4s from the 32 bytes at s[p ..]: the low nibbles (byte l: code l) into codes[atLo ..], the
 * high nibbles into codes[atHi ..] (Q4_K / Q5_K / Q6_K's layout: each half of a byte is a run of 32 codes).
 */
export function nibbleVecs(s: Uint8Array, p: number, codes: Uint32Array, atLo: number, atHi: number): void {
  // Byte j of a: codes j, j + 4 (of words 0, 1); b: j + 8, j + 12; c, d: the next 16. Then A ... D: the high nibbles.
  let a = 0, b = 0, c = 0, d = 0, A = 0, B = 0, C = 0, D = 0;
  for (let m = 0; m < 2; m++) {
    const w = rd32(s, p + 4 * m), x = rd32(s, p + 8 + 4 * m), y = rd32(s, p + 16 + 4 * m), z = rd32(s, p + 24 + 4 * m);
    a |= (w & NIB) << (4 * m);
    b |= (x & NIB) << (4 * m);
    c |= (y & NIB) << (4 * m);
    d |= (z & NIB) << (4 * m);
    A |= ((w >>> 4) & NIB) << (4 * m);
    B |= ((x >>> 4) & NIB) << (4 * m);
    C |= ((y >>> 4) & NIB) << (4 * m);
    D |= ((z >>> 4) & NIB) << (4 * m);
  }
  putTransposed(codes, atLo, a, b, c, d);
  putTransposed(codes, atHi, A, B, C, D);
}

/** A 4-bit vec4 of the 16 bytes at s[p ..] in Q4_0's order: byte l holds code l (low nibble) and l + 16. */
export function nibbleVec16(s: Uint8Array, p: number, codes: Uint32Array, at: number): void {
  const w0 = rd32(s, p), w1 = rd32(s, p + 4), w2 = rd32(s, p + 8), w3 = rd32(s, p + 12);
  const lo = (w0 & NIB) | ((w1 & NIB) << 4); // codes 0..7 (as 0 4 | 1 5 | 2 6 | 3 7 per byte)
  const lo2 = (w2 & NIB) | ((w3 & NIB) << 4); // codes 8..15
  const hi = ((w0 >>> 4) & NIB) | (w1 & ~NIB); // codes 16..23
  const hi2 = ((w2 >>> 4) & NIB) | (w3 & ~NIB); // codes 24..31
  putTransposed(codes, at, lo, lo2, hi, hi2);
}

const TWO = 0x03030303;

/**
 * A 2-bit vec4 of 64 codes from the 32 bytes at s[p ..]: codes 0..31 are bits shift, shift+1 of byte l,
 * codes 32..63 the next two bits (Q2_K / Q3_K's low bits, Q6_K's high bits).
 */
export function twoBitVec(s: Uint8Array, p: number, shift: number, codes: Uint32Array, at: number): void {
  let a = 0, b = 0, c = 0, d = 0;
  for (let m = 0; m < 4; m++) {
    const w = rd32(s, p + 4 * m) >>> shift, x = rd32(s, p + 16 + 4 * m) >>> shift;
    a |= (w & TWO) << (2 * m); // codes 4m + j, byte j of a
    b |= (x & TWO) << (2 * m); // codes 16 + 4m + j
    c |= ((w >>> 2) & TWO) << (2 * m); // codes 32 + 4m + j
    d |= ((x >>> 2) & TWO) << (2 * m);
  }
  putTransposed(codes, at, a, b, c, d);
}

/**
 * A 1-bit vec4 of 128 codes from the 32 bytes at s[p ..]: code 32q + l is bit `bit0 + q` of byte l
 * (Q3_K's hmask, Q5_K's qh: bit t of byte l is the high bit of code 32t + l of the super-block).
 */
export function bitVec(s: Uint8Array, p: number, bit0: number, codes: Uint32Array, at: number): void {
  let a = 0, b = 0, c = 0, d = 0;
  for (let m = 0; m < 8; m++) {
    const w = rd32(s, p + 4 * m) >>> bit0; // byte j: bits of codes 4m + j (+ 32q at bit q)
    a |= (w & 0x01010101) << m;
    b |= ((w >>> 1) & 0x01010101) << m;
    c |= ((w >>> 2) & 0x01010101) << m;
    d |= ((w >>> 3) & 0x01010101) << m;
  }
  putTransposed(codes, at, a, b, c, d);
}

/** Bits j, j + 4, ..., j + 28 of h as one byte (the high bits of a 32-block's codes j, j + 4 ... for word j). */
function everyFourth(h: number, j: number): number {
  let x = (h >>> j) & 0x11111111;
  x = (x | (x >>> 3)) & 0x03030303;
  x = (x | (x >>> 6)) & 0x000f000f;
  return (x | (x >>> 12)) & 0xff;
}

/**
 * Q5_0 / Q5_1's fifth bits (h: bit e for code e of the 32-block) into byte q of a 1-bit vec4 that
 * gathers four 32-blocks; the vec4's words start zeroed and each block ors its own byte in.
 */
export function orHighBits32(h: number, q: number, codes: Uint32Array, at: number): void {
  for (let j = 0; j < 4; j++) codes[at + j] |= everyFourth(h, j) << (8 * q);
}

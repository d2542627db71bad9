// Q4_1: w = d * q + m per 32-block, q 4 bits. Row: a 4-bit plane (K/32 vec4s). Scales: per block one
// word, d | m << 16 (f16).
const BLOCK: u32 = 32u;
// The rest: shaders/weights/affine32.wgsl.

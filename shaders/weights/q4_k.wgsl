// Q4_K: super-blocks of 256 = 8 blocks of 32; w = (d * sc_j) * q - (dmin * m_j), q 4 bits, sc_j and
// m_j 6 bits (ggml's packing undone at upload into bytes), d and dmin f16 per super-block.
// Row: a 4-bit plane (K/32 vec4s). Scales: per super-block 5 words: d | dmin << 16, 8 scale bytes,
// 8 min bytes (0.625 bits a weight: 4.625 in all).
const BLOCK: u32 = 32u;
// The rest: shaders/weights/kquant_min.wgsl.

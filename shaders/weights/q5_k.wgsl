// Q5_K: as Q4_K with 5-bit q. Row: a 4-bit plane (K/32 vec4s) and, interleaved (planes.wgsl), the fifth
// bits (ceil(K/128) vec4s). Scales: per super-block 5 words: d | dmin << 16, 8 scale bytes, 8 min bytes.
const BLOCK: u32 = 32u;
// The rest: shaders/weights/kquant_min.wgsl.

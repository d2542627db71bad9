// Bandwidth probe: a streaming read of a large buffer, the access pattern of a GEMV over weights.
// Every invocation loads LOADS vec4<u32> (16 B each) and XOR-folds them; the fold is written out,
// so no read is dead code, and the CPU can check the result (the XOR of `out` must equal the XOR
// of the whole buffer). Writes are 4 B per LOADS * 16 B read.
// Two layouts, because the fastest differs between devices and the probe reports the best:
//  - CONTIGUOUS = false: load j of a workgroup covers one run of WG vec4s, so neighbouring
//    invocations read neighbouring addresses (coalesced; what a GPU wants);
//  - CONTIGUOUS = true: each invocation reads its own run of LOADS vec4s (what a CPU running the
//    invocations as SIMD lanes, such as lavapipe, prefetches best).
override WG: u32 = 256;
override LOADS: u32 = 8;
override CONTIGUOUS: bool = false;

struct ProbeParams {
  n_vec4: u32, // vec4s in `src`, a multiple of WG * LOADS
  groups_x: u32, // workgroups per row of the grid (2-D when one row would exceed the limit)
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ProbeParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>; // (n_vec4)
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // (n_vec4 / LOADS), one fold per invocation

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = wg.y * p.groups_x + wg.x;
  let inv = group * WG + lid;
  if (inv * LOADS >= p.n_vec4) { return; } // the padding workgroups of a 2-D grid
  var first = group * WG * LOADS + lid;
  var stride = WG;
  if (CONTIGUOUS) {
    first = inv * LOADS;
    stride = 1u;
  }
  var acc = vec4<u32>(0u);
  for (var j = 0u; j < LOADS; j++) {
    acc ^= src[first + j * stride];
  }
  out[inv] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}

/**
 * The streaming-read kernel of bench/loads (the page) and bench/stream_loads.ts (Node): each invocation reads LOADS
 * vec4<u32>s with `read` (an expression of the index i) from the source `decl` declares at binding 0, on its own run
 * (override CONTIGUOUS, the default) or with neighbours on neighbouring vec4s.
 */
export const LOADS = 64; // vec4s per invocation
export const TEX_W = 4096; // texels per texture row (16 B each)

export const streamKernel = (read: string, decl: string, wg: number) => /* wgsl */ `
override CONTIGUOUS: bool = true;
${decl}
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nw: vec3u) {
  let group = wg.y * nw.x + wg.x;
  let inv = group * ${wg}u + lid;
  var first = group * ${wg * LOADS}u + lid;
  var stride = ${wg}u;
  if (CONTIGUOUS) { first = inv * ${LOADS}u; stride = 1u; }
  var acc = vec4<u32>(0u);
  for (var j = 0u; j < ${LOADS}u; j++) {
    let i = first + j * stride;
    acc ^= ${read};
  }
  out[inv] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`;

/** The sources: a vec4<u32> storage buffer, and an rgba32uint texture of TEX_W texels a row. */
export const BUFFER_SOURCE = ['src[i]', '@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;'] as const;
export const TEXTURE_SOURCE = [`textureLoad(src, vec2u(i % ${TEX_W}u, i / ${TEX_W}u), 0)`, '@group(0) @binding(0) var src: texture_2d<u32>;'] as const;

/**
 * The streaming-read kernel of bench/loads (the page) and bench/stream_loads.ts (Node): each invocation reads LOADS
 * vec4<u32>s with `read` (an expression of the index i) from the source `decl` declares at binding 0, on its own run
 * (override CONTIGUOUS, the default) or with neighbours on neighbouring vec4s.
 */
export const LOADS = 64; // vec4s per invocation
export const TEX_W = 4096; // texels per texture row (16 B each)

export const streamKernel = (read: string, decl: string, wg: number, pre = '') => /* wgsl */ `
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
  ${pre}
  var acc = vec4<u32>(0u);
  for (var j = 0u; j < ${LOADS}u; j++) {
    let i = first + j * stride;
    acc ^= ${read};
  }
  out[inv] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}`;

/** The sources: a vec4<u32> storage buffer, and an rgba32uint texture of TEX_W texels a row. */
export const BUFFER_SOURCE = ['src[i]', '@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;'] as const;
/**
 * A u32 storage buffer read a word per load: coalesced, the lanes of a load on consecutive words (vec4 j of invocation
 * lid is words c * WG + lid, c = 0..3, of the workgroup's run); contiguous, a lane's own 4 consecutive words.
 */
export const wordSource = (wg: number) =>
  ['words(i, lid)', /* wgsl */ `@group(0) @binding(0) var<storage, read> src: array<u32>;
fn words(i: u32, lid: u32) -> vec4<u32> {
  if (CONTIGUOUS) { return vec4<u32>(src[4u * i], src[4u * i + 1u], src[4u * i + 2u], src[4u * i + 3u]); }
  let b = 4u * (i - lid) + lid;
  return vec4<u32>(src[b], src[b + ${wg}u], src[b + ${2 * wg}u], src[b + ${3 * wg}u]);
}`] as const;
/**
 * The same words read by atomicLoad from a read_write buffer: SwiftShader's relaxed loads always gather lane by lane,
 * while its atomic loads check at run time whether the 4 lanes' offsets are equal or consecutive and then load once.
 */
export const atomicWordSource = (wg: number) =>
  ['words(i, lid)', /* wgsl */ `@group(0) @binding(0) var<storage, read_write> src: array<atomic<u32>>;
fn words(i: u32, lid: u32) -> vec4<u32> {
  if (CONTIGUOUS) { return vec4<u32>(atomicLoad(&src[4u * i]), atomicLoad(&src[4u * i + 1u]), atomicLoad(&src[4u * i + 2u]), atomicLoad(&src[4u * i + 3u])); }
  let b = 4u * (i - lid) + lid;
  return vec4<u32>(atomicLoad(&src[b]), atomicLoad(&src[b + ${wg}u]), atomicLoad(&src[b + ${2 * wg}u]), atomicLoad(&src[b + ${3 * wg}u]));
}`] as const;
export const TEXTURE_SOURCE = [`textureLoad(src, vec2u(i % ${TEX_W}u, i / ${TEX_W}u), 0)`, '@group(0) @binding(0) var src: texture_2d<u32>;'] as const;
/**
 * The texture read without a division or remainder per load (SwiftShader divides lane by lane): a contiguous run of
 * LOADS texels never crosses a row, so its row and first column are found once, before the loop. Contiguous only.
 */
export const TEXTURE_ROW_SOURCE = [
  'textureLoad(src, vec2u(tcol + j, trow), 0)', '@group(0) @binding(0) var src: texture_2d<u32>;',
  `let trow = first / ${TEX_W}u; let tcol = first - trow * ${TEX_W}u;`,
] as const;

/**
 * The matmuls' launch shapes per device and weight format: which entry point (per-row for CPU SIMD, 'flat' for
 * SwiftShader, K-split and tiled for GPUs), workgroup sizes, rows and tokens per invocation, the product route and the
 * width of x's loads. Each choice is measured (the comments say where); tests and autotune override it per path.
 */
import type { GpuCaps } from '../gpu/device.ts';
import { FORMATS, isFp8, type WeightFormat } from './weight_formats.ts';

/** lavapipe (Mesa's llvmpipe behind Vulkan): 8-lane SIMD groups, every load issued lane by lane, f32 subnormals kept. */
export const isLavapipe = (caps: Pick<GpuCaps, 'adapterName'>) => /llvmpipe|lavapipe/i.test(caps.adapterName);

/** Lanes of lavapipe's SIMD group (its 256-bit vectors of 32-bit lanes): the rows a GEMV group reads are LANES x gemvR. */
export const LAVAPIPE_LANES = 8;

/** Whether every subgroup has at least 8 lanes (X_VEC 8 and rows8 hand x out from lanes 0-7). */
export const subgroupsOf8 = (caps: Pick<GpuCaps, 'subgroups' | 'subgroupMinSize'>) => caps.subgroups && (caps.subgroupMinSize ?? 0) >= 8;

/**
 * Whether a split GEMV can take groups of `lanes` in workgroups of `wg`: the whole workgroup (one group, any size), or a
 * divisor that with subgroups is a multiple of the subgroup size (its reduction adds one lane per subgroup), which for
 * powers of two is lanes >= the largest subgroup.
 */
export function gemvLanesFit(caps: Pick<GpuCaps, 'subgroups' | 'subgroupMaxSize'>, wg: number, lanes: number): boolean {
  const pow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  if (lanes === wg) return true;
  if (!(Number.isInteger(lanes) && lanes >= 1 && wg % lanes === 0)) return false;
  return !caps.subgroups || (pow2(lanes) && pow2(caps.subgroupMaxSize ?? 0) && lanes >= (caps.subgroupMaxSize ?? Infinity));
}

/**
 * Whether a split GEMV's lane groups of `lanes` are each one subgroup (every subgroup has that size): then a group's sum
 * is its subgroup's, without workgroup memory or a barrier (WARP in shaders/matmul.wgsl).
 */
export function laneGroupIsSubgroup(caps: Pick<GpuCaps, 'subgroups' | 'subgroupMinSize' | 'subgroupMaxSize'>, lanes: number): boolean {
  return caps.subgroups && caps.subgroupMinSize === lanes && caps.subgroupMaxSize === lanes;
}

/**
 * The lanes per group of rows of the split GEMV's many-group candidates: a warp's 32, or the adapter's largest subgroup
 * where that is more (AMD's 64).
 */
export function splitLanes(caps: Pick<GpuCaps, 'subgroups' | 'subgroupMaxSize'>): number {
  return caps.subgroups ? Math.max(32, caps.subgroupMaxSize ?? 32) : 32;
}

/** Whether FLOAT_DOT changes `format`'s kernels: only Q8_0 x has integer products (f32 x's pieces are f32 already). */
export function takesFloatDot(format: WeightFormat): boolean {
  return FORMATS[format].x === 'q8';
}

/** Launch shapes. A pure function of caps and the weight format (`matmulTuning`); tests override it for every path. */
export interface MatmulTuning {
  /**
   * 'rows': R rows (x TT tokens) per invocation, no reduction, no workgroup memory: for CPU SIMD
   * (lavapipe, SwiftShader), where every lane's load is issued on its own and barriers are costly.
   * 'flat': 'rows' for decode with R = 4 and no arrays indexed by loop counters (SwiftShader, whose JIT
   * unrolls no loop: such an array stays in memory there). gemvR and X_VEC do not apply; gemvFloat does.
   * The GEMM's 'flat' is the same with R = 4 x TT = 4 (gemmR, gemmTT, gemmXVec do not apply; gemmFloat does).
   * The GEMM's 'rows8': 'rows' for 8 tokens, FLOAT_DOT's products, x shared by 8 lanes (each loads a token's piece
   * and block scale); gemmTT, gemmXVec and gemmFloat do not apply. 'rows' where subgroups may have fewer lanes.
   * 'split': a workgroup splits K and reduces (GPUs). 'tiled': workgroup-memory tiles (GPUs).
   */
  gemv: 'rows' | 'flat' | 'split';
  gemvWG: number; // invocations per workgroup
  gemvR: number; // rows per invocation ('rows') or per lane group ('split'), 1..4
  /**
   * 'split': lanes per group of gemvR rows (LANES), a divisor of gemvWG and, with subgroups, at least the adapter's
   * largest subgroup (gemvLanesFit); default gemvWG, one group a workgroup.
   */
  gemvLanes?: number;
  /** 'split': groups of rows each lane group takes in turn (ROW_ITERS), so the prologue serves more rows; default 1. */
  gemvIters?: number;
  gemm: 'rows' | 'rows8' | 'flat' | 'tiled';
  gemmWG: number; // 'rows': invocations per workgroup
  gemmR: number; // 'rows': rows per invocation, 1..4
  gemmTT: number; // 'rows': tokens per invocation, 1..4
  /** 'rows' and 'flat' (both lists): Q8_0 x's int8 products as exact f32 FMAs instead of dot4i8 (FLOAT_DOT). */
  gemvFloat: boolean;
  gemmFloat: boolean;
  /** 'rows' (both lists): X_VEC, how x's words reach the lanes (XVec; shaders/matmul_common.wgsl). */
  gemvXVec: XVec;
  gemmXVec: XVec;
  /**
   * FP8 E4M3 weights (both lists) decoded straight into f32 bits (fp8x4_bits in shaders/fp8_codes.wgsl) instead of
   * through f16 fields: exact only where the device keeps f32 subnormals, as lavapipe does. Taken where the weights
   * allow it (GpuWeights.fp8Bits).
   */
  fp8Bits: boolean;
  /**
   * IQ4_NL / IQ4_XS (both lists): a code's value picked from the table's bytes by selects and a shift (IQ4_SELECTS in
   * shaders/weights/iq4_values.wgsl) instead of read from an array, the same values.
   */
  iq4Selects: boolean;
}

/**
 * X_VEC: 1, a word of a piece per lane; 4, a piece's 4 words per lane load (one vec4); 8, one word of two pieces
 * per lane for 8 lanes. Taken as 1 where it does not apply (effectiveXVec): 4 where f32 x has K % 4 != 0, 8 but
 * for Q8_0 x on subgroups of at least 8 lanes.
 */
export type XVec = 1 | 4 | 8;

/** Formats whose codes have 5 or 6 bits (a plane of high bits beside 4-bit codes): 2 rows a lane on CPU SIMD. */
const FIVE_SIX_BIT: ReadonlySet<WeightFormat> = new Set<WeightFormat>(['q5_0', 'q5_1', 'q5_k', 'q6_k']);

export function matmulTuning(caps: GpuCaps, format?: WeightFormat): MatmulTuning {
  const { cpu } = caps;
  // GEMM rows: 4 rows x 4 tokens per invocation. On lavapipe (bench/matmul_ab.ts --tokens 64, against 2 rows, same
  // run): Q8_0 0.78-1.0x the time across SmolLM2's shapes, f16 0.71x, FP8 0.90x, Q4_K 0.91x, Q6_K 0.86x.
  // 8 tokens (tried: a token loop of 8 is past NIR's unroll limit, so its arrays went to memory, 2.2x the time; split
  // into two loops of 4 it unrolled) measured 1.02x at 576x1536, 1.04x at 1536x576, 0.78x at 576x576, and the same
  // 128-token prefill of SmolLM2-135M (bench/prefill_passes.ts, 76.5-79.0 against 76.6-79.2 tok/s): not taken.
  const rows = { gemmWG: 64, gemmR: 4, gemmTT: 4, gemvFloat: false, gemmXVec: 1 } as const;
  // CPU SIMD has no packed-byte dot: a code widened once serves R rows x TT tokens of f32 FMAs in the
  // GEMM (1.35x less CPU time on lavapipe, bench/matmul_ab.ts); the GEMV, with no reuse, keeps dot4i8.
  // The GEMV's f32 x comes a quad per lane load (X_VEC 4): 4 words of x per 4 weights, the loads that
  // count there (FP8 on lavapipe: 0.7-0.85x the time of X_VEC 1); Q8_0 x, a word per 4 weights, keeps
  // X_VEC 1 (4 was 1.0-1.1x its time). With subgroups of 8 or more lanes Q8_0 x takes X_VEC 8: each of 8 lanes loads a
  // word of two pieces once, half X_VEC 1's x loads (bench/matmul.ts --xvec 1,8 alternated 3 times, one process:
  // 576x1536 and 1536x576, q8 0.94-0.96x the time, int8 0.94-0.95x; SmolLM2-135M decode 34.5-34.7 against 33.3-33.6
  // tok/s). The GEMM keeps X_VEC 1 (8 was 1.15-1.2x its time: its 4 tokens' held words cost more than the loads saved).
  const xWords8 = subgroupsOf8(caps) ? 8 : 1;
  const gemvXVec = cpu && (format === undefined || FORMATS[format].x !== 'q8') ? 4 : cpu ? xWords8 : 1;
  // With subgroups of 8 or more lanes the per-row GEMM takes 8 tokens (rows8): each weight piece loaded and decoded once
  // for 8, and x's pieces and block scales loaded once for the subgroup (lane l: token l's), where 'rows' took 4 and every
  // lane loaded every token's word of a piece. lavapipe, bench/matmul_ab.ts --tokens 64 --variant gemm=rows --variant
  // gemm=rows8, one process: Q8_0 0.75-0.85x the time on 576x960, 576x1536, 576x3072 and 1536x576; 576x1536 f16 0.72x, f32 0.44x, FP8 E4M3 0.90x; 768x1536 Q4_K 0.81x,
  // Q6_K 0.69x, Q5_0 0.70x, Q4_0 0.93-1.02x (its 2 or 3 rows an invocation 1.0-1.2x). 4 rows an invocation for every
  // format (f32 with 2: 1.7x the time of 4). 16 tokens (x loaded twice a piece by the 8 lanes) took 1.07-1.32x the time
  // of 8 with 2, 3 or 4 rows (Q8_0 576x1536, 1536x576). A 128-token pass of SmolLM2-135M Q8_0 (bench/prefill_profile.ts): 97-101
  // against 80 tok/s.
  const gemmRows = subgroupsOf8(caps) ? 'rows8' : 'rows';
  // f16 and FP8 read 2-4 bytes of f32 x per weight, more than their codes: 4 rows per invocation share each x load.
  // lavapipe (bench/matmul_ab.ts, gemvR 4 against 2, same run, SmolLM2's and 1.5B-sized shapes): FP8 0.87-1.0x the time
  // (1.06x on 1536x576), f16 0.77-0.93x; Q8_0 x and the GGUF block formats were 1.0-1.2x slower with 4. In row tiles
  // (rowTileFor: 32 rows for 4 a lane, 16 for 2) FP8 and f16 keep 4 (2 took 1.1-1.3x the time), but f32 takes 2:
  // 393 against 737-754 us on 576x1536 and 1536x576, 12.8-13.0 against 24.3 ms on 576x49152 (1 row in tiles of 8:
  // 426 us and 14.3 ms).
  // bf16 (a vec2 of 4 values a piece, as f16, but no rounding of x) takes 2 as f32 does: bench/matmul_ab.ts --format
  // bf16,f32 --tokens 1, 2 rows in tiles of 16 against 4 in tiles of 32, one process: 576x1536 341 against 374 us,
  // 1536x576 329 against 351, 576x49152 11,820 against 11,865 (f32 with 2 rows: 496, 473, 16,338).
  // Since then (X_VEC 8, row tiles, the prologues) 4 rows won for every format but those with 5- or 6-bit codes:
  // bench/matmul_ab.ts --tokens 1 --variant 'gemvR=2,gemvWG=32,rowTile=16' --variant 'gemvR=4,gemvWG=16,rowTile=32',
  // one process a shape (load 0.7-1.3), 4 rows against 2: Q8_0 0.92x on 576x49152 (SmolLM2's LM head), 0.96-0.98x on
  // 576x960, 576x3072, 1536x576, 576x576; Q4_0 0.83-0.87x (1.07x once on 768x3072), Q4_1 0.74-0.83x, IQ4_NL 0.83-0.88x,
  // IQ4_XS 0.88-0.90x, Q4_K 0.81-0.85x, Q3_K 0.88-0.91x, Q2_K 0.88-0.90x; but Q5_0 1.35-1.44x, Q5_1 1.38-1.48x, Q5_K
  // 1.39-1.41x, Q6_K 1.38-1.43x (their high bits' planes). SmolLM2-135M Q8_0 decode 27.1-27.4 against 25.1-25.6 tok/s.
  const twoRows = format === undefined || format === 'f32' || format === 'bf16' || FIVE_SIX_BIT.has(format);
  const gemvR = twoRows ? 2 : 4;
  // SwiftShader's GEMV and GEMM: 'flat' (bench/gemv_shapes and bench/matmul_page in chromium: docs/kernels.md).
  // Workgroups of 16 there: a 576-row matrix is then 9 workgroups for its threads, not 3.
  // The per-row GEMM in workgroups of 16 too (64 rows each, not 256): a 576-row matrix in 2.25 workgroups of 256 rows
  // computed a quarter of its last workgroup's rows for nothing. lavapipe, bench/matmul_ab.ts --tokens 64, WG 16
  // against 64, one process: Q8_0 1536x576 0.71x the time (0.64x with 2 threads), 576x576 0.75x, 576x960 0.94x,
  // 576x3072 0.98x; f16 1536x576 0.77x; Q4_K 1536x576 0.72x.
  // lavapipe's per-row GEMV in workgroups of 32 (64 rows with R 2: SmolLM2's 576 and 960 rows in whole workgroups):
  // bench/matmul_ab.ts --tokens 1, WG 32 against 64, one process: 576x576 0.87-0.88x the time (0.94x with 2 threads),
  // 1536x576 0.91x (0.93x), 576x960 0.89-0.95x (once 1.45x), 576x3072 0.96-0.98x, 576x49152 1.0x.
  const flat = /swiftshader/i.test(caps.adapterName);
  // GPUs' GEMV without autotune (or past its budget): the K-split in groups of a subgroup's lanes, 8 a workgroup. On a lent
  // H200 (autotune's table, 7438809) it took 0.20-1.0x the time of one group of 4 rows a workgroup on every shape of
  // SmolLM2-135M and Llama-3.2-1B (their heads 80 against 394 and 577 against 2,445 us), and was the fastest or within
  // 2 us of it on the small ones.
  // FP8 E4M3 by f32 bits only where f32 subnormals are known to be kept, lavapipe: SmolLM2's GEMVs there (bench/matmul_ab.ts
  // --format fp8e4m3,int8 --variant fp8Bits=0 --variant fp8Bits=1, one process) at 1.00-1.07x int8's time, against
  // 1.17-1.38x. SwiftShader flushes them (bench/fp8_codes_page: its 14 subnormal codes decode to 0, though its flat GEMV
  // took 0.83-0.89x the time); GPUs and other CPU adapters (WARP) may.
  const fp8Bits = cpu && isLavapipe(caps);
  // IQ4 values by selects on lavapipe, where an array indexed by a lane's code is a gather issued lane by lane:
  // bench/matmul_ab.ts --format iq4_nl,iq4_xs --tokens 1 (768x1536, the build before and after alternating twice, µs):
  // IQ4_NL 590-606 against 459-524, IQ4_XS 557-573 against 377-410. SwiftShader's flat GEMV took 1.0-1.4x the time with
  // them (bench/browser.ts matmul_page: IQ4_NL 3,744 and 2,822 against 4,697 and 3,856 us); GPUs are unmeasured.
  const iq4Selects = cpu && isLavapipe(caps);
  // lavapipe's GEMV in workgroups of 16 where 4 rows a lane take 64 rows a workgroup, as 2 rows in 32: a 576-row
  // matrix is 9 whole workgroups, not 4.5 (FP8 1536x576: 154-177 against 170-298 us with 32).
  const gemvWG = flat || gemvR === 4 ? 16 : 32;
  // f32's per-row GEMM takes 2 rows too (bench/matmul_ab.ts --tokens 64 --variant gemmR=4 --variant gemmR=2, one
  // process: 260 against 453 us a token on 576x1536, 250 against 402 on 1536x576; 1 row 316; f16 keeps 4: 2 took 1.5x).
  const gemmR = format === 'f32' && gemmRows === 'rows' ? 2 : 4;
  // Q8_0 x's products in exact f32 (FLOAT_DOT) in every CPU GEMM, and in SwiftShader's GEMV, whose packed dot takes
  // each lane apart (bench/gemv_shapes in chromium, 4 rows a lane: 620 against 880 us on 576x1536, 1,005 against
  // 1,465 on 1536x576; the flat kernels widen codes without shifts, see piece_top). lavapipe's GEMV keeps dot4i8.
  const floats = format === undefined || takesFloatDot(format);
  return cpu
    ? { gemv: flat ? 'flat' : 'rows', gemvWG, gemvR, gemvXVec, ...rows, gemvFloat: flat && floats, gemm: flat ? 'flat' : gemmRows, gemmWG: 16, gemmR, gemmFloat: floats, fp8Bits, iq4Selects }
    : { gemv: 'split', gemvWG: 256, gemvR: 4, gemvLanes: splitLanes(caps), gemvXVec: 1, gemm: 'tiled', ...rows, gemmFloat: false, fp8Bits: false, iq4Selects: false };
}

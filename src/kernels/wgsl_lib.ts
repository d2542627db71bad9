import roundF16Source from '../../shaders/round_f16.wgsl?raw';
import q8BlockSource from '../../shaders/q8_block.wgsl?raw';
import tanhSource from '../../shaders/tanh.wgsl?raw';
import gluSource from '../../shaders/glu.wgsl?raw';
import rmsSource from '../../shaders/rms_lib.wgsl?raw';
import fp8CodesSource from '../../shaders/fp8_codes.wgsl?raw';
import tiledIndexSource from '../../shaders/tiled_index.wgsl?raw';
import f16BitsSource from '../../shaders/f16_bits.wgsl?raw';

/**
 * WGSL function libraries (no bindings) that several kernel families put in front of their source
 * through shaderText's `parts`, so each function is written once.
 */
export const ROUND_F16_LIB = roundF16Source;
/** quantize_q8_block and what it needs. */
export const Q8_BLOCK_LIB = `${roundF16Source}\n${q8BlockSource}`;
/** quantize_q8_block alone, for a shader that has ROUND_F16_LIB already. */
export const Q8_BLOCK_ONLY = q8BlockSource;
/** tanh_stable: softcapping and the tanh GELU. */
export const TANH_LIB = tanhSource;
/** glu_act (the gated FFN's activation) and tanh_stable, which it needs: SwiGLU and the matmul's GLU epilogue. */
export const GLU_LIB = `${tanhSource}\n${gluSource}`;
/** rms_scale, rms_quad and rms_block: RMSNorm and the matmul prologues that normalise x. */
export const RMS_LIB = rmsSource;
/** fp8x4 (FP8 codes to f32, E4M3 or E5M2) and the E4M3 encoder: the FP8 weights and the fp8-e4m3 K/V cache. */
export const FP8_CODES_LIB = fp8CodesSource;
/** tiled_index: where a weight item sits in a row-major or row-tiled chunk (the includer declares ROW_TILE). */
export const TILED_INDEX_LIB = tiledIndexSource;
/** f16_bits_to_f32 and to_f16: f16 bits to f32 and back, exactly (the load-time converters). */
export const F16_BITS_LIB = f16BitsSource;

import roundF16Source from '../../shaders/round_f16.wgsl?raw';
import q8BlockSource from '../../shaders/q8_block.wgsl?raw';
import tanhSource from '../../shaders/tanh.wgsl?raw';

/**
 * WGSL function libraries (no bindings) that several kernel families put in front of their source
 * through shaderText's `parts`, so each function is written once.
 */
export const ROUND_F16_LIB = roundF16Source;
/** quantize_q8_block and what it needs. */
export const Q8_BLOCK_LIB = `${roundF16Source}\n${q8BlockSource}`;
/** tanh_stable: softcapping and the tanh GELU. */
export const TANH_LIB = tanhSource;

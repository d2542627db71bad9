import { ONE_TABLE, ropeInvFreq } from '../kernels/rope.ts';
import type { ModelConfig } from './config.ts';
import type { WeightSource } from './weight_source.ts';

/** What the RoPE kernel (and its CPU reference) needs for one group of layers. */
export interface RopeTable {
  readonly invFreq: Float32Array; // (tables, nRot/2): one table, or LongRoPE's short then long
  readonly longFrom: number; // the long table for a pass whose last position + 1 exceeds this; ONE_TABLE: never
  readonly mscale: number; // multiplies cos and sin (LongRoPE's attention factor), else 1
  /** Llama 4 / Ministral 3: q times 1 + tempBeta ln(1 + floor(pos / tempFloor)) after RoPE; tempFloor 0: off. */
  readonly tempBeta: number;
  readonly tempFloor: number;
}

/**
 * Frequencies of the full-attention layers (`global`, with the model's scaling) and, when the model
 * gives its windowed layers their own base (Gemma 3), of those (`local`, unscaled); computed once at load.
 */
export async function ropeTables(c: ModelConfig, w: WeightSource): Promise<{ global: RopeTable; local: RopeTable | null }> {
  const half = c.nRot / 2;
  const rs = c.ropeScaling;
  const temp = { tempBeta: c.attnTemperature?.beta ?? 0, tempFloor: c.attnTemperature?.floor ?? 0 };
  const local = c.ropeBaseLocal === null ? null : { invFreq: ropeInvFreq(c.nRot, c.ropeBaseLocal), longFrom: ONE_TABLE, mscale: 1, ...temp };
  if (rs.type === 'longrope') {
    const short = rs.shortFactor ?? (await w.vector('rope_factors_short.weight', half));
    const long = rs.longFactor ?? (await w.vector('rope_factors_long.weight', half));
    const invFreq = new Float32Array(2 * half);
    invFreq.set(ropeInvFreq(c.nRot, c.ropeBase, { extFactors: short }), 0);
    invFreq.set(ropeInvFreq(c.nRot, c.ropeBase, { extFactors: long }), half);
    return { global: { invFreq, longFrom: rs.originalContext ?? c.contextTrain, mscale: rs.attnFactor ?? 1, ...temp }, local };
  }
  const freqFactors = w.has('rope_freqs.weight') ? await w.vector('rope_freqs.weight', half) : undefined;
  const invFreq = ropeInvFreq(c.nRot, c.ropeBase, {
    freqFactors,
    linearFactor: rs.type === 'linear' ? rs.factor : undefined,
    llama3: rs.type === 'llama3' && !freqFactors ? { factor: rs.factor, lowFreqFactor: rs.lowFreqFactor ?? 1, highFreqFactor: rs.highFreqFactor ?? 4, originalContext: rs.originalContext ?? 8192 } : undefined,
    yarn: rs.type === 'yarn' ? { factor: rs.factor, originalContext: rs.originalContext ?? c.contextTrain, betaFast: rs.betaFast ?? 32, betaSlow: rs.betaSlow ?? 1, truncate: rs.truncate ?? true } : undefined,
  });
  return { global: { invFreq, longFrom: ONE_TABLE, mscale: rs.type === 'yarn' ? rs.attnFactor ?? 1 : 1, ...temp }, local };
}

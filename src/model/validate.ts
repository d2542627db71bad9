import { EmberError } from '../errors.ts';
import { printableJson } from '../util/printable.ts';
import type { ModelConfig } from './config.ts';
import type { SsmShape } from './ssm_shape.ts';
import type { DeltaShape } from './delta_shape.ts';
import type { WeightSource } from './weight_source.ts';

/**
 * The one check of a model's hyper-parameters, whichever file they came from (GGUF metadata in
 * src/model/config.ts, config.json in src/hf/config.ts): every number finite and in range, the
 * dimensions consistent, and the sizes bounded, before anything is allocated from them (a config
 * claiming 1e8 layers must not make a 1e8-entry tensor list).
 */

/** Upper bounds far above any released model, low enough that nothing sized from them is absurd. */
export const CONFIG_LIMITS = Object.freeze({
  nLayer: 1024,
  nEmbd: 1 << 16,
  nFf: 1 << 20,
  nHead: 1024,
  headDim: 1024,
  vocab: 1 << 22,
  contextTrain: 2 ** 31,
});

/** The most taps a short convolution may have (LFM2's have 3). */
export const CONV_TAPS_MAX = 8;

/** The most state entries per channel a Mamba-2 scan may hold (its private array; Granite 4.0-H's have 128). */
export const SSM_STATE_MAX = 256;

/**
 * A Mamba-2 mixer's shape, checked as validateConfig checks the rest: BAD_MODEL naming the field (`names`) where a number
 * is out of range or the widths disagree with the model's (`inner`: the file's inner size, when it states one).
 */
type SsmNames = Readonly<Record<Exclude<keyof SsmShape, 'gatedNorm'> | 'inner', string>>;
export function validateSsm(s: SsmShape, file: string, names: SsmNames, inner?: number): SsmShape {
  const fail = (key: keyof SsmNames, v: unknown, expected: string) =>
    new EmberError('BAD_MODEL', `${file}: ${names[key]} is ${printableJson(v)}; expected ${expected}`, { file, field: names[key].replace(/^(field|metadata key) /, '') });
  const int = (key: 'nHead' | 'headDim' | 'dState' | 'nGroup' | 'convKernel', max: number) => {
    const v = s[key];
    if (!Number.isInteger(v) || v < 1 || v > max) throw fail(key, v, `an integer from 1 to ${max}`);
  };
  int('nHead', CONFIG_LIMITS.nHead * 4);
  int('headDim', CONFIG_LIMITS.headDim);
  int('dState', SSM_STATE_MAX);
  if (s.dState % 4 !== 0) throw fail('dState', s.dState, 'a multiple of 4 (the scan holds the state in vec4s)');
  int('nGroup', s.nHead);
  if (s.nHead % s.nGroup !== 0) throw fail('nGroup', s.nGroup, `a divisor of the ${s.nHead} heads (${names.nHead})`);
  int('convKernel', CONV_TAPS_MAX);
  if (!(Number.isFinite(s.dtMin) && s.dtMin >= 0)) throw fail('dtMin', s.dtMin, 'a finite number from 0');
  if (!(s.dtMax > s.dtMin)) throw fail('dtMax', s.dtMax, `a number above ${s.dtMin}`);
  if (s.inScales.length !== 5 || !s.inScales.every((v) => Number.isFinite(v) && v !== 0)) throw fail('inScales', s.inScales, 'five finite non-zero numbers (z, x, B, C, dt)');
  if (inner !== undefined && inner !== s.nHead * s.headDim) throw fail('inner', inner, `${s.nHead} heads x ${s.headDim} = ${s.nHead * s.headDim}`);
  return s;
}

/**
 * A Gated DeltaNet's shape, checked as validateSsm checks Mamba-2's: the scan runs a workgroup per value head, a lane per
 * state column (headVDim lanes, a multiple of 4), each holding its column of headKDim entries in vec4 registers.
 */
export function validateDelta(s: DeltaShape, file: string, names: Readonly<Record<keyof DeltaShape, string>>): DeltaShape {
  const fail = (key: keyof DeltaShape, v: unknown, expected: string) =>
    new EmberError('BAD_MODEL', `${file}: ${names[key]} is ${printableJson(v)}; expected ${expected}`, { file, field: names[key].replace(/^(field|metadata key) /, '') });
  const int = (key: Exclude<keyof DeltaShape, 'vTiled'>, max: number) => {
    const v = s[key];
    if (!Number.isInteger(v) || v < 1 || v > max) throw fail(key, v, `an integer from 1 to ${max}`);
  };
  int('nKHead', CONFIG_LIMITS.nHead);
  int('nVHead', CONFIG_LIMITS.nHead);
  if (s.nVHead % s.nKHead !== 0) throw fail('nVHead', s.nVHead, `a multiple of the ${s.nKHead} key heads (${names.nKHead})`);
  int('headKDim', SSM_STATE_MAX);
  if (s.headKDim % 4 !== 0) throw fail('headKDim', s.headKDim, 'a multiple of 4 (the scan holds a state column in vec4s)');
  int('headVDim', SSM_STATE_MAX);
  if (s.headVDim % 4 !== 0) throw fail('headVDim', s.headVDim, 'a multiple of 4 (a lane per state column, their squares summed in vec4s)');
  int('convKernel', CONV_TAPS_MAX);
  return s;
}

/** How each hyper-parameter is named in the source file, for messages (`llama.block_count`, `num_hidden_layers`). */
export type ConfigFieldNames = Readonly<Record<
  'nLayer' | 'nEmbd' | 'nFf' | 'nHead' | 'nKv' | 'headDim' | 'nRot' | 'vocab' | 'contextTrain' | 'eps' | 'ropeBase' |
  'ropeFactor' | 'ropeLowFreqFactor' | 'ropeHighFreqFactor' | 'ropeOriginalContext' | 'ropeAttnFactor' |
  'embedScale' | 'attnScale' | 'residualScale' | 'logitScale' | 'convKernel' | 'alibiMaxBias', string>>;

/** Returns `c` when it is runnable; otherwise raises BAD_MODEL naming the file's field, what was expected and what was found. */
export function validateConfig(c: ModelConfig, file: string, names: ConfigFieldNames): ModelConfig {
  const fail = (key: keyof ConfigFieldNames, v: unknown, expected: string) => {
    const details = { file, field: names[key].replace(/^(field|metadata key) /, ''), found: typeof v === 'number' ? v : String(v) };
    return new EmberError('BAD_MODEL', `${file}: ${names[key]} is ${printableJson(v)}; expected ${expected}`, details);
  };
  const int = (key: keyof ConfigFieldNames, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw fail(key, v, `an integer from 1 to ${max}`);
  };
  const positive = (key: keyof ConfigFieldNames, v: number | undefined) => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || !(v > 0)) throw fail(key, v, 'a finite number above 0');
  };
  const L = CONFIG_LIMITS;
  int('nLayer', c.nLayer, L.nLayer);
  int('nEmbd', c.nEmbd, L.nEmbd);
  int('nFf', c.nFf, L.nFf);
  int('nHead', c.nHead, L.nHead);
  int('nKv', c.nKv, c.nHead);
  if (c.nHead % c.nKv !== 0) throw fail('nKv', c.nKv, `a divisor of the ${c.nHead} attention heads (${names.nHead})`);
  int('headDim', c.headDim, L.headDim);
  if (c.headDim % 2 !== 0) throw fail('headDim', c.headDim, 'an even number (RoPE rotates pairs)');
  int('nRot', c.nRot, c.headDim);
  if (c.nRot % 2 !== 0) throw fail('nRot', c.nRot, `an even number up to the head size ${c.headDim}`);
  int('vocab', c.vocab, L.vocab);
  int('contextTrain', c.contextTrain, L.contextTrain);
  positive('eps', c.eps);
  if (c.eps >= 1) throw fail('eps', c.eps, 'a small positive number below 1');
  positive('ropeBase', c.ropeBase);
  for (const key of ['embedScale', 'attnScale', 'residualScale', 'logitScale'] as const) positive(key, c[key]);
  if (c.alibiMaxBias !== 0) positive('alibiMaxBias', c.alibiMaxBias); // (0: no ALiBi)
  if (c.arch === 'lfm2') int('convKernel', c.convKernel, CONV_TAPS_MAX); // the shortconv kernel's loop over taps is unrolled to this
  const rs = c.ropeScaling;
  if (rs.type !== 'none') positive('ropeFactor', rs.factor);
  positive('ropeAttnFactor', rs.attnFactor);
  if (rs.type === 'yarn') positive('ropeOriginalContext', rs.originalContext);
  if (rs.type === 'llama3') {
    positive('ropeLowFreqFactor', rs.lowFreqFactor);
    positive('ropeHighFreqFactor', rs.highFreqFactor);
    positive('ropeOriginalContext', rs.originalContext);
    const { lowFreqFactor: low, highFreqFactor: high } = rs;
    if (high !== undefined && low !== undefined && !(high > low)) {
      throw fail('ropeHighFreqFactor', high, `a number above ${names.ropeLowFreqFactor} (${low})`);
    }
  }
  return c;
}

/**
 * The small tensors (norm weights, biases, RoPE frequency factors) checked as they are read: NaN or
 * infinity there turns every output into garbage, and `rope_freqs` divides frequencies, so it must be
 * above 0. Matrices are not scanned (too large to check for free).
 */
export function checkedVectors(f: WeightSource): WeightSource {
  return {
    name: f.name,
    has: (tensor) => f.has(tensor),
    matrix: (tensor, rows, cols, quant, opts) => f.matrix(tensor, rows, cols, quant, opts),
    async vector(tensor, n, shape) {
      const v = await f.vector(tensor, n, shape);
      const positiveOnly = tensor === 'rope_freqs.weight';
      for (let i = 0; i < v.length; i++) {
        if (Number.isFinite(v[i]) && (!positiveOnly || v[i] > 0)) continue;
        const expected = `a finite number${positiveOnly ? ' above 0' : ''}`;
        throw new EmberError('BAD_MODEL', `${f.name}: tensor ${tensor} element ${i} is ${v[i]}; expected ${expected}`, { tensor, index: i });
      }
      return v;
    },
  };
}

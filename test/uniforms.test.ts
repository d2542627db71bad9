/** Every kernel's TS uniform declaration agrees field for field with the WGSL struct it fills. */
import { describe, expect, it } from 'vitest';
import { parseWgslStruct, type UniformLayout } from '../src/gpu/uniforms.ts';
import { shaderText } from '../src/gpu/pipelines.ts';
import { STEP } from '../src/kernels/dispatch.ts';
import { RMSNORM_PARAMS, RMSNORM_SOURCE } from '../src/kernels/rmsnorm.ts';
import { EMBEDDING_PARAMS, EMBEDDING_SOURCE } from '../src/kernels/embedding.ts';
import { ROPE_PARAMS, ROPE_SOURCE } from '../src/kernels/rope.ts';
import { ATTENTION_PARAMS, ATTENTION_SOURCE } from '../src/kernels/attention.ts';
import { SWIGLU_PARAMS, SWIGLU_SOURCE } from '../src/kernels/swiglu.ts';
import { SAMPLE_PARAMS, SAMPLE_SOURCE } from '../src/kernels/sample.ts';
import { QK_NORM_PARAMS, QK_NORM_SOURCE } from '../src/kernels/qk_norm.ts';
import { SHORTCONV_PARAMS, SHORTCONV_SOURCE } from '../src/kernels/shortconv.ts';
import { SSM_PARAMS, SSM_SOURCE } from '../src/kernels/ssm.ts';
import { DELTA_NET_PARAMS, DELTA_NET_SOURCE } from '../src/kernels/delta_net.ts';
import { ATTN_GATE_PARAMS, ATTN_GATE_SOURCE } from '../src/kernels/attn_gate.ts';

const KERNELS: [string, string, UniformLayout][] = [
  ['rmsnorm', RMSNORM_SOURCE, RMSNORM_PARAMS],
  ['embedding', EMBEDDING_SOURCE, EMBEDDING_PARAMS],
  ['rope', ROPE_SOURCE, ROPE_PARAMS],
  ['attention', ATTENTION_SOURCE, ATTENTION_PARAMS],
  ['swiglu', SWIGLU_SOURCE, SWIGLU_PARAMS],
  ['sample', SAMPLE_SOURCE, SAMPLE_PARAMS],
  ['qk_norm', QK_NORM_SOURCE, QK_NORM_PARAMS],
  ['shortconv', SHORTCONV_SOURCE, SHORTCONV_PARAMS],
  ['ssm', SSM_SOURCE, SSM_PARAMS],
  ['delta_net', DELTA_NET_SOURCE, DELTA_NET_PARAMS],
  ['attn_gate', ATTN_GATE_SOURCE, ATTN_GATE_PARAMS],
];

describe('uniform layouts', () => {
  it.each(KERNELS)('%s: Params matches its WGSL struct, Step is generated', (_name, source, params) => {
    expect(parseWgslStruct(source, params.structName)).toEqual(params.fields.map(([n, t]) => [n, t]));
    expect(parseWgslStruct(source, 'Step'), 'Step comes from src/gpu/step.ts, not the shader').toBeNull();
    expect(parseWgslStruct(shaderText(source), 'Step')).toEqual(STEP.fields.map(([n, t]) => [n, t]));
  });
});

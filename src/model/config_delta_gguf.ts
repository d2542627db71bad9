import { EmberError } from '../errors.ts';
import { metaNumber, type GGUFFile } from '../gguf/reader.ts';
import type { DeltaShape } from './delta_shape.ts';
import { validateDelta } from './validate.ts';

/**
 * A qwen35 file's layers (llama.cpp's reading; nLayer: block_count less the multi-token-prediction blocks after the
 * model's own, qwen35NextnLayers): attention.recurrent_layers says which layers are Gated
 * DeltaNets, else every full_attention_interval-th layer attends; the mixer's shape in ssm.* keys.
 */
export function qwen35Gguf(f: GGUFFile, arch: string, nLayer: number): { layerDelta: boolean[]; delta: DeltaShape } {
  const key = (s: string) => `${arch}.${s}`;
  const all = metaNumber(f, key('block_count'));
  const list = f.metadata.get(key('attention.recurrent_layers'));
  let layerDelta: boolean[];
  if (Array.isArray(list) || ArrayBuffer.isView(list)) {
    const flags = Array.from(list as ArrayLike<unknown>, Boolean);
    if (flags.length !== all && flags.length !== nLayer) {
      throw new EmberError('BAD_MODEL', `${f.source.name}: ${key('attention.recurrent_layers')} has ${flags.length} entries; expected ${all} (one per block)`, { field: key('attention.recurrent_layers') });
    }
    layerDelta = flags.slice(0, nLayer);
  } else {
    const every = metaNumber(f, key('full_attention_interval'), 4);
    if (!Number.isInteger(every) || every < 1) throw new EmberError('BAD_MODEL', `${f.source.name}: ${key('full_attention_interval')} is ${every}; expected a positive integer`);
    layerDelta = Array.from({ length: nLayer }, (_, l) => (l + 1) % every !== 0);
  }
  const ssm = (s: string) => metaNumber(f, key(`ssm.${s}`));
  const nVHead = ssm('time_step_rank');
  const nKHead = ssm('group_count');
  const shape = {
    nKHead, nVHead, headKDim: ssm('state_size'), headVDim: ssm('inner_size') / nVHead, convKernel: ssm('conv_kernel'),
    // llama.cpp's converter lays the value heads out tiled (k head h % nKHead serves value head h) for ggml's broadcast
    vTiled: nVHead !== nKHead,
  };
  const names = {
    nKHead: `metadata key ${key('ssm.group_count')}`, nVHead: `metadata key ${key('ssm.time_step_rank')}`, headKDim: `metadata key ${key('ssm.state_size')}`,
    headVDim: `metadata key ${key('ssm.inner_size')} over ${key('ssm.time_step_rank')}`, convKernel: `metadata key ${key('ssm.conv_kernel')}`, vTiled: 'the value heads\' order',
  };
  return { layerDelta, delta: validateDelta(shape, f.source.name, names) };
}

/** The multi-token-prediction blocks a qwen35 file's block_count counts after the model's own (emberlm does not run them). */
export const qwen35NextnLayers = (f: GGUFFile, arch: string) => (arch === 'qwen35' ? metaNumber(f, `${arch}.nextn_predict_layers`, 0) : 0);

/**
 * The buffers a forward pass writes, for passes of at most maxBatch tokens, allocated once at load (src/model/model.ts
 * builds the dispatches that read and write them): the token ids and Step uniforms, the residual stream and its norm,
 * each sublayer's activations (attention, the FFN, and where the model has them LFM2's convolutions, Mamba-2's and
 * Gated DeltaNet's mixers, Qwen3.5's attention gate, a mixture's slots), the last row, the logits and the sampled id.
 */
import type { Allocator } from '../gpu/buffers.ts';
import { STEP } from '../kernels/dispatch.ts';
import { expertGroups } from '../kernels/matmul.ts';
import type { ModelConfig } from './config.ts';
import { deltaConvDim, deltaInProj, deltaValueDim } from './delta_shape.ts';
import { ssmConvDim, ssmInner, ssmInProj } from './ssm_shape.ts';

export function allocateActivations(alloc: Allocator, c: ModelConfig, maxBatch: number) {
  const D = c.nEmbd, F = c.nFf, qDim = c.nHead * c.headDim, kvDim = c.nKv * c.headDim;
  const act = (label: string, width: number) => alloc.storage(label, maxBatch * width * 4); // (T, width) f32
  const hasConv = c.layerConv.some(Boolean);
  const ssm = c.layerSsm.some(Boolean) ? c.ssm : null;
  const inner = ssm ? ssmInner(ssm) : 0;
  const delta = c.layerDelta.some(Boolean) ? c.delta : null;
  const moe = c.layerMoe.some(Boolean) ? c.moe : null;
  return {
    act,
    ids: alloc.storage('ids', maxBatch * 4),
    step: alloc.uniform('step', STEP.size),
    stepHead: alloc.uniform('step.head', STEP.size),
    x: act('x', D), // (T, D) residual stream
    xn: act('xn', D), // (T, D) normalised
    qkv: act('qkv', qDim + 2 * kvDim), // (T, q_dim + 2*kv_dim)
    attn: act('attn', qDim), // (T, q_dim)
    gateUp: act('gate_up', 2 * F), // (T, 2F)
    hid: act('ffn_hidden', F), // (T, F)
    hasConv,
    convIn: hasConv ? act('shortconv.bcx', 3 * D) : null, // (T, 3D): B, C, x
    convOut: hasConv ? act('shortconv.y', D) : null, // (T, D)
    ssm,
    inner,
    ssmAct: ssm && { // Mamba-2 layers' activations (T, width)
      zxbcdt: act('ssm.zxbcdt', ssmInProj(ssm)), xbc: act('ssm.xbc', ssmConvDim(ssm)), y: act('ssm.y', inner), yNorm: act('ssm.y_norm', inner),
    },
    delta,
    deltaAct: delta && { // Gated DeltaNet layers' activations (T, width)
      inProj: act('delta.in_proj', deltaInProj(delta)), qkv: act('delta.qkv', deltaConvDim(delta)), y: act('delta.y', deltaValueDim(delta)),
    },
    attnGate: c.attnGate ? act('attn_gate', qDim) : null, // (T, q_dim): Qwen3.5's gate on the attention output
    moe,
    moeAct: moe && { // a mixture's activations: per token, and per token's slot (T * used rows)
      logits: act('moe.logits', moe.experts), ids: act('moe.ids', moe.used), weights: act('moe.weights', moe.used),
      hidden: act('moe.hidden', moe.used * moe.nFf), out: act('moe.out', moe.used * D),
      groups: alloc.storage('moe.groups', expertGroups(maxBatch, moe.used, moe.experts).words * 4), // the prefill's slots by expert
    },
    xLast: alloc.storage('x_last', D * 4), // (1, D)
    logits: alloc.storage('logits', c.vocab * 4), // (vocab)
    result: alloc.storage('result', 4), // (1) u32
  };
}

import type { ModelConfig } from '../model/config.ts';
import { qkNormSpans } from '../kernels/qk_norm_spans.ts';
import { ssmConvDim, ssmInner, ssmInProj } from '../model/ssm_shape.ts';
import { deltaConvDim, deltaValueDim } from '../model/delta_shape.ts';
import { ENCODER_TYPES, type HFExtra, type HFModelType } from './config.ts';
import { encoderGgufName, encoderHfName, encoderTensors } from './names_encoders.ts';

/**
 * GGUF tensor names (emberlm's canonical ones, llama.cpp's) <-> Hugging Face names. The Llama-style
 * families (llama, mistral, qwen2, qwen3, smollm3, ernie4_5, granite) share one layout; Gemma 2/3, Phi-3 and OLMo 2/3
 * rename a few tensors.
 */

const GLOBAL: ReadonlyArray<readonly [string, string]> = [
  ['token_embd.weight', 'model.embed_tokens.weight'],
  ['output.weight', 'lm_head.weight'],
  ['output_norm.weight', 'model.norm.weight'],
  ['token_embd_norm.weight', 'model.embedding_norm.weight'], // LFM2's final norm (llama.cpp's name for it)
];

const LAYER: ReadonlyArray<readonly [string, string]> = [
  ['attn_norm.weight', 'input_layernorm.weight'],
  ['attn_q.weight', 'self_attn.q_proj.weight'],
  ['attn_k.weight', 'self_attn.k_proj.weight'],
  ['attn_v.weight', 'self_attn.v_proj.weight'],
  ['attn_output.weight', 'self_attn.o_proj.weight'],
  ['attn_q.bias', 'self_attn.q_proj.bias'],
  ['attn_k.bias', 'self_attn.k_proj.bias'],
  ['attn_v.bias', 'self_attn.v_proj.bias'],
  ['attn_output.bias', 'self_attn.o_proj.bias'],
  ['attn_q_norm.weight', 'self_attn.q_norm.weight'],
  ['attn_k_norm.weight', 'self_attn.k_norm.weight'],
  ['ffn_norm.weight', 'post_attention_layernorm.weight'],
  ['ffn_gate.weight', 'mlp.gate_proj.weight'],
  ['ffn_up.weight', 'mlp.up_proj.weight'],
  ['ffn_down.weight', 'mlp.down_proj.weight'],
  ['ffn_gate_inp.weight', 'mlp.gate.weight'], // a mixture's router (Qwen3-MoE); its experts: EXPERT_GGUF
];

/**
 * A mixture's experts, one tensor each (Qwen3-MoE's mlp.experts.E.{gate,up,down}_proj, LFM2-MoE's
 * feed_forward.experts.E.{w1,w3,w2}), by the per-expert names of llama.cpp's first Mixtral files (blk.L.ffn_gate.E.weight);
 * the GGUF files of today stack them (ffn_gate_exps).
 */
const EXPERT_GGUF = /^blk\.(\d+)\.ffn_(gate|up|down)\.(\d+)\.weight$/;
type ExpertNames = { readonly under: string; readonly gate: string; readonly up: string; readonly down: string };
const EXPERT_NAMES: Partial<Record<Family, ExpertNames>> = {
  llama: { under: 'mlp.experts', gate: 'gate_proj', up: 'up_proj', down: 'down_proj' },
  lfm2: { under: 'feed_forward.experts', gate: 'w1', up: 'w3', down: 'w2' },
};
/** Expert e's tensor of a stacked GGUF name (blk.L.ffn_gate_exps.weight), as hfTensorName maps it. */
export const expertTensorName = (stacked: string, e: number) => stacked.replace(/_exps\.weight$/, `.${e}.weight`);

/** Gemma 2/3: four norms per layer; post_attention_layernorm is the attention output's norm (llama.cpp's names). */
const GEMMA_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => g !== 'ffn_norm.weight'),
  ['post_attention_norm.weight', 'post_attention_layernorm.weight'],
  ['ffn_norm.weight', 'pre_feedforward_layernorm.weight'],
  ['post_ffw_norm.weight', 'post_feedforward_layernorm.weight'],
];

/** Phi-3: q/k/v in one matrix, gate and up in one (llama.cpp keeps them fused too: ffn_up holds gate then up). */
const PHI3_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => !/^attn_[qkv]\.|^ffn_(gate|up)\./.test(g)),
  ['attn_qkv.weight', 'self_attn.qkv_proj.weight'],
  ['ffn_up.weight', 'mlp.gate_up_proj.weight'],
];

/** OLMo 2/3: no pre-norms, a norm on each sublayer's output (post_attention_layernorm, as Gemma's, is the attention's). */
const OLMO_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => g !== 'attn_norm.weight' && g !== 'ffn_norm.weight'),
  ['post_attention_norm.weight', 'post_attention_layernorm.weight'],
  ['post_ffw_norm.weight', 'post_feedforward_layernorm.weight'],
];

/** LFM2: its own names, the short-convolution layers' (conv.*) beside the attention layers'. */
const LFM2_LAYER: ReadonlyArray<readonly [string, string]> = [
  ['attn_norm.weight', 'operator_norm.weight'],
  ['attn_q.weight', 'self_attn.q_proj.weight'],
  ['attn_k.weight', 'self_attn.k_proj.weight'],
  ['attn_v.weight', 'self_attn.v_proj.weight'],
  ['attn_output.weight', 'self_attn.out_proj.weight'],
  ['attn_q_norm.weight', 'self_attn.q_layernorm.weight'],
  ['attn_k_norm.weight', 'self_attn.k_layernorm.weight'],
  ['shortconv.in_proj.weight', 'conv.in_proj.weight'],
  ['shortconv.conv.weight', 'conv.conv.weight'],
  ['shortconv.out_proj.weight', 'conv.out_proj.weight'],
  ['ffn_norm.weight', 'ffn_norm.weight'],
  ['ffn_gate.weight', 'feed_forward.w1.weight'],
  ['ffn_up.weight', 'feed_forward.w3.weight'],
  ['ffn_down.weight', 'feed_forward.w2.weight'],
  ['ffn_gate_inp.weight', 'feed_forward.gate.weight'], // LFM2-MoE's router
  ['exp_probs_b.bias', 'feed_forward.expert_bias'], // and its bias for choosing experts
];

/** Mamba-2 mixers (Granite 4.0-H, Falcon-H1) by llama.cpp's names; ssm_a holds A_log there: the reader takes -exp of it, as llama.cpp's converter. */
const SSM_LAYER: ReadonlyArray<readonly [string, string]> = [
  ['ssm_in.weight', 'mamba.in_proj.weight'],
  ['ssm_conv1d.weight', 'mamba.conv1d.weight'],
  ['ssm_conv1d.bias', 'mamba.conv1d.bias'],
  ['ssm_dt.bias', 'mamba.dt_bias'],
  ['ssm_a', 'mamba.A_log'],
  ['ssm_d', 'mamba.D'],
  ['ssm_norm.weight', 'mamba.norm.weight'],
  ['ssm_out.weight', 'mamba.out_proj.weight'],
];

/** Granite's experts (3.0/3.1's MoE models, 4.0-H-Tiny/Small's beside the shared MLP): the router and two 3-D tensors. */
const GRANITE_MOE_EXPERTS: ReadonlyArray<readonly [string, string]> = [
  ['ffn_gate_inp.weight', 'block_sparse_moe.router.layer.weight'],
  ['ffn_gate_up_exps.weight', 'block_sparse_moe.input_linear.weight'],
  ['ffn_down_exps.weight', 'block_sparse_moe.output_linear.weight'],
];

/**
 * Granite 4.0: the MLP is `shared_mlp`, gate and up in one matrix (input_linear: gate rows, then up), the experts beside
 * it where there are any (as Granite 3's: GRANITE_MOE_EXPERTS); the -H models' Mamba-2 layers.
 */
const GRANITE4_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => !/^ffn_(gate|up|down|gate_inp)\./.test(g)),
  ['ffn_up.weight', 'shared_mlp.input_linear.weight'],
  ['ffn_down.weight', 'shared_mlp.output_linear.weight'],
  ...SSM_LAYER,
  ...GRANITE_MOE_EXPERTS,
];

/**
 * Granite 3.0/3.1's mixtures (GraniteMoeForCausalLM): each layer's experts in two 3-D tensors, input_linear [E, 2F, D]
 * (each expert's gate rows, then its up rows) and output_linear [E, D, F], and the router's linear layer.
 */
const GRANITE_MOE_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => !/^ffn_(gate|up|down|gate_inp)\./.test(g)),
  ...GRANITE_MOE_EXPERTS,
];

/** Falcon-H1: attention and a Mamba-2 mixer in every layer, the FFN as `feed_forward`, its norm `pre_ff_layernorm`. */
const FALCON_H1_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => !/^ffn_/.test(g)),
  ...SSM_LAYER,
  ['ffn_norm.weight', 'pre_ff_layernorm.weight'],
  ['ffn_gate.weight', 'feed_forward.gate_proj.weight'],
  ['ffn_up.weight', 'feed_forward.up_proj.weight'],
  ['ffn_down.weight', 'feed_forward.down_proj.weight'],
];

/**
 * Qwen3.5: Llama's names for the attention layers (q_proj twice as wide: q and its output gate) and the FFN, and the
 * Gated DeltaNet layers' `linear_attn` by llama.cpp's qwen35 names (ssm_a holds A_log there, as for Mamba-2).
 */
const QWEN35_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => g !== 'ffn_norm.weight'),
  ['post_attention_norm.weight', 'post_attention_layernorm.weight'], // the FFN's pre-norm, by llama.cpp's qwen35 name
  ['attn_qkv.weight', 'linear_attn.in_proj_qkv.weight'],
  ['attn_gate.weight', 'linear_attn.in_proj_z.weight'],
  ['ssm_beta.weight', 'linear_attn.in_proj_b.weight'],
  ['ssm_alpha.weight', 'linear_attn.in_proj_a.weight'],
  ['ssm_conv1d.weight', 'linear_attn.conv1d.weight'],
  ['ssm_dt.bias', 'linear_attn.dt_bias'],
  ['ssm_a', 'linear_attn.A_log'],
  ['ssm_norm.weight', 'linear_attn.norm.weight'],
  ['ssm_out.weight', 'linear_attn.out_proj.weight'],
];

/** A LayerNorm's bias beside its weight (the pre-LayerNorm decoders': ModelConfig.preLayerNorms). */
const withBias = (pairs: ReadonlyArray<readonly [string, string]>) => pairs.flatMap(([g, h]) => [[g, h], [g.replace(/weight$/, 'bias'), h.replace(/weight$/, 'bias')]] as const);

/** Phi-1/1.5/2: one LayerNorm a layer (attention and the FFN beside it read it), dense and fc1/fc2 with biases. */
const PHI_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => /^attn_[qkv]\./.test(g)),
  ...withBias([['attn_norm.weight', 'input_layernorm.weight'], ['attn_output.weight', 'self_attn.dense.weight'], ['ffn_up.weight', 'mlp.fc1.weight'], ['ffn_down.weight', 'mlp.fc2.weight']]),
];

/** StableLM 2: Llama's names, its norms LayerNorms with biases. */
const STABLELM_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => !/^attn_norm\.|^ffn_norm\./.test(g)),
  ...withBias([['attn_norm.weight', 'input_layernorm.weight'], ['ffn_norm.weight', 'post_attention_layernorm.weight']]),
];

/** GPT-NeoX (under gpt_neox.layers.N): q|k|v in one matrix (its rows head by head: src/hf/model.ts reorders them), biases everywhere. */
const NEOX_LAYER: ReadonlyArray<readonly [string, string]> = withBias([
  ['attn_norm.weight', 'input_layernorm.weight'], ['ffn_norm.weight', 'post_attention_layernorm.weight'],
  ['attn_qkv.weight', 'attention.query_key_value.weight'], ['attn_output.weight', 'attention.dense.weight'],
  ['ffn_up.weight', 'mlp.dense_h_to_4h.weight'], ['ffn_down.weight', 'mlp.dense_4h_to_h.weight'],
]);

/** StarCoder2: Llama's attention names (biases on all four with use_bias), LayerNorms, an ungated c_fc / c_proj FFN with biases. */
const STARCODER2_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...LAYER.filter(([g]) => /^attn_(q|k|v|output)\./.test(g)),
  ...withBias([['attn_norm.weight', 'input_layernorm.weight'], ['ffn_norm.weight', 'post_attention_layernorm.weight'], ['ffn_up.weight', 'mlp.c_fc.weight'], ['ffn_down.weight', 'mlp.c_proj.weight']]),
];

/** GPT-2 (under transformer.h.N): ln_1 / ln_2, q|k|v in one c_attn, Conv1D weights stored [in, out] (src/hf/model.ts transposes them). */
const GPT2_LAYER: ReadonlyArray<readonly [string, string]> = withBias([
  ['attn_norm.weight', 'ln_1.weight'], ['attn_qkv.weight', 'attn.c_attn.weight'], ['attn_output.weight', 'attn.c_proj.weight'],
  ['ffn_norm.weight', 'ln_2.weight'], ['ffn_up.weight', 'mlp.c_fc.weight'], ['ffn_down.weight', 'mlp.c_proj.weight'],
]);

type Family = 'llama' | 'gemma' | 'phi3' | 'olmo' | 'lfm2' | 'granite4' | 'falcon_h1' | 'qwen35' | 'granitemoe' | 'phi' | 'stablelm' | 'neox' | 'starcoder2' | 'gpt2';
const FAMILY: Partial<Record<HFModelType, Family>> = {
  gemma2: 'gemma', gemma3_text: 'gemma', phi3: 'phi3', olmo2: 'olmo', olmo3: 'olmo', lfm2: 'lfm2', granitemoehybrid: 'granite4', falcon_h1: 'falcon_h1',
  qwen3_5_text: 'qwen35', qwen3_5: 'qwen35', granitemoe: 'granitemoe', lfm2_moe: 'lfm2', phi: 'phi', stablelm: 'stablelm', gpt_neox: 'neox',
  starcoder2: 'starcoder2', gpt2: 'gpt2',
};
const familyOf = (t: HFModelType | undefined): Family => (t && FAMILY[t]) || 'llama';
const twoWays = (pairs: ReadonlyArray<readonly [string, string]>) => ({ toHf: new Map(pairs), toGguf: new Map(pairs.map(([g, h]) => [h, g] as const)) });
const MAPS = Object.fromEntries(
  ([['llama', LAYER], ['gemma', GEMMA_LAYER], ['phi3', PHI3_LAYER], ['olmo', OLMO_LAYER], ['lfm2', LFM2_LAYER], ['granite4', GRANITE4_LAYER], ['falcon_h1', FALCON_H1_LAYER], ['qwen35', QWEN35_LAYER], ['granitemoe', GRANITE_MOE_LAYER],
    ['phi', PHI_LAYER], ['stablelm', STABLELM_LAYER], ['neox', NEOX_LAYER], ['starcoder2', STARCODER2_LAYER], ['gpt2', GPT2_LAYER]] as const).map(([f, layer]) => [f, twoWays(layer)]),
) as Record<Family, { toHf: Map<string, string>; toGguf: Map<string, string> }>;
/** The names outside the layers where a family has its own (the rest as GLOBAL). */
const FAMILY_GLOBAL: Partial<Record<Family, ReturnType<typeof twoWays>>> = {
  phi: twoWays(withBias([['output_norm.weight', 'model.final_layernorm.weight'], ['output.weight', 'lm_head.weight']])),
  stablelm: twoWays(withBias([['output_norm.weight', 'model.norm.weight']])),
  starcoder2: twoWays(withBias([['output_norm.weight', 'model.norm.weight']])),
  gpt2: twoWays([['token_embd.weight', 'transformer.wte.weight'], ['position_embd.weight', 'transformer.wpe.weight'], ...withBias([['output_norm.weight', 'transformer.ln_f.weight']])]),
  neox: twoWays([['token_embd.weight', 'gpt_neox.embed_in.weight'], ['output.weight', 'embed_out.weight'], ...withBias([['output_norm.weight', 'gpt_neox.final_layer_norm.weight']])]),
};
/** Where a family's layers are: model.layers.N, GPT-NeoX's gpt_neox.layers.N, GPT-2's transformer.h.N. */
const layersOf = (f: Family) => (f === 'neox' ? 'gpt_neox.layers.' : f === 'gpt2' ? 'transformer.h.' : 'model.layers.');
const GLOBAL_TO_HF = new Map(GLOBAL);
const GLOBAL_TO_GGUF = new Map(GLOBAL.map(([g, h]) => [h, g] as const));
/** Falcon-H1's final norm is `final_layernorm`. */
const FALCON_FINAL_NORM = 'model.final_layernorm.weight';

/** A checkpoint whose language model sits beside a vision tower keeps it under model.language_model (Qwen3.5's). */
const inLanguageModel = (modelType?: HFModelType) => modelType === 'qwen3_5';
const LANGUAGE_MODEL = 'model.language_model.';

/** The HF name of a GGUF tensor name in a model of this type (default: the Llama layout), or null when there is none. */
export function hfTensorName(gguf: string, modelType?: HFModelType): string | null {
  const name = textModelName(gguf, modelType);
  return name && inLanguageModel(modelType) ? name.replace(/^model\./, LANGUAGE_MODEL) : name;
}

function textModelName(gguf: string, modelType?: HFModelType): string | null {
  if (modelType && modelType in ENCODER_TYPES) return encoderHfName(gguf, modelType);
  if (modelType === 'falcon_h1' && gguf === 'output_norm.weight') return FALCON_FINAL_NORM;
  const ex = EXPERT_GGUF.exec(gguf);
  const en = EXPERT_NAMES[familyOf(modelType)];
  if (ex && en) return `model.layers.${ex[1]}.${en.under}.${ex[3]}.${en[ex[2] as 'gate' | 'up' | 'down']}.weight`;
  const family = familyOf(modelType);
  const g = FAMILY_GLOBAL[family]?.toHf.get(gguf) ?? GLOBAL_TO_HF.get(gguf);
  if (g) return g;
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  const rest = m && MAPS[family].toHf.get(m[2]);
  return rest ? `${layersOf(family)}${m[1]}.${rest}` : null;
}

/** An expert's HF tensor name (model.layers.L.<under>.E.<name>.weight) as GGUF's per-expert name; null for any other. */
function expertOf(hf: string, en: ExpertNames | undefined): string | null {
  const m = en && /^model\.layers\.(\d+)\.(.+)\.(\d+)\.(\w+)\.weight$/.exec(hf);
  const which = m && m[2] === en!.under ? (['gate', 'up', 'down'] as const).find((k) => en![k] === m[4]) : undefined;
  return which ? `blk.${m![1]}.ffn_${which}.${m![3]}.weight` : null;
}

/** The GGUF name of an HF tensor name in a model of this type (default: the Llama layout), or null when there is none. */
export function ggufTensorName(hf: string, modelType?: HFModelType): string | null {
  if (inLanguageModel(modelType)) {
    if (!hf.startsWith(LANGUAGE_MODEL) && hf !== 'lm_head.weight') return null; // the vision tower's, the MTP head's
    hf = hf.replace(LANGUAGE_MODEL, 'model.');
  }
  if (modelType === 'falcon_h1' && hf === FALCON_FINAL_NORM) return 'output_norm.weight';
  if (modelType && modelType in ENCODER_TYPES) return encoderGgufName(hf, modelType);
  const ex = expertOf(hf, EXPERT_NAMES[familyOf(modelType)]);
  if (ex) return ex;
  const family = familyOf(modelType);
  const g = FAMILY_GLOBAL[family]?.toGguf.get(hf) ?? GLOBAL_TO_GGUF.get(hf);
  if (g) return g;
  const layers = layersOf(family);
  const m = hf.startsWith(layers) ? /^(\d+)\.(.+)$/.exec(hf.slice(layers.length)) : null;
  const rest = m && MAPS[family].toGguf.get(m[2]);
  return rest ? `blk.${m[1]}.${rest}` : null;
}

/** A tensor the forward pass reads: its GGUF name and HF shape ([rows, cols] for matrices, [n] for vectors). */
export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Every tensor a model with this config must have, in GGUF names. */
export function expectedTensors(c: ModelConfig, extra: Pick<HFExtra, 'qkNorm' | 'modelType'>): ExpectedTensor[] {
  if (c.postLayerNorms || c.layerNorms || c.arch === 't5') return encoderTensors(c);
  if (c.preLayerNorms) return layerNormTensors(c, extra.modelType);
  const fused = c.arch === 'phi3';
  const fusedFfn = fused || extra.modelType === 'granitemoehybrid';
  const granite = extra.modelType === 'granitemoe' || extra.modelType === 'granitemoehybrid'; // (experts in 3-D tensors)
  const D = c.nEmbd, F = c.nFf, qDim = c.nHead * c.headDim, kvDim = c.nKv * c.headDim;
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', shape: [c.vocab, D] },
    { name: c.arch === 'lfm2' ? 'token_embd_norm.weight' : 'output_norm.weight', shape: [D] },
  ];
  if (!c.tiedEmbeddings) out.push({ name: 'output.weight', shape: [c.vocab, D] });
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    const ffn = (): ExpectedTensor[] => {
      const experts = c.layerMoe[i] && c.moe ? expertTensors(b, D, c.moe, granite) : [];
      if (c.layerMoe[i] && !c.moe?.sharedExpert) return experts;
      return [...experts, ...denseFfn()]; // (a shared expert: the dense FFN beside them)
    };
    const denseFfn = (): ExpectedTensor[] => {
      if (fusedFfn) return [{ name: `${b}ffn_up.weight`, shape: [2 * F, D] }, { name: `${b}ffn_down.weight`, shape: [D, F] }];
      return [{ name: `${b}ffn_gate.weight`, shape: [F, D] }, { name: `${b}ffn_up.weight`, shape: [F, D] }, { name: `${b}ffn_down.weight`, shape: [D, F] }];
    };
    if (c.layerConv[i]) {
      out.push(
        { name: `${b}attn_norm.weight`, shape: [D] },
        { name: `${b}shortconv.in_proj.weight`, shape: [3 * D, D] },
        { name: `${b}shortconv.conv.weight`, shape: [D, c.convKernel] }, // HF's [D, 1, taps]
        { name: `${b}shortconv.out_proj.weight`, shape: [D, D] },
        { name: `${b}ffn_norm.weight`, shape: [D] },
        ...ffn(),
      );
      continue;
    }
    if (c.layerSsm[i] && c.ssm) {
      const m = c.ssm, inner = ssmInner(m), convDim = ssmConvDim(m);
      out.push(
        { name: `${b}ssm_in.weight`, shape: [ssmInProj(m), D] },
        { name: `${b}ssm_conv1d.weight`, shape: [convDim, m.convKernel] }, // HF's [convDim, 1, taps]
        { name: `${b}ssm_conv1d.bias`, shape: [convDim] },
        { name: `${b}ssm_dt.bias`, shape: [m.nHead] },
        { name: `${b}ssm_a`, shape: [m.nHead, 1] },
        { name: `${b}ssm_d`, shape: [m.nHead, 1] },
        { name: `${b}ssm_out.weight`, shape: [D, inner] },
      );
      if (m.gatedNorm) out.push({ name: `${b}ssm_norm.weight`, shape: [m.nGroup, inner / m.nGroup] });
      if (!c.ssmBesideAttention) {
        out.push({ name: `${b}attn_norm.weight`, shape: [D] }, { name: `${b}ffn_norm.weight`, shape: [D] }, ...ffn());
        continue;
      }
    }
    if (c.layerDelta[i] && c.delta) {
      const m = c.delta, convDim = deltaConvDim(m), valueDim = deltaValueDim(m);
      out.push(
        { name: `${b}attn_norm.weight`, shape: [D] },
        { name: `${b}attn_qkv.weight`, shape: [convDim, D] },
        { name: `${b}attn_gate.weight`, shape: [valueDim, D] },
        { name: `${b}ssm_beta.weight`, shape: [m.nVHead, D] },
        { name: `${b}ssm_alpha.weight`, shape: [m.nVHead, D] },
        { name: `${b}ssm_conv1d.weight`, shape: [convDim, m.convKernel] }, // HF's [convDim, 1, taps]
        { name: `${b}ssm_dt.bias`, shape: [m.nVHead] },
        { name: `${b}ssm_a`, shape: [m.nVHead] },
        { name: `${b}ssm_norm.weight`, shape: [m.headVDim] },
        { name: `${b}ssm_out.weight`, shape: [D, valueDim] },
        { name: `${b}post_attention_norm.weight`, shape: [D] }, // (llama.cpp's qwen35 name for the FFN's pre-norm)
        { name: `${b}ffn_gate.weight`, shape: [F, D] },
        { name: `${b}ffn_up.weight`, shape: [F, D] },
        { name: `${b}ffn_down.weight`, shape: [D, F] },
      );
      continue;
    }
    out.push({ name: `${b}attn_output.weight`, shape: [D, qDim] });
    if (c.preNorms) out.push({ name: `${b}attn_norm.weight`, shape: [D] }, { name: `${b}${c.arch === 'qwen35' ? 'post_attention_norm' : 'ffn_norm'}.weight`, shape: [D] });
    if (fused) out.push({ name: `${b}attn_qkv.weight`, shape: [qDim + 2 * kvDim, D] });
    else out.push({ name: `${b}attn_q.weight`, shape: [c.attnGate ? 2 * qDim : qDim, D] }, { name: `${b}attn_k.weight`, shape: [kvDim, D] }, { name: `${b}attn_v.weight`, shape: [kvDim, D] });
    out.push(...ffn());
    if (c.postNorms) out.push({ name: `${b}post_attention_norm.weight`, shape: [D] }, { name: `${b}post_ffw_norm.weight`, shape: [D] });
    if (c.qkvBias) {
      out.push({ name: `${b}attn_q.bias`, shape: [qDim] }, { name: `${b}attn_k.bias`, shape: [kvDim] }, { name: `${b}attn_v.bias`, shape: [kvDim] });
    }
    const [qNorm, kNorm] = qkNormSpans(c, c.qkNormAllHeads);
    if (extra.qkNorm) out.push({ name: `${b}attn_q_norm.weight`, shape: [qNorm] }, { name: `${b}attn_k_norm.weight`, shape: [kNorm] });
  }
  return out;
}

/** A mixture's router and each expert's gate, up and down, by the names hfTensorName maps. */
function expertTensors(b: string, D: number, m: NonNullable<ModelConfig['moe']>, fused: boolean): ExpectedTensor[] {
  const out: ExpectedTensor[] = [{ name: `${b}ffn_gate_inp.weight`, shape: [m.experts, D] }];
  if (m.selectionBias) out.push({ name: `${b}exp_probs_b.bias`, shape: [m.experts] });
  if (fused) { // Granite's: [experts, rows, cols]
    out.push({ name: `${b}ffn_gate_up_exps.weight`, shape: [m.experts, 2 * m.nFf, D] }, { name: `${b}ffn_down_exps.weight`, shape: [m.experts, D, m.nFf] });
    return out;
  }
  for (let e = 0; e < m.experts; e++) {
    out.push({ name: `${b}ffn_gate.${e}.weight`, shape: [m.nFf, D] }, { name: `${b}ffn_up.${e}.weight`, shape: [m.nFf, D] }, { name: `${b}ffn_down.${e}.weight`, shape: [D, m.nFf] });
  }
  return out;
}

/**
 * The pre-LayerNorm decoders' tensors (Phi, StableLM, GPT-NeoX, StarCoder2, GPT-2): each norm's weight and bias;
 * GPT-NeoX's and GPT-2's fused q|k|v; the biases each family has (Phi's and GPT-2's on every projection, Phi's LM head
 * too; GPT-NeoX's on all but its LM head with attention_bias, its FFN's always; StarCoder2's on all with use_bias;
 * StableLM's on q|k|v with use_qkv_bias); GPT-2's learned positions, and its Conv1D weights as stored, [in, out].
 */
function layerNormTensors(c: ModelConfig, modelType: HFModelType): ExpectedTensor[] {
  const D = c.nEmbd, F = c.nFf, qDim = c.nHead * c.headDim, kvDim = c.nKv * c.headDim;
  const phi = modelType === 'phi', neox = modelType === 'gpt_neox', gpt2 = modelType === 'gpt2';
  const oBias = phi || gpt2 || ((neox || modelType === 'starcoder2') && c.qkvBias);
  const ffnBias = phi || gpt2 || neox || (modelType === 'starcoder2' && c.qkvBias);
  const norm = (name: string) => [{ name: `${name}.weight`, shape: [D] }, { name: `${name}.bias`, shape: [D] }];
  // (GPT-2's Conv1D weights are stored transposed, [in, out])
  const linear = (name: string, rows: number, cols: number, bias: boolean) => [{ name: `${name}.weight`, shape: gpt2 ? [cols, rows] : [rows, cols] }, ...(bias ? [{ name: `${name}.bias`, shape: [rows] }] : [])];
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', shape: [c.vocab, D] }, ...norm('output_norm')];
  if (c.learnedPositions) out.push({ name: 'position_embd.weight', shape: [c.contextTrain, D] });
  if (!c.tiedEmbeddings) out.push({ name: 'output.weight', shape: [c.vocab, D] }, ...(phi ? [{ name: 'output.bias', shape: [c.vocab] }] : []));
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(...norm(`${b}attn_norm`), ...(c.parallelFfn === 'shared' ? [] : norm(`${b}ffn_norm`)));
    if (neox || gpt2) out.push(...linear(`${b}attn_qkv`, qDim + 2 * kvDim, D, c.qkvBias));
    else out.push(...linear(`${b}attn_q`, qDim, D, c.qkvBias), ...linear(`${b}attn_k`, kvDim, D, c.qkvBias), ...linear(`${b}attn_v`, kvDim, D, c.qkvBias));
    out.push(...linear(`${b}attn_output`, D, qDim, oBias));
    if (c.ffnGated) out.push(...linear(`${b}ffn_gate`, F, D, false), ...linear(`${b}ffn_up`, F, D, false), ...linear(`${b}ffn_down`, D, F, false));
    else out.push(...linear(`${b}ffn_up`, F, D, ffnBias), ...linear(`${b}ffn_down`, D, F, ffnBias));
  }
  return out;
}

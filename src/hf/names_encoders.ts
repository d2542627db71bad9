/**
 * The encoders' tensor names both ways (BERT, RoBERTa/XLM-R, DistilBERT, MPNet, T5, ModernBERT, nomic-bert, GTE, jina-bert-v2, DeBERTa: llama.cpp's names <->
 * their checkpoints' own), and the tensors each must have: src/hf/names.ts's lookups for ENCODER_TYPES.
 */
import type { ModelConfig } from '../model/config.ts';
import type { HFModelType } from './config.ts';
import type { ExpectedTensor } from './names.ts';

/**
 * BERT (BertModel, as sentence-transformers saves it: no `bert.` prefix; BertFor* checkpoints' `bert.` is taken off at
 * load): `embeddings.*` and `encoder.layer.N.*`, by llama.cpp's bert names. The pooler is not read.
 */
const BERT_GLOBAL: ReadonlyArray<readonly [string, string]> = [
  ['token_embd.weight', 'embeddings.word_embeddings.weight'],
  ['position_embd.weight', 'embeddings.position_embeddings.weight'],
  ['token_types.weight', 'embeddings.token_type_embeddings.weight'],
  ['token_embd_norm.weight', 'embeddings.LayerNorm.weight'],
  ['token_embd_norm.bias', 'embeddings.LayerNorm.bias'],
  // a cross-encoder's (BertForSequenceClassification) pooler and classifier, by llama.cpp's names for a reranker's head
  ['cls.weight', 'pooler.dense.weight'],
  ['cls.bias', 'pooler.dense.bias'],
  ['cls.output.weight', 'classifier.weight'],
  ['cls.output.bias', 'classifier.bias'],
];
const BERT_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...(['weight', 'bias'] as const).flatMap((p) => [
    [`attn_q.${p}`, `attention.self.query.${p}`],
    [`attn_k.${p}`, `attention.self.key.${p}`],
    [`attn_v.${p}`, `attention.self.value.${p}`],
    [`attn_output.${p}`, `attention.output.dense.${p}`],
    [`attn_output_norm.${p}`, `attention.output.LayerNorm.${p}`],
    [`ffn_up.${p}`, `intermediate.dense.${p}`],
    [`ffn_down.${p}`, `output.dense.${p}`],
    [`layer_output_norm.${p}`, `output.LayerNorm.${p}`],
  ] as const),
];
const BERT_TO_HF = new Map(BERT_GLOBAL);

/** RoBERTa's sequence classifier (RobertaClassificationHead): its dense layer and out_proj, over <s>, by the same names. */
const ROBERTA_HEAD: ReadonlyArray<readonly [string, string]> = [
  ['cls.weight', 'classifier.dense.weight'],
  ['cls.bias', 'classifier.dense.bias'],
  ['cls.output.weight', 'classifier.out_proj.weight'],
  ['cls.output.bias', 'classifier.out_proj.bias'],
];
const ROBERTA_TO_HF = new Map([...BERT_GLOBAL.filter(([g]) => !g.startsWith('cls.')), ...ROBERTA_HEAD]);

/** DistilBERT: BERT's embeddings (no token types) and `transformer.layer.N.*` by its own names. */
const DISTILBERT_LAYER: ReadonlyArray<readonly [string, string]> = (['weight', 'bias'] as const).flatMap((p) => [
  [`attn_q.${p}`, `attention.q_lin.${p}`],
  [`attn_k.${p}`, `attention.k_lin.${p}`],
  [`attn_v.${p}`, `attention.v_lin.${p}`],
  [`attn_output.${p}`, `attention.out_lin.${p}`],
  [`attn_output_norm.${p}`, `sa_layer_norm.${p}`],
  [`ffn_up.${p}`, `ffn.lin1.${p}`],
  [`ffn_down.${p}`, `ffn.lin2.${p}`],
  [`layer_output_norm.${p}`, `output_layer_norm.${p}`],
] as const);

/**
 * MPNet (MPNetModel; MPNetFor* checkpoints' `mpnet.` is taken off at load): BERT's embeddings without token types, its
 * layers under names of their own, and the relative position bias every layer adds (T5's `attn_rel_b` in llama.cpp's names).
 */
const MPNET_GLOBAL = new Map([
  ...BERT_GLOBAL.filter(([g]) => g.startsWith('token_embd') || g === 'position_embd.weight'),
  ['attn_rel_b.weight', 'encoder.relative_attention_bias.weight'],
]);
const MPNET_LAYER: ReadonlyArray<readonly [string, string]> = (['weight', 'bias'] as const).flatMap((p) => [
  [`attn_q.${p}`, `attention.attn.q.${p}`],
  [`attn_k.${p}`, `attention.attn.k.${p}`],
  [`attn_v.${p}`, `attention.attn.v.${p}`],
  [`attn_output.${p}`, `attention.attn.o.${p}`],
  [`attn_output_norm.${p}`, `attention.LayerNorm.${p}`],
  [`ffn_up.${p}`, `intermediate.dense.${p}`],
  [`ffn_down.${p}`, `output.dense.${p}`],
  [`layer_output_norm.${p}`, `output.LayerNorm.${p}`],
] as const);

/**
 * T5's encoder (T5EncoderModel, or a whole T5 checkpoint's encoder: its `encoder.` is taken off at load, the decoder not
 * read), by llama.cpp's t5 names: the embedding table is `shared`, layer 0's attention holds the relative bias table
 * every layer reads. The FFN's up projection is v1.0's `wi`, or v1.1's `wi_1` beside its gate `wi_0` (read as `wi`: src/hf/model.ts).
 */
const T5_GLOBAL = new Map([
  ['token_embd.weight', 'shared.weight'],
  ['output_norm.weight', 'final_layer_norm.weight'],
  ['attn_rel_b.weight', 'block.0.layer.0.SelfAttention.relative_attention_bias.weight'],
]);
const T5_LAYER: ReadonlyArray<readonly [string, string]> = [
  ['attn_norm.weight', 'layer.0.layer_norm.weight'],
  ['attn_q.weight', 'layer.0.SelfAttention.q.weight'],
  ['attn_k.weight', 'layer.0.SelfAttention.k.weight'],
  ['attn_v.weight', 'layer.0.SelfAttention.v.weight'],
  ['attn_output.weight', 'layer.0.SelfAttention.o.weight'],
  ['ffn_norm.weight', 'layer.1.layer_norm.weight'],
  ['ffn_gate.weight', 'layer.1.DenseReluDense.wi_0.weight'],
  ['ffn_up.weight', 'layer.1.DenseReluDense.wi.weight'],
  ['ffn_down.weight', 'layer.1.DenseReluDense.wo.weight'],
];

/** ModernBERT (ModernBertModel; ModernBertFor* checkpoints' `model.` is taken off at load), by llama.cpp's modern-bert names. */
const MODERNBERT_GLOBAL = new Map([
  ['token_embd.weight', 'embeddings.tok_embeddings.weight'],
  ['token_embd_norm.weight', 'embeddings.norm.weight'],
  ['output_norm.weight', 'final_norm.weight'],
  // a cross-encoder's (ModernBertForSequenceClassification) head and classifier, by llama.cpp's names
  ['cls.weight', 'head.dense.weight'],
  ['cls.bias', 'head.dense.bias'],
  ['cls.norm.weight', 'head.norm.weight'],
  ['cls.output.weight', 'classifier.weight'],
  ['cls.output.bias', 'classifier.bias'],
]);
const MODERNBERT_LAYER: ReadonlyArray<readonly [string, string]> = [
  ['attn_norm.weight', 'attn_norm.weight'], // (none in the first layer)
  ['attn_qkv.weight', 'attn.Wqkv.weight'],
  ['attn_output.weight', 'attn.Wo.weight'],
  ['ffn_norm.weight', 'mlp_norm.weight'],
  ['ffn_up.weight', 'mlp.Wi.weight'], // (2F rows: the GELU's input, then its gate, as Phi-3's gate_up_proj)
  ['ffn_down.weight', 'mlp.Wo.weight'],
];

/** nomic-bert (contrastors' NomicBertModel: nomic-embed-text), by llama.cpp's nomic-bert names. */
const NOMIC_GLOBAL = new Map([
  ['token_embd.weight', 'embeddings.word_embeddings.weight'],
  ['token_types.weight', 'embeddings.token_type_embeddings.weight'],
  ['token_embd_norm.weight', 'emb_ln.weight'],
  ['token_embd_norm.bias', 'emb_ln.bias'],
]);
const NOMIC_LAYER: ReadonlyArray<readonly [string, string]> = [
  ['attn_qkv.weight', 'attn.Wqkv.weight'],
  ['attn_output.weight', 'attn.out_proj.weight'],
  ['attn_output_norm.weight', 'norm1.weight'],
  ['attn_output_norm.bias', 'norm1.bias'],
  ['ffn_up.weight', 'mlp.fc11.weight'],
  ['ffn_gate.weight', 'mlp.fc12.weight'], // (the SiLU's input: h = fc11(x) * silu(fc12(x)))
  ['ffn_down.weight', 'mlp.fc2.weight'],
  ['layer_output_norm.weight', 'norm2.weight'],
  ['layer_output_norm.bias', 'norm2.bias'],
];

/**
 * GTE v1.5 (NewModel as Alibaba-NLP and transformers save it; NewFor*'s `new.` and GteFor*'s `gte.` taken off at load): BERT's
 * embeddings without positions, fused q|k|v with its bias. up_gate_proj (up's rows, then the gate's) is read as its two
 * halves, `mlp.up_proj` and `mlp.gate_proj` (src/hf/model.ts).
 */
const GTE_GLOBAL = new Map(BERT_GLOBAL.filter(([g]) => g !== 'position_embd.weight'));
const GTE_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...(['weight', 'bias'] as const).flatMap((p) => [
    [`attn_qkv.${p}`, `attention.qkv_proj.${p}`],
    [`attn_output.${p}`, `attention.o_proj.${p}`],
    [`attn_output_norm.${p}`, `attn_ln.${p}`],
    [`ffn_down.${p}`, `mlp.down_proj.${p}`],
    [`layer_output_norm.${p}`, `mlp_ln.${p}`],
  ] as const),
  ['ffn_up.weight', 'mlp.up_proj.weight'],
  ['ffn_gate.weight', 'mlp.gate_proj.weight'], // (the GELU's input: h = up(x) * gelu(gate(x)))
];

/**
 * jina-bert-v2 (JinaBertModel; JinaBertFor*'s `bert.` taken off at load), by llama.cpp's jina-bert-v2 names: BERT's
 * embeddings without positions and its attention, a GeGLU FFN (mlp.gated_layers: the gate's rows, then up's, as ffn_up
 * of 2F rows), mlp.wo and mlp.layernorm.
 */
const JINA_GLOBAL = new Map(BERT_GLOBAL.filter(([g]) => g !== 'position_embd.weight' && !g.startsWith('cls')));
const JINA_LAYER: ReadonlyArray<readonly [string, string]> = [
  ...BERT_LAYER.filter(([g]) => g.startsWith('attn_')),
  ['ffn_up.weight', 'mlp.gated_layers.weight'],
  ...(['weight', 'bias'] as const).flatMap((p) => [[`ffn_down.${p}`, `mlp.wo.${p}`], [`layer_output_norm.${p}`, `mlp.layernorm.${p}`]] as const),
];

/**
 * DeBERTa-v2/v3 (DebertaV2Model; DebertaV2For*'s `deberta.` taken off at load): BERT's embeddings without positions or
 * token types, the relative rows and their LayerNorm (rel_embd, rel_embd_norm: names of emberlm's own, llama.cpp has no
 * DeBERTa), BERT's layers with query_proj / key_proj / value_proj, and a cross-encoder's ContextPooler and classifier.
 */
const DEBERTA_GLOBAL = new Map<string, string>([
  ...BERT_GLOBAL.filter(([g]) => g.startsWith('token_embd') || g.startsWith('cls')),
  ['rel_embd.weight', 'encoder.rel_embeddings.weight'],
  ['rel_embd_norm.weight', 'encoder.LayerNorm.weight'],
  ['rel_embd_norm.bias', 'encoder.LayerNorm.bias'],
]);
const DEBERTA_LAYER: ReadonlyArray<readonly [string, string]> = BERT_LAYER.map(([g, h]) => [g, h.replace(/^attention\.self\.(query|key|value)\./, 'attention.self.$1_proj.')]);

/**
 * jina-embeddings-v3 (JinaEmbeddingsV3Model as transformers saves it, jinaai/jina-embeddings-v3-hf: the original
 * XLMRobertaLoRA's names), by GTE's GGUF names: the embeddings' norm emb_ln, a fused mixer.Wqkv, out_proj, norm1 after
 * attention, an ungated fc1 / fc2 with biases, norm2 after the FFN.
 */
const JINA_V3_GLOBAL = new Map<string, string>([
  ...BERT_GLOBAL.filter(([g]) => g === 'token_embd.weight' || g === 'token_types.weight'),
  ['token_embd_norm.weight', 'emb_ln.weight'],
  ['token_embd_norm.bias', 'emb_ln.bias'],
]);
const JINA_V3_LAYER: ReadonlyArray<readonly [string, string]> = (['weight', 'bias'] as const).flatMap((p) => [
  [`attn_qkv.${p}`, `mixer.Wqkv.${p}`],
  [`attn_output.${p}`, `mixer.out_proj.${p}`],
  [`attn_output_norm.${p}`, `norm1.${p}`],
  [`ffn_up.${p}`, `mlp.fc1.${p}`],
  [`ffn_down.${p}`, `mlp.fc2.${p}`],
  [`layer_output_norm.${p}`, `norm2.${p}`],
] as const);

/** An encoder model_type's names both ways: its global tensors, its layers' prefix and their names. */
interface BertLayout {
  readonly toHf: ReadonlyMap<string, string>;
  readonly toGguf: ReadonlyMap<string, string>;
  readonly layers: string;
  readonly layerToHf: ReadonlyMap<string, string>;
  readonly layerToGguf: ReadonlyMap<string, string>;
}
const bertLayout = (global: ReadonlyMap<string, string>, layers: string, layer: ReadonlyArray<readonly [string, string]>): BertLayout => ({
  toHf: global, toGguf: new Map([...global].map(([g, h]) => [h, g] as const)), layers,
  layerToHf: new Map(layer), layerToGguf: new Map(layer.map(([g, h]) => [h, g] as const)),
});
const BERT_LAYOUT = bertLayout(BERT_TO_HF, 'encoder.layer', BERT_LAYER);
const ROBERTA_LAYOUT = bertLayout(ROBERTA_TO_HF, 'encoder.layer', BERT_LAYER);
const DISTILBERT_LAYOUT = bertLayout(BERT_TO_HF, 'transformer.layer', DISTILBERT_LAYER);
const MODERNBERT_LAYOUT = bertLayout(MODERNBERT_GLOBAL, 'layers', MODERNBERT_LAYER);
const NOMIC_LAYOUT = bertLayout(NOMIC_GLOBAL, 'encoder.layers', NOMIC_LAYER);
const MPNET_LAYOUT = bertLayout(MPNET_GLOBAL, 'encoder.layer', MPNET_LAYER);
const T5_LAYOUT = bertLayout(T5_GLOBAL, 'block', T5_LAYER);
const GTE_LAYOUT = bertLayout(GTE_GLOBAL, 'encoder.layer', GTE_LAYER);
const JINA_LAYOUT = bertLayout(JINA_GLOBAL, 'encoder.layer', JINA_LAYER);
const DEBERTA_LAYOUT = bertLayout(DEBERTA_GLOBAL, 'encoder.layer', DEBERTA_LAYER);
const JINA_V3_LAYOUT = bertLayout(JINA_V3_GLOBAL, 'encoder.layers', JINA_V3_LAYER);
const LAYOUTS: Partial<Record<HFModelType, BertLayout>> = {
  electra: ROBERTA_LAYOUT, // (ELECTRA's head: classifier.dense and out_proj, as RoBERTa's)
  bert: BERT_LAYOUT, distilbert: DISTILBERT_LAYOUT, modernbert: MODERNBERT_LAYOUT, nomic_bert: NOMIC_LAYOUT, mpnet: MPNET_LAYOUT, t5: T5_LAYOUT, new: GTE_LAYOUT, gte: GTE_LAYOUT, jina_bert: JINA_LAYOUT, 'deberta-v2': DEBERTA_LAYOUT, jina_embeddings_v3: JINA_V3_LAYOUT,
};
const layoutOf = (t: HFModelType): BertLayout => LAYOUTS[t] ?? ROBERTA_LAYOUT;

export function encoderHfName(gguf: string, t: HFModelType): string | null {
  const l = layoutOf(t);
  const g = l.toHf.get(gguf);
  if (g) return g;
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  const rest = m && l.layerToHf.get(m[2]);
  return rest ? `${l.layers}.${m[1]}.${rest}` : null;
}

export function encoderGgufName(hf: string, t: HFModelType): string | null {
  const l = layoutOf(t);
  const g = l.toGguf.get(hf);
  if (g) return g;
  const m = /^(.+)\.(\d+)\.(.+)$/.exec(hf);
  const rest = m && m[1] === l.layers ? l.layerToGguf.get(m[3]) : undefined;
  return rest ? `blk.${m![2]}.${rest}` : null;
}

/** Every tensor an encoder must have, in GGUF names, by its layout. */
export const encoderTensors = (c: ModelConfig): ExpectedTensor[] =>
  (c.arch === 't5' ? t5Tensors(c) : c.layerNorms ? modernBertTensors(c) : c.learnedPositions || c.alibiMaxBias > 0 || c.disentangled ? bertTensors(c) : ropeBertTensors(c));

/** T5's encoder's tensors: RMSNorm weights, q/k/v/o without biases, the FFN's up (and v1.1's gate) and down, the relative bias table. */
function t5Tensors(c: ModelConfig): ExpectedTensor[] {
  const D = c.nEmbd, F = c.nFf, inner = c.nHead * c.headDim;
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', shape: [c.vocab, D] }, { name: 'output_norm.weight', shape: [D] }, { name: 'attn_rel_b.weight', shape: [c.relativeBias!.buckets, c.nHead] }];
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push({ name: `${b}attn_norm.weight`, shape: [D] }, ...['q', 'k', 'v'].map((p) => ({ name: `${b}attn_${p}.weight`, shape: [inner, D] })), { name: `${b}attn_output.weight`, shape: [D, inner] });
    out.push({ name: `${b}ffn_norm.weight`, shape: [D] }, ...(c.ffnGated ? [{ name: `${b}ffn_gate.weight`, shape: [F, D] }] : []), { name: `${b}ffn_up.weight`, shape: [F, D] }, { name: `${b}ffn_down.weight`, shape: [D, F] });
  }
  return out;
}

/** ModernBERT's tensors: fused q|k|v and GELU input|gate, LayerNorm weights only, no attn_norm in the first layer. */
function modernBertTensors(c: ModelConfig): ExpectedTensor[] {
  const D = c.nEmbd, F = c.nFf;
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', shape: [c.vocab, D] }, { name: 'token_embd_norm.weight', shape: [D] }, { name: 'output_norm.weight', shape: [D] }];
  // a cross-encoder's head (its dense layer's bias where classifier_bias is true) and classifier
  if (c.pooling === 'rank') out.push({ name: 'cls.weight', shape: [D, D] }, { name: 'cls.norm.weight', shape: [D] }, { name: 'cls.output.weight', shape: [1, D] }, { name: 'cls.output.bias', shape: [1] });
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    if (i > 0) out.push({ name: `${b}attn_norm.weight`, shape: [D] });
    out.push(
      { name: `${b}attn_qkv.weight`, shape: [3 * D, D] },
      { name: `${b}attn_output.weight`, shape: [D, D] },
      { name: `${b}ffn_norm.weight`, shape: [D] },
      { name: `${b}ffn_up.weight`, shape: [2 * F, D] },
      { name: `${b}ffn_down.weight`, shape: [D, F] },
    );
  }
  return out;
}

/**
 * nomic-bert's, GTE's and jina-embeddings-v3's tensors: BERT's embeddings without positions (nomic-bert's token types
 * always, GTE's where it has any), fused q|k|v, a gated FFN (jina-embeddings-v3's ungated), LayerNorms with biases; GTE's
 * biases on q|k|v, o and down (qkvBias; jina-embeddings-v3's on up too), and its cross-encoder's head.
 */
function ropeBertTensors(c: ModelConfig): ExpectedTensor[] {
  const D = c.nEmbd, F = c.nFf;
  const norm = (name: string): ExpectedTensor[] => [{ name: `${name}.weight`, shape: [D] }, { name: `${name}.bias`, shape: [D] }];
  const linear = (name: string, rows: number, cols: number): ExpectedTensor[] => [{ name: `${name}.weight`, shape: [rows, cols] }, ...(c.qkvBias ? [{ name: `${name}.bias`, shape: [rows] }] : [])];
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', shape: [c.vocab, D] }, ...(c.tokenTypes > 0 ? [{ name: 'token_types.weight', shape: [c.tokenTypes, D] }] : []), ...norm('token_embd_norm')];
  if (c.pooling === 'rank') out.push(...linear('cls', D, D), ...linear('cls.output', 1, D));
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(...linear(`${b}attn_qkv`, 3 * D, D), ...linear(`${b}attn_output`, D, D), ...norm(`${b}attn_output_norm`));
    // (jina-embeddings-v3's FFN is ungated, fc1 with a bias)
    const up = c.ffnGated ? [{ name: `${b}ffn_up.weight`, shape: [F, D] }, { name: `${b}ffn_gate.weight`, shape: [F, D] }] : linear(`${b}ffn_up`, F, D);
    out.push(...up, ...linear(`${b}ffn_down`, D, F), ...norm(`${b}layer_output_norm`));
  }
  return out;
}

/**
 * BERT's tensors (encoderHfName's): embeddings with positions and token types, and post-norm layers with biases
 * everywhere; jina-bert-v2's without positions (ALiBi), its GeGLU's gate and up in one ffn_up of 2F rows without a bias.
 */
function bertTensors(c: ModelConfig): ExpectedTensor[] {
  const D = c.nEmbd, F = c.nFf;
  const both = (name: string, rows: number, cols: number): ExpectedTensor[] => [{ name: `${name}.weight`, shape: [rows, cols] }, { name: `${name}.bias`, shape: [rows] }];
  const norm = (name: string): ExpectedTensor[] => [{ name: `${name}.weight`, shape: [D] }, { name: `${name}.bias`, shape: [D] }];
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', shape: [c.vocab, D] },
    ...(c.learnedPositions ? [{ name: 'position_embd.weight', shape: [c.positionOffset + c.contextTrain, D] }] : []),
    ...(c.tokenTypes > 0 ? [{ name: 'token_types.weight', shape: [c.tokenTypes, D] }] : []), // (DistilBERT and MPNet have none)
    ...(c.relativeBias ? [{ name: 'attn_rel_b.weight', shape: [c.relativeBias.buckets, c.nHead] }] : []),
    ...(c.disentangled ? [{ name: 'rel_embd.weight', shape: [2 * c.disentangled.buckets, D] }, ...norm('rel_embd_norm')] : []),
    ...norm('token_embd_norm'),
    // a cross-encoder's head: the pooler's dense layer over [CLS], the classifier to one logit
    ...(c.pooling === 'rank' ? [...both('cls', D, D), ...both('cls.output', 1, D)] : []),
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const b = `blk.${i}.`;
    out.push(...both(`${b}attn_q`, D, D), ...both(`${b}attn_k`, D, D), ...both(`${b}attn_v`, D, D), ...both(`${b}attn_output`, D, D), ...norm(`${b}attn_output_norm`));
    out.push(...(c.ffnGated ? [{ name: `${b}ffn_up.weight`, shape: [2 * F, D] }] : both(`${b}ffn_up`, F, D)), ...both(`${b}ffn_down`, D, F), ...norm(`${b}layer_output_norm`));
  }
  return out;
}

/**
 * A PEFT module's weight in the checkpoint, and the row its part starts at where the checkpoint fuses it: PEFT names the modules as the model holds
 * them in memory, which for jina-embeddings-v3 are q_proj, k_proj, v_proj, o_proj and mlp.fc1 / fc2 under `layers.N.`
 * where transformers saves (and emberlm reads) the fused encoder.layers.N.mixer.Wqkv, out_proj and mlp; the others as
 * they are.
 */
export function peftModuleWeight(module: string, t: HFModelType, qDim: number, kvDim: number): { hf: string; part?: number } {
  const m = t === 'jina_embeddings_v3' ? /^layers\.(\d+)\.(self_attn\.([qkvo])_proj|mlp\.fc[12])$/.exec(module) : null;
  if (!m) return { hf: `${module}.weight` };
  if (m[3] === 'o') return { hf: `encoder.layers.${m[1]}.mixer.out_proj.weight` };
  if (m[3]) return { hf: `encoder.layers.${m[1]}.mixer.Wqkv.weight`, part: { q: 0, k: qDim, v: qDim + kvDim }[m[3] as 'q' | 'k' | 'v'] };
  return { hf: `encoder.layers.${m[1]}.${m[2]}.weight` };
}

import { EmberError } from '../errors.ts';
import { rowScales, scaleLayoutOf, type GluAct, type WeightData } from '../kernels/matmul.ts';
import { qkNormSpans } from '../kernels/qk_norm_spans.ts';
import type { ModelConfig } from './config.ts';
import type { MoeShape } from './moe_shape.ts';
import { ssmConvDim, ssmInner, ssmInProj } from './ssm_shape.ts';
import { deltaConvDim, deltaValueDim } from './delta_shape.ts';
import type { MatrixOptions, QuantScheme, WeightSource } from './weight_source.ts';

/**
 * Reads one layer's tensors, converted on the CPU into the layouts the kernels bind. One layer at a
 * time, so the host never holds more than a layer's weights beside the file.
 */
export interface LayerWeights {
  attnNorm: Float32Array | null; // (D); null where the sublayers read x as it is (OLMo 2: ModelConfig.preNorms false; ModernBERT's first layer)
  /**
   * (q_dim + 2*kv_dim, D): q, k, v rows fused so one matmul serves all three; when their formats differ
   * (a Q4_K_M file's Q6_K attn_v beside Q4_K q/k), one part per run of alike matrices, in row order.
   */
  qkv: WeightData[]; // a short-convolution layer's (LFM2): its in_proj, (3D, D): B, C and x rows; none in a Mamba-2 layer
  qkvBias: Float32Array | null; // (q_dim + 2*kv_dim)
  qNorm: Float32Array | null; // (head_dim), Qwen3; (q_dim) OLMo 2
  kNorm: Float32Array | null; // (head_dim), Qwen3; (kv_dim) OLMo 2
  o: WeightData | null; // (D, q_dim); a short-convolution layer's out_proj, (D, D); null in a Mamba-2 layer
  /** (q_dim, D): the attention output's gate (Qwen3.5: out = attention * sigmoid(gate)), from q_proj's rows; else null. */
  attnGate: WeightData | null;
  /** A short-convolution layer's kernel (D, convKernel): channel c's taps, oldest position first; null for attention layers. */
  conv: Float32Array | null;
  /** A Mamba-2 mixer's weights (Granite 4.0-H's in place of attention, Falcon-H1's beside it); null for the other kinds. */
  ssm: SsmWeights | null;
  /** A Gated DeltaNet's weights (Qwen3.5's linear-attention layers, in place of attention); null for the other kinds. */
  delta: DeltaWeights | null;
  ffnNorm: Float32Array | null; // (D), as attnNorm
  gateUp: WeightData[]; // (2F, D): gate rows then up rows, in parts as qkv; none where `moe` has no shared expert
  down: WeightData | null; // (D, F); null where `moe` has no shared expert
  /** A mixture of experts in place of the dense FFN (ModelConfig.layerMoe); null for a dense one. */
  moe: MoeWeights | null;
  postAttnNorm: Float32Array | null; // (D), Gemma: norm of the attention output before the residual add
  postFfnNorm: Float32Array | null; // (D), Gemma: norm of the FFN output before the residual add
  /** BERT's (ModelConfig.postLayerNorms): its output projections' biases and the LayerNorms after each residual add. */
  post?: PostLayerNorms;
  /** A pre-LayerNorm decoder's (ModelConfig.preLayerNorms): its norms' biases and its projections'. */
  pre?: PreLayerNormBiases;
}

/** The biases of a pre-LayerNorm decoder layer (GPT-NeoX, Phi, StableLM): its norms', and its projections' where the file has them. */
export interface PreLayerNormBiases {
  attnNorm: Float32Array; // (D)
  ffnNorm: Float32Array | null; // (D); null where the FFN reads attention's norm (parallelFfn 'shared')
  o: Float32Array | null; // (D)
  up: Float32Array | null; // (F)
  down: Float32Array | null; // (D)
}

/** A LayerNorm's weight and bias, (D) each. */
export interface LayerNormWeights {
  weight: Float32Array;
  bias: Float32Array;
}

/** A post-norm encoder layer's (BERT's) biases on o, up and down (nomic-bert has none: null), and its LayerNorms after attention (two in jina-bert-v2-code) and after the FFN. */
export interface PostLayerNorms {
  oBias: Float32Array | null; // (D)
  upBias: Float32Array | null; // (F)
  downBias: Float32Array | null; // (D)
  attn: LayerNormWeights;
  ffn: LayerNormWeights;
  /** jina-bert-v2's -de and -es models: a LayerNorm over all of q and one over all of k (attn_q_norm, attn_k_norm), else null. */
  qk: { q: LayerNormWeights; k: LayerNormWeights } | null;
  /** jina-bert-v2-code: a second LayerNorm after attention's, over its output plus the layer's input again (attn_norm_2), else null. */
  attn2: LayerNormWeights | null;
}

/** A LayerNorm's weight and bias by its GGUF name (`<name>.weight`, `<name>.bias`). */
export const readLayerNorm = async (w: WeightSource, name: string, D: number): Promise<LayerNormWeights> =>
  ({ weight: await w.vector(`${name}.weight`, D), bias: await w.vector(`${name}.bias`, D) });

/** A mixture of experts' weights (src/model/moe_shape.ts): each matrix its experts' stacked along rows. */
export interface MoeWeights {
  router: WeightData; // (experts, D), as the file stores it
  gate: WeightData; // (experts * nFf, D)
  up: WeightData; // (experts * nFf, D)
  down: WeightData; // (experts * D, nFf)
  bias: Float32Array | null; // (experts): added to the scores that choose the experts (MoeShape.selectionBias), else null
}

/** A Mamba-2 mixer's weights (src/model/ssm_shape.ts's widths). */
export interface SsmWeights {
  inProj: WeightData; // (in_proj, D): z, x|B|C, dt rows
  outProj: WeightData; // (D, inner)
  conv: Float32Array; // (convDim, taps): channel c's taps, oldest position first
  convBias: Float32Array; // (convDim)
  dtBias: Float32Array; // (nHead)
  a: Float32Array; // (nHead): A = -exp(A_log), as llama.cpp's files store it
  d: Float32Array; // (nHead): the skip, y + D x
  norm: Float32Array | null; // (inner): the gated RMSNorm's weight; null without that norm (SsmShape.gatedNorm)
}

/** A Gated DeltaNet mixer's weights (src/model/delta_shape.ts's widths). */
export interface DeltaWeights {
  /** (in_proj, D): z, q|k|v, b, a rows, in parts as qkv (fuseRows). */
  inProj: WeightData[];
  outProj: WeightData; // (D, valueDim)
  conv: Float32Array; // (convDim, taps): channel c's taps, oldest position first
  a: Float32Array; // (nVHead): A = -exp(A_log)
  dtBias: Float32Array; // (nVHead)
  norm: Float32Array; // (headVDim): the gated RMSNorm's weight, shared by every value head
}

/**
 * The final norm's weight, divided by Granite's logit scale: logits / s = W (xn * w / s), and W is often the
 * embedding, so the norm takes it (exact where s is a power of two, as Granite's are).
 */
export async function readOutputNorm(w: WeightSource, c: ModelConfig): Promise<Float32Array> {
  if (c.postLayerNorms) return new Float32Array(c.nEmbd).fill(1); // an encoder has no final norm (and never runs its LM head)
  const v = await w.vector(c.arch === 'lfm2' ? 'token_embd_norm.weight' : 'output_norm.weight', c.nEmbd); // LFM2's keeps llama.cpp's name
  return c.logitScale === 1 ? v : v.map((x) => x / c.logitScale);
}

/**
 * Fused matrices as few parts as possible: consecutive matrices stored alike are stacked (concatRows),
 * a change of format (or of scale grouping) starts a new part.
 */
export function fuseRows(name: string, weights: readonly WeightData[]): WeightData[] {
  const alike = (a: WeightData, b: WeightData) => a.format === b.format && a.cols === b.cols && scaleGroup(a) === scaleGroup(b) && a.gpuQuant === b.gpuQuant;
  const runs: WeightData[][] = [];
  for (const w of weights) {
    const last = runs.at(-1);
    if (last && alike(last[0], w)) last.push(w);
    else runs.push([w]);
  }
  return runs.map((r) => (r.length === 1 ? r[0] : concatRows(name, r)));
}

const scaleGroup = (p: WeightData) => (p.scales ? scaleLayoutOf(p).blockCols : 0);

/**
 * Stacks matrices with the same columns and format along rows (their layouts are row-major). Scales
 * are made per row first (`rowScales`: native FP8's 128-row blocks need not line up with the parts'
 * boundaries), so parts stack as long as their scale groups along a row are alike.
 */
export function concatRows(name: string, weights: readonly WeightData[]): WeightData {
  const parts = weights.map(rowScales);
  const first = parts[0];
  for (const p of parts) {
    if (p.format !== first.format || p.cols !== first.cols || scaleGroup(p) !== scaleGroup(first) || p.gpuQuant !== first.gpuQuant) {
      const how = parts.map((q) => (q.scales ? `${q.format} (scales per ${scaleGroup(q)})` : q.format)).join(', ');
      throw new EmberError('UNSUPPORTED', `${name}: fused tensors are stored differently (${how}); emberlm needs them alike`);
    }
  }
  const cat = <T extends Float32Array | Uint32Array | Uint8Array>(arrs: T[]): T => {
    const out = new (arrs[0].constructor as { new (n: number): T })(arrs.reduce((a, b) => a + b.length, 0));
    let o = 0;
    for (const a of arrs) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  };
  return {
    format: first.format,
    rows: parts.reduce((a, p) => a + p.rows, 0),
    cols: first.cols,
    data: cat(parts.map((p) => p.data) as (Float32Array | Uint32Array | Uint8Array)[]),
    scales: first.scales ? cat(parts.map((p) => p.scales!)) : undefined,
    scaleLayout: first.scaleLayout,
    ...(first.gpuQuant ? { gpuQuant: first.gpuQuant } : {}),
  } as WeightData;
}

/**
 * The rows of a fused gate|up matrix (2F rows: gate 0..F-1, then up 0..F-1) reordered as pairs, gate j
 * at row 2j and up j at 2j + 1, so one GEMV invocation computes both and writes act(gate) * up (the
 * matmul's GLU epilogue). Every layout keeps a row as a contiguous run of data (and, per row, scales).
 * With `experts`: every expert's gate rows, then every expert's up rows, paired expert by expert.
 */
export function pairRows(w: WeightData, experts = 1): WeightData {
  const F = w.rows / (2 * experts);
  if (!Number.isInteger(F)) throw new EmberError('BAD_MODEL', `a gate|up matrix${experts > 1 ? ` of ${experts} experts` : ''} needs an even number of rows${experts > 1 ? ' an expert' : ''}, got ${w.rows}`);
  return gatherRows(w, Array.from({ length: w.rows }, (_, i) => (i % 2 ? experts * F : 0) + Math.floor(i / (2 * F)) * F + ((i % (2 * F)) >> 1)));
}

/**
 * A matrix whose rows alternate between two matrices in runs of `run` rows (Qwen3.5's q_proj: each head's q rows, then
 * its gate rows), as those two.
 */
export function deinterleaveRows(w: WeightData, run: number): [WeightData, WeightData] {
  if (w.rows % (2 * run) !== 0) throw new EmberError('BAD_MODEL', `${w.rows} rows do not split into runs of ${run} for two matrices`);
  const half = (second: number) => gatherRows(w, Array.from({ length: w.rows / 2 }, (_, i) => (2 * Math.floor(i / run) + second) * run + (i % run)));
  return [half(0), half(1)];
}

/** The matrix of `w`'s rows `rows`, in that order (every layout keeps a row's data, and per row its scales, together). */
function gatherRows(w: WeightData, rows: readonly number[]): WeightData {
  const r = rowScales(w);
  const gather = <T extends Float32Array | Uint32Array | Uint8Array>(a: T): T => {
    const len = a.length / r.rows; // per row
    const out = new (a.constructor as { new (n: number): T })(rows.length * len);
    rows.forEach((from, to) => out.set(a.subarray(from * len, (from + 1) * len), to * len));
    return out;
  };
  return { ...r, rows: rows.length, data: gather(r.data), scales: r.scales && gather(r.scales) } as WeightData;
}

export async function readLayer(w: WeightSource, c: ModelConfig, i: number, quant: QuantScheme, opts?: MatrixOptions): Promise<LayerWeights> {
  if (c.layerConv[i]) return readConvLayer(w, c, i, quant, opts);
  if (c.layerDelta[i]) return readDeltaLayer(w, c, i, quant, opts);
  if (c.layerSsm[i] && !c.ssmBesideAttention) return readSsmLayer(w, c, i, quant, opts);
  const D = c.nEmbd, qDim = c.nHead * c.headDim, kvDim = c.nKv * c.headDim;
  const b = `blk.${i}.`;
  // Qwen3.5's q_proj writes each head's q, then its output gate
  const [q, attnGate] = c.attnGate ? deinterleaveRows(await w.matrix(`${b}attn_q.weight`, 2 * qDim, D, quant, opts), c.headDim) : [null, null];
  // Phi-3 ships q/k/v already fused (attn_qkv).
  const qkv = w.has(`${b}attn_qkv.weight`)
    ? [await w.matrix(`${b}attn_qkv.weight`, qDim + 2 * kvDim, D, quant, opts)]
    : fuseRows(`${b}attn_q/k/v`, [q ?? await w.matrix(`${b}attn_q.weight`, qDim, D, quant, opts), await w.matrix(`${b}attn_k.weight`, kvDim, D, quant, opts), await w.matrix(`${b}attn_v.weight`, kvDim, D, quant, opts)]);
  let qkvBias: Float32Array | null = null;
  if (c.qkvBias && w.has(`${b}attn_qkv.bias`)) {
    qkvBias = await w.vector(`${b}attn_qkv.bias`, qDim + 2 * kvDim); // (GTE's, beside its fused q|k|v)
  } else if (c.qkvBias) {
    qkvBias = new Float32Array(qDim + 2 * kvDim);
    qkvBias.set(await w.vector(`${b}attn_q.bias`, qDim), 0);
    qkvBias.set(await w.vector(`${b}attn_k.bias`, kvDim), qDim);
    qkvBias.set(await w.vector(`${b}attn_v.bias`, kvDim), qDim + kvDim);
  }
  const [qNormLen, kNormLen] = qkNormSpans(c, c.qkNormAllHeads);
  return {
    // (ModernBERT's first layer reads the embeddings' norm as it is)
    attnNorm: c.preNorms && !(c.layerNorms && i === 0) ? await w.vector(`${b}attn_norm.weight`, D) : null,
    qkv,
    qkvBias,
    qNorm: c.qkNorm ? await w.vector(`${b}attn_q_norm.weight`, qNormLen) : null,
    kNorm: c.qkNorm ? await w.vector(`${b}attn_k_norm.weight`, kNormLen) : null,
    o: await w.matrix(`${b}attn_output.weight`, D, qDim, quant, opts),
    attnGate,
    postAttnNorm: c.postNorms ? await w.vector(`${b}post_attention_norm.weight`, D) : null,
    conv: null,
    ssm: c.layerSsm[i] ? await readSsm(w, c, b, quant, opts) : null, // Falcon-H1's, beside attention
    delta: null,
    ...(await readFfn(w, c, i, quant, opts)),
    ...(c.postLayerNorms ? { post: await readPostLayerNorms(w, c, b) } : {}),
    ...(c.preLayerNorms ? { pre: await readPreLayerNormBiases(w, c, b) } : {}),
  };
}

async function readPreLayerNormBiases(w: WeightSource, c: ModelConfig, b: string): Promise<PreLayerNormBiases> {
  const D = c.nEmbd;
  const bias = async (name: string, n: number) => (w.has(`${b}${name}.bias`) ? w.vector(`${b}${name}.bias`, n) : null);
  return {
    attnNorm: await w.vector(`${b}attn_norm.bias`, D),
    ffnNorm: c.parallelFfn === 'shared' ? null : await w.vector(`${b}ffn_norm.bias`, D),
    o: await bias('attn_output', D),
    up: await bias('ffn_up', c.nFf),
    down: await bias('ffn_down', D),
  };
}

async function readPostLayerNorms(w: WeightSource, c: ModelConfig, b: string): Promise<PostLayerNorms> {
  const D = c.nEmbd;
  const bias = async (name: string, n: number) => (w.has(`${b}${name}.bias`) ? w.vector(`${b}${name}.bias`, n) : null);
  return {
    oBias: await bias('attn_output', D),
    upBias: await bias('ffn_up', c.ffnGated ? 2 * c.nFf : c.nFf), // (a gated FFN's: jina-bert-v2-code's, on its gate|up rows)
    downBias: await bias('ffn_down', D),
    attn: await readLayerNorm(w, `${b}attn_output_norm`, D),
    ffn: await readLayerNorm(w, `${b}layer_output_norm`, D),
    qk: w.has(`${b}attn_q_norm.weight`) ? { q: await readLayerNorm(w, `${b}attn_q_norm`, c.nHead * c.headDim), k: await readLayerNorm(w, `${b}attn_k_norm`, c.nKv * c.headDim) } : null,
    attn2: w.has(`${b}attn_norm_2.weight`) ? await readLayerNorm(w, `${b}attn_norm_2`, D) : null,
  };
}

/**
 * A layer's FFN, alike for every kind of layer: dense, a mixture of experts, or both (a shared expert); Phi-3 and
 * Granite 4.0 ship gate and up fused (ffn_up of 2F rows, no ffn_gate). Falcon-H1's gate multiplier scales its norm's
 * weight (ModelConfig.mup says why).
 */
async function readFfn(w: WeightSource, c: ModelConfig, i: number, quant: QuantScheme, opts?: MatrixOptions): Promise<Pick<LayerWeights, 'ffnNorm' | 'gateUp' | 'down' | 'moe' | 'postFfnNorm'>> {
  const D = c.nEmbd;
  const b = `blk.${i}.`;
  const moe = c.moe && c.layerMoe[i] ? await readMoe(w, c.moe, D, b, quant, opts) : null;
  // (llama.cpp's falcon-h1 files name it without `.weight`, its qwen35 ones post_attention_norm)
  const normName = c.arch === 'qwen35' ? `${b}post_attention_norm.weight` : c.ssmBesideAttention && !w.has(`${b}ffn_norm.weight`) ? `${b}ffn_norm` : `${b}ffn_norm.weight`;
  const norm = c.preNorms && c.parallelFfn !== 'shared' ? await w.vector(normName, D) : null; // (Phi's FFN reads attention's norm)
  const gate = c.mup?.ffnGate ?? 1;
  const dense = !moe || c.moe!.sharedExpert;
  // a shared expert is the dense FFN beside the experts: GGUF's ffn_*_shexp, a folder's shared MLP by the dense names
  const shexp = moe && w.has(`${b}ffn_down_shexp.weight`) ? '_shexp' : '';
  const ffn = (part: 'gate' | 'up' | 'down') => `${b}ffn_${part}${shexp}.weight`;
  return {
    ffnNorm: norm && gate !== 1 ? norm.map((v) => v * gate) : norm,
    moe,
    gateUp: !dense ? [] : !c.ffnGated ? [await w.matrix(ffn('up'), c.nFf, D, quant, opts)] : w.has(ffn('gate'))
      ? fuseRows(`${b}ffn_gate/up`, [await w.matrix(ffn('gate'), c.nFf, D, quant, opts), await w.matrix(ffn('up'), c.nFf, D, quant, opts)])
      : [await w.matrix(ffn('up'), 2 * c.nFf, D, quant, opts)],
    down: !dense ? null : await w.matrix(ffn('down'), D, c.nFf, quant, opts),
    postFfnNorm: c.postNorms ? await w.vector(`${b}post_ffw_norm.weight`, D) : null,
  };
}

/**
 * A mixture's router, kept as the file stores it whatever the scheme (its logits pick the experts; llama-quantize
 * leaves it F32 too), its experts' gate, up and down, each stacked, and the bias that helps choose them.
 */
async function readMoe(w: WeightSource, m: MoeShape, D: number, b: string, quant: QuantScheme, opts?: MatrixOptions): Promise<MoeWeights> {
  return {
    router: await w.matrix(`${b}ffn_gate_inp.weight`, m.experts, D, 'auto', opts),
    gate: await w.matrix(`${b}ffn_gate_exps.weight`, m.experts * m.nFf, D, quant, opts),
    up: await w.matrix(`${b}ffn_up_exps.weight`, m.experts * m.nFf, D, quant, opts),
    down: await w.matrix(`${b}ffn_down_exps.weight`, m.experts * D, m.nFf, quant, opts),
    bias: m.selectionBias ? await w.vector(`${b}exp_probs_b.bias`, m.experts) : null,
  };
}

/**
 * A mixture's gate and up (each experts x nFf rows) as the GLU GEMV reads them: each expert's rows in gate/up pairs
 * (pairRows' order), the experts one after another.
 */
export function pairExpertRows(gate: WeightData, up: WeightData, experts: number): WeightData {
  const [both] = fuseRows('ffn_gate/up_exps', [gate, up]);
  if (both.rows !== gate.rows + up.rows) throw new EmberError('UNSUPPORTED', `a mixture's gate (${gate.format}) and up (${up.format}) are stored differently; emberlm needs them alike`);
  return pairRows(both, experts);
}

/** An LFM2 short-convolution layer: in_proj in qkv's place, out_proj in o's, its kernel; the FFN as any layer's (readFfn). */
async function readConvLayer(w: WeightSource, c: ModelConfig, i: number, quant: QuantScheme, opts?: MatrixOptions): Promise<LayerWeights> {
  const D = c.nEmbd;
  const b = `blk.${i}.`;
  return {
    attnNorm: await w.vector(`${b}attn_norm.weight`, D),
    qkv: [await w.matrix(`${b}shortconv.in_proj.weight`, 3 * D, D, quant, opts)],
    qkvBias: null,
    qNorm: null,
    kNorm: null,
    o: await w.matrix(`${b}shortconv.out_proj.weight`, D, D, quant, opts),
    attnGate: null,
    conv: await w.vector(`${b}shortconv.conv.weight`, D * c.convKernel, [D, c.convKernel]),
    ssm: null,
    delta: null,
    postAttnNorm: null,
    ...(await readFfn(w, c, i, quant, opts)),
  };
}

/** A recurrent layer's attention fields: none (its mixer, Mamba-2 or Gated DeltaNet, takes attention's place). */
const noAttention = (): Omit<LayerWeights, 'attnNorm' | 'ffnNorm' | 'gateUp' | 'down' | 'moe' | 'postFfnNorm'> =>
  ({ qkv: [], qkvBias: null, qNorm: null, kNorm: null, o: null, attnGate: null, conv: null, ssm: null, delta: null, postAttnNorm: null });

/** A Mamba-2 layer (Granite 4.0-H): its mixer in place of attention; the FFN as any layer's. */
async function readSsmLayer(w: WeightSource, c: ModelConfig, i: number, quant: QuantScheme, opts?: MatrixOptions): Promise<LayerWeights> {
  const b = `blk.${i}.`;
  return {
    ...noAttention(),
    attnNorm: await w.vector(`${b}attn_norm.weight`, c.nEmbd),
    ssm: await readSsm(w, c, b, quant, opts),
    ...(await readFfn(w, c, i, quant, opts)),
  };
}

/** A Gated DeltaNet layer (Qwen3.5): its mixer in place of attention; the FFN as any layer's. */
async function readDeltaLayer(w: WeightSource, c: ModelConfig, i: number, quant: QuantScheme, opts?: MatrixOptions): Promise<LayerWeights> {
  const b = `blk.${i}.`;
  const s = c.delta!, D = c.nEmbd;
  const convDim = deltaConvDim(s), valueDim = deltaValueDim(s);
  const matrix = (name: string, rows: number, cols = D) => w.matrix(`${b}${name}`, rows, cols, quant, opts);
  const inProj = [await matrix('attn_gate.weight', valueDim), await matrix('attn_qkv.weight', convDim), await matrix('ssm_beta.weight', s.nVHead), await matrix('ssm_alpha.weight', s.nVHead)];
  return {
    ...noAttention(),
    attnNorm: await w.vector(`${b}attn_norm.weight`, D),
    delta: {
      inProj: fuseRows(`${b}attn_gate/qkv/ssm_beta/ssm_alpha`, inProj),
      outProj: await matrix('ssm_out.weight', D, valueDim),
      conv: await w.vector(`${b}ssm_conv1d.weight`, convDim * s.convKernel, [convDim, s.convKernel]),
      a: await w.vector(`${b}ssm_a`, s.nVHead),
      dtBias: await w.vector(`${b}ssm_dt.bias`, s.nVHead),
      norm: await w.vector(`${b}ssm_norm.weight`, s.headVDim),
    },
    ...(await readFfn(w, c, i, quant, opts)),
  };
}

/** A Mamba-2 mixer's in_proj, out_proj and vectors. */
async function readSsm(w: WeightSource, c: ModelConfig, b: string, quant: QuantScheme, opts?: MatrixOptions): Promise<SsmWeights> {
  const s = c.ssm!;
  const inner = ssmInner(s), convDim = ssmConvDim(s);
  const head = (name: string) => w.vector(`${b}${name}`, s.nHead, [s.nHead, 1]);
  return {
    inProj: await w.matrix(`${b}ssm_in.weight`, ssmInProj(s), c.nEmbd, quant, opts),
    outProj: await w.matrix(`${b}ssm_out.weight`, c.nEmbd, inner, quant, opts),
    conv: await w.vector(`${b}ssm_conv1d.weight`, convDim * s.convKernel, [convDim, s.convKernel]),
    convBias: await w.vector(`${b}ssm_conv1d.bias`, convDim),
    dtBias: await w.vector(`${b}ssm_dt.bias`, s.nHead),
    a: await head('ssm_a'),
    d: await head('ssm_d'),
    norm: s.gatedNorm ? await w.vector(`${b}ssm_norm.weight`, inner, [s.nGroup, inner / s.nGroup]) : null,
  };
}

/** A gated FFN's activation, as the GLU epilogue takes it (BERT's GELU by erf and T5's ReLU are ungated: never one). */
export function gluAct(c: ModelConfig): GluAct {
  if (c.ffnAct === 'gelu' || c.ffnAct === 'relu') throw new EmberError('UNSUPPORTED', `${c.name}: a gated FFN with ${c.ffnAct === 'gelu' ? 'GELU by erf' : 'ReLU'}`);
  return c.ffnAct;
}

/** The matrices that read a layer's first norm: attention's q/k/v (and gate), a Mamba-2 mixer's in_proj, or both (Falcon-H1), a Gated DeltaNet's in-projections. */
export const inProjections = (w: LayerWeights): WeightData[] => [...w.qkv, ...(w.attnGate ? [w.attnGate] : []), ...(w.ssm ? [w.ssm.inProj] : []), ...(w.delta?.inProj ?? [])];

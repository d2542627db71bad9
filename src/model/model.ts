import { EmberError } from '../errors.ts';
import { waitSpins, type Gpu } from '../gpu/device.ts';
import { Allocator, writeBuffer } from '../gpu/buffers.ts';
import { ceilDiv, type Dispatch } from '../kernels/dispatch.ts';
import { buildMatmul, EXPERT_TILE, gemvReadsRawX, gemvTakesTail, storedFormat, type GpuWeights, type MatmulArgs, type WeightData } from '../kernels/matmul.ts';
import { uploadMatrix } from '../kernels/quantize_weights.ts';
import { buildRmsnorm } from '../kernels/rmsnorm.ts';
import { buildLayernorm } from '../kernels/layernorm.ts';
import { buildEmbedding } from '../kernels/embedding.ts';
import { buildPositions } from '../kernels/positions.ts';
import { buildRope } from '../kernels/rope.ts';
import { attentionScratch, buildAttention, chooseDecodeWide, decodeSplits } from '../kernels/attention.ts';
import { DEFAULT_KV_CACHE, kvCacheBytes, type KvCacheType } from '../kernels/kv_layout.ts';
import { buildSwiglu } from '../kernels/swiglu.ts';
import { buildSample, LOGPROBS_WORDS, type Sampler } from '../kernels/sample.ts';
import { buildQkNorm } from '../kernels/qk_norm.ts';
import { buildSoftcap } from '../kernels/softcap.ts';
import { buildShortConv } from '../kernels/shortconv.ts';
import { buildSsm } from '../kernels/ssm.ts';
import { buildDeltaNet } from '../kernels/delta_net.ts';
import { buildAttnGate } from '../kernels/attn_gate.ts';
import { buildMoeCombine, buildMoeGroup, buildMoeRoute } from '../kernels/moe.ts';
import type { MoeShape } from './moe_shape.ts';
import { ssmConvDim, ssmPerHead, ssmStateSize } from './ssm_shape.ts';
import { deltaConvDim, deltaPerHead, deltaStateSize } from './delta_shape.ts';
import { allocateActivations } from './activations.ts';
import { layerRot, pooledRows, type ModelConfig } from './config.ts';
import { gluAct, inProjections, pairExpertRows, pairRows, readLayer, readLayerNorm, readOutputNorm, type DeltaWeights, type LayerNormWeights, type MoeWeights, type SsmWeights } from './host_weights.ts';
import { ggmlQuantizeOnGpu, GPU_GGML_TYPES, type GgmlValues } from '../kernels/quantize_ggml.ts';
import { ggmlQuantize as ggmlQuantizeOnCpu } from '../quant/ggml/index.ts';
import { checkedVectors } from './validate.ts';
import { ropeTables } from './rope_tables.ts';
import { alibiTable, relativeBiasTable } from './relative_bias.ts';
import { debertaLoad, relativeQk, type FusedPart } from './deberta.ts';
import { buildDisentangled } from '../kernels/disentangled.ts';
import { READBACK_LOGPROBS_AT, READBACK_RING, ReadbackRing } from './readback_ring.ts';
import { MAX_PASS_INPUTS } from './pass_inputs.ts';
import { KvRings, kvCacheRows, ringWindows, SSM_SLOTS } from './kv_rings.ts';
import type { WeightSource } from './weight_source.ts';
import type { BuildOptions, Model } from './model_types.ts';

// The Model a load makes and the options it takes: src/model/model_types.ts.
export type { BuildOptions, Model } from './model_types.ts';

export async function buildModel(gpu: Gpu, f: WeightSource, c: ModelConfig, o: BuildOptions): Promise<Model> {
  const alloc = new Allocator(gpu);
  try {
    return await build(gpu, alloc, checkedVectors(f), c, o);
  } catch (e) {
    await alloc.destroyAll(); // a failed load leaves nothing behind on the GPU
    throw e;
  }
}

async function build(gpu: Gpu, alloc: Allocator, f: WeightSource, c: ModelConfig, o: BuildOptions): Promise<Model> {
  const { nCtx, maxBatch } = o;
  const kvType = o.kvCache ?? DEFAULT_KV_CACHE;
  const D = c.nEmbd, F = c.nFf, qDim = c.nHead * c.headDim, kvDim = c.nKv * c.headDim, qkvDim = qDim + 2 * kvDim;
  // Every buffer a pass writes, allocated once here (src/model/activations.ts)
  const { act, ids, step, stepHead, x, xn, qkv, attn, gateUp, hid, hasConv, convIn, convOut, ssm, inner, ssmAct, delta, deltaAct, attnGate, moe, moeAct, xLast, logits, result } = allocateActivations(alloc, c, maxBatch);
  const embedRows = pooledRows(c);
  // (a batched pass reads back every row where all are pooled, else one row an input: MAX_PASS_INPUTS at most)
  const hiddenWords = D * (embedRows === 'all' ? maxBatch : Math.min(maxBatch, MAX_PASS_INPUTS));
  const readbacks = Array.from({ length: READBACK_RING }, (_, i) =>
    alloc.create(`result.readback.${i}`, (READBACK_LOGPROBS_AT + Math.max(LOGPROBS_WORDS, hiddenWords)) * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST)); // the id, then its logprobs or the hidden rows
  const progress = (i: number, what: string) => o.onProgress?.(i / (c.nLayer + 2), what);

  // Frequencies per rotated dimension, with whatever scaling the model asks for; Gemma 3's windowed
  // layers have their own.
  const tables = await ropeTables(c, f);
  const ropeGlobal = { ...tables.global, invFreq: alloc.upload('rope.inv_freq', tables.global.invFreq) };
  const ropeLocal = tables.local ? { ...tables.local, invFreq: alloc.upload('rope.inv_freq_local', tables.local.invFreq) } : ropeGlobal;

  const decode: Dispatch[] = [];
  const prefill: Dispatch[] = [];
  // Several inputs a pass (Model.batched): the prefill dispatches that differ there, each with its twin. Not where a
  // recurrent state runs through the pass.
  const batchable = !hasConv && !ssm && !delta;
  const inputs = batchable ? alloc.storage('pass_inputs', maxBatch * 16) : null; // (T) vec4<u32>: packInputs
  const twins = new Map<Dispatch, Dispatch>();
  const both = (d: Dispatch | Dispatch[]) => {
    decode.push(...[d].flat());
    prefill.push(...[d].flat());
  };
  // Scratch for activations handed over already in Q8_0 (RMSNorm and SwiGLU write it when their
  // consumer is a q8/q4 matmul, which then skips its own quantize dispatch).
  type Q8x = { codes: GPUBuffer; scales: GPUBuffer };
  const q8Scratch = (label: string, width: number): Q8x => ({ codes: alloc.storage(`${label}.q8`, maxBatch * width), scales: alloc.storage(`${label}.q8_scales`, (maxBatch * width) / 8) });
  const xnQ8 = D % 32 === 0 ? q8Scratch('xn', D) : null;
  const attnQ8 = qDim % 32 === 0 ? q8Scratch('attn', qDim) : null; // decode attention's output in Q8_0 (CPU adapters)
  const hidQ8 = F % 32 === 0 ? q8Scratch('ffn_hidden', F) : null;
  const ssmQ8 = ssm && inner % 32 === 0 ? q8Scratch('ssm.y_norm', inner) : null;
  const takesQ8 = (w: Pick<WeightData, 'format' | 'gpuQuant'>) => ['q8', 'q4'].includes(storedFormat(w));
  type MatmulExtra = Partial<Pick<MatmulArgs, 'bias' | 'accumulate' | 'outScale' | 'quantizedX' | 'yOffset' | 'yWidth' | 'gemvX' | 'gemvQuantizedX' | 'glu' | 'tail' | 'experts'>>;
  // Decode's GEMV of a q8/q4 matrix quantizes its f32 x itself (no quantize dispatch before it).
  const fuse = o.fuseDecode ?? !gpu.caps.cpu;
  const rawX = (wt: GpuWeights, xin: GPUBuffer) => (fuse && takesQ8(wt) && gemvReadsRawX(wt) ? { x: xin } : undefined);
  let tokenTile = 1;
  // A model that attends both ways never decodes (it embeds): nothing of decode is built (its GEMVs, decode attention, the
  // last row's norm, the LM head, the sampler), so its passes all run the prefill's lists; only its GEMMs are worth a trial.
  const decodes = !c.bidirectional;
  const autotune = o.autotune && (decodes ? true : 'prefill');
  const matmul = async (label: string, w: GpuWeights, xin: GPUBuffer, y: GPUBuffer, extra: MatmulExtra = {}) => {
    const m = await buildMatmul(gpu, alloc, { label, w, x: xin, y, step, maxTokens: maxBatch, autotune, decodes, ...extra });
    decode.push(...m.gemv);
    prefill.push(...m.gemm);
    tokenTile = Math.max(tokenTile, m.tokenTile);
  };

  progress(0, 'token_embd.weight');
  // Conversions the GPU makes: int8, FP8 and f16 as the weights upload, the ggml schemes before (their bytes come back).
  const onGpu = o.gpuQuantize ?? true;
  // (F16, a fallback the GPU does not write, comes as f32 values only: convertFloats keeps F16 for the CPU.)
  const ggmlQuantize = (type: string, v: GgmlValues) =>
    (v instanceof Float32Array && !GPU_GGML_TYPES.includes(type) ? Promise.resolve(ggmlQuantizeOnCpu(type, v)) : ggmlQuantizeOnGpu(gpu, type, v));
  const gpuQuant = { gpuQuant: onGpu, ...(onGpu ? { ggmlQuantize } : {}) };
  const embed = await uploadMatrix(alloc, 'token_embd', await f.matrix('token_embd.weight', c.vocab, D, o.quant, gpuQuant), { halfScales: o.halfScales });
  // (BERT gathers the token's row into xn, then adds its position's and normalises into x: positionsNorm; ModernBERT
  // normalises it into x: layerNorm)
  const embedInto = c.postLayerNorms || c.layerNorms ? xn : x;
  both(await buildEmbedding(gpu, alloc, { table: embed, ids, x: embedInto, step, scale: c.embedScale }));
  // A pipelined decode step takes its token from the previous step's sample, never from the CPU.
  const embedChained = decodes ? await buildEmbedding(gpu, alloc, { table: embed, ids: result, x: embedInto, step, scale: c.embedScale }) : [];
  let weightBytes = embed.bytes;
  let expertBytes = 0;
  let params = c.vocab * D;
  let kvBytes = 0;
  const upload = (name: string, v: Float32Array) => {
    weightBytes += v.byteLength;
    params += v.length;
    return alloc.upload(name, v);
  };
  // GPT-2: its learned positions' rows added to the embeddings, x[t] += table[pos + t], in every pass (after either gather)
  const learned = c.learnedPositions && !c.postLayerNorms ? await f.vector('position_embd.weight', c.contextTrain * D, [c.contextTrain, D]) : null;
  if (learned) both(await buildPositions(gpu, alloc, { dim: D, table: upload('position_embd', learned), x: embedInto, step }));
  // BERT's embeddings: x = LayerNorm(token row + its position's row + its token type's row), the last two summed at load
  // for types 0 and 1 (a pair's second segment); each token's position and type from `inputs`, in every pass. (nomic-bert
  // rotates q and k instead: its table is the type rows alone, P 0.)
  const positionsNorm = async () => {
    const P = c.learnedPositions ? c.contextTrain : 0, skip = c.positionOffset * D; // (RoBERTa's first rows are never read)
    const positions = P ? (await f.vector('position_embd.weight', skip + P * D, [c.positionOffset + P, D])).subarray(skip) : new Float32Array(D);
    // (DistilBERT has no token types: a row of zeros stands for type 0's)
    const types = c.tokenTypes > 0 ? await f.vector('token_types.weight', c.tokenTypes * D, [c.tokenTypes, D]) : new Float32Array(D);
    const rows = Math.min(types.length / D, 2); // type 0's, and type 1's where a pair's document has it
    const span = Math.max(P, 1); // (a type's rows in the table)
    const table = new Float32Array(rows * span * D);
    for (let t = 0; t < rows; t++) for (let i = 0; i < span * D; i++) table[t * span * D + i] = positions[i] + types[t * D + (i % D)];
    const norm = await readLayerNorm(f, 'token_embd_norm', D);
    const add = { table: upload('position_embd', table), positions: P, inputs: inputs! }; // (an encoder has no recurrent layers)
    return buildLayernorm(gpu, alloc, { dim: D, eps: c.eps, step, x: xn, weight: upload('token_embd_norm.weight', norm.weight), bias: upload('token_embd_norm.bias', norm.bias), add, y: x });
  };
  if (c.postLayerNorms) both(await positionsNorm());
  // ModernBERT's LayerNorms (ModelConfig.layerNorms) have no bias: one buffer of zeros stands in for all of them.
  const noBias = c.layerNorms ? alloc.upload('layernorm.no_bias', new Float32Array(D)) : null;
  const layerNorm = (weight: GPUBuffer, from: GPUBuffer, to: GPUBuffer, bias = noBias!, lastOnly = false) => buildLayernorm(gpu, alloc, { dim: D, eps: c.eps, step, x: from, weight, bias, y: to, lastOnly });
  if (c.layerNorms) both(await layerNorm(upload('token_embd_norm.weight', await f.vector('token_embd_norm.weight', D)), xn, x));

  // A layer's attention by its window (0: all keys) and rotated dims: its heads, K/V ring, RoPE and the most keys a query sees.
  const attentionOf = (window: number, nRot = c.nRot) => ({
    nHead: c.nHead, nKv: c.nKv, headDim: c.headDim, scale: c.attnScale, window, softcap: c.attnSoftcap, kvType, bidirectional: c.bidirectional,
    cacheLen: kvCacheRows(window, nCtx, maxBatch), maxKeys: window > 0 ? Math.min(window, nCtx) : nCtx,
    rope: { nRot, neox: c.ropeNeox, ...(window > 0 ? ropeLocal : ropeGlobal) },
  });
  const wide = o.wideAttention ?? (autotune === true ? await chooseDecodeWide(gpu, attentionOf(c.layerWindow[0] ?? 0)) : false);
  const splitsOf = (window: number) => decodeSplits(attentionOf(window).maxKeys, gpu.caps.cpu, wide);
  const maxSplits = Math.max(...Array.from({ length: c.nLayer }, (_, l) => splitsOf(c.layerWindow[l] ?? 0)));
  const attnScratch = attentionScratch(alloc, c.nHead, maxSplits, c.headDim); // one for all layers
  // Decode on CPU adapters (no fused prologues there): the residual GEMVs (o, down) end in the RMSNorm of the sublayer
  // that follows, run by their last subgroup (MatmulArgs.tail), so that norm has no dispatch of its own. `tailed`: the
  // next pre-norm's weight buffer, which the last down GEMV's tail already reads, and whether it wrote Q8_0 too.
  const tailCount = alloc.storage('gemv_tail.count', 4);
  // MPNet, T5: their bias by relative position, one table for every layer's attention, over any two positions of a pass
  const rb = c.relativeBias;
  const relBias = rb ? alloc.upload('attn_rel_b.table', relativeBiasTable(await f.vector('attn_rel_b.weight', rb.buckets * c.nHead, [rb.buckets, c.nHead]), c.nHead, rb, maxBatch))
    : c.alibiMaxBias > 0 ? alloc.upload('alibi.table', alibiTable(c.nHead, c.alibiMaxBias, maxBatch)) : undefined;
  // DeBERTa: the relative rows, and the buffers of the pass's c2p and p2c terms, for every layer
  const deberta = c.disentangled ? await debertaLoad(gpu, alloc, f, c, maxBatch) : null;
  // (a tail's norm is RMSNorm: ModernBERT's and the pre-LayerNorm decoders' LayerNorms run on their own)
  const takesTail = (wt: GpuWeights) => !fuse && !c.layerNorms && !c.preLayerNorms && gemvTakesTail(gpu.caps, wt);
  const normTail = (weight: GPUBuffer, q8: boolean): MatmulArgs['tail'] => ({ norm: { weight, eps: c.eps, y: xn }, quantized: q8 ? (xnQ8 ?? undefined) : undefined, count: tailCount });
  let tailed: { weight: GPUBuffer; q8: boolean } | null = null;
  let xSecond: GPUBuffer | null = null; // (T, D): jina-bert-v2-code's first norm after attention, made with its first layer
  let xnFfn: GPUBuffer | null = null; // (T, D): GPT-NeoX's FFN norm, made beside attention's (parallelFfn 'own')
  for (let l = 0; l < c.nLayer; l++) {
    progress(l + 1, `layer ${l}`);
    const w = await readLayer(f, c, l, o.quant, gpuQuant);
    const up = async (name: string, d: WeightData, rowAlign?: number) => {
      const g = await uploadMatrix(alloc, `blk.${l}.${name}`, d, { rowAlign, halfScales: o.halfScales });
      weightBytes += g.bytes;
      params += d.rows * d.cols;
      return g;
    };
    // A vector's buffer: uploaded now, or written into one made before (`into`).
    const vec = (name: string, v: Float32Array, into?: GPUBuffer) => {
      if (!into) return upload(`blk.${l}.${name}`, v);
      weightBytes += v.byteLength;
      params += v.length;
      writeBuffer(gpu, into, v);
      return into;
    };
    // A fused output (qkv, gate|up): one matmul per part of alike matrices, each into its columns of y.
    type Norm = { q8?: Q8x; gemvX?: MatmulExtra['gemvX'] };
    // Returns each part's matmul as built (DeBERTa's relative rows go through q|k|v's again: relativeQk).
    const fused = async (name: string, parts: WeightData[], xin: GPUBuffer, y: GPUBuffer, bias: Float32Array | null, norm: Norm) => {
      const width = parts.reduce((n, p) => n + p.rows, 0);
      const built: FusedPart[] = [];
      let yOffset = 0;
      for (const [i, p] of parts.entries()) {
        const part = parts.length > 1 ? `${name}.${i}` : name;
        const b = bias ? vec(`${part}_bias`, bias.subarray(yOffset, yOffset + p.rows)) : undefined;
        const quantizedX = takesQ8(p) ? norm.q8 : undefined;
        const w = await up(part, p);
        await matmul(`blk.${l}.${part}`, w, xin, y, { bias: b, quantizedX, gemvX: norm.gemvX, yOffset, yWidth: width });
        built.push({ label: `blk.${l}.${part}`, w, bias: b, yOffset, yWidth: width });
        yOffset += p.rows;
      }
      return built;
    };
    // A pre-norm: the prefill runs RMSNorm into xn (and its Q8_0 for q8/q4 GEMMs); decode's GEMVs read x
    // and normalise (and quantize) it in their prologue, unless a q8/q4 row is too long for that.
    // `nw`: the norm's weight, uploaded; `byTail`: decode's norm ran in the GEMV before, into Q8_0 too where q8.
    // `own`: decode keeps the norm's dispatch even where GEMVs could fuse it (a mixture's router and experts read xn).
    const preNorm = async (nw: GPUBuffer, parts: WeightData[], byTail?: { q8: boolean }, own = false): Promise<Norm> => {
      if (c.layerNorms) {
        both(await layerNorm(nw, x, xn)); // (a q8/q4 matmul quantizes xn itself)
        return {};
      }
      const q8 = parts.some(takesQ8) ? (xnQ8 ?? undefined) : undefined;
      const norm = await buildRmsnorm(gpu, alloc, { dim: D, eps: c.eps, step, x, weight: nw, y: xn, quantized: q8 });
      prefill.push(norm);
      if (!fuse || own || !parts.every(gemvReadsRawX)) {
        if (!byTail || (q8 && !byTail.q8)) decode.push(norm);
        return { q8 };
      }
      return { q8, gemvX: { x, norm: { weight: nw, eps: c.eps } } };
    };
    // Without pre-norms (OLMo 2) a sublayer's matmuls read x itself; decode's GEMVs read it raw where they can.
    const noNorm = (parts: WeightData[]): Norm => (fuse && parts.every(gemvReadsRawX) ? { gemvX: { x } } : {});
    const normed = async (name: string, weight: Float32Array | null, parts: WeightData[], byTail?: { q8: boolean }, into?: GPUBuffer) =>
      (weight ? { xin: xn, norm: await preNorm(vec(name, weight, into), parts, byTail) } : { xin: x, norm: noNorm(parts) });
    // A pre-LayerNorm decoder's norm (GPT-NeoX, Phi, StableLM): y = LN(x) with its bias, a dispatch of its own (the
    // GEMVs' fused prologues and tails are RMSNorm's); what reads y quantizes it itself.
    const preLayerNorm = async (name: string, weight: Float32Array, bias: Float32Array, y: GPUBuffer) => {
      both(await layerNorm(vec(name, weight), x, y, vec(`${name}.bias`, bias)));
      return { xin: y, norm: {} as Norm };
    };
    // tailed: attn_norm's buffer, made with the last layer's down GEMV, whose tail reads it
    // (the matrices that read the norm: attention's q/k/v, a Mamba-2 mixer's in_proj, or both side by side in Falcon-H1)
    const attnIn = w.pre ? await preLayerNorm('attn_norm', w.attnNorm!, w.pre.attnNorm, xn) : await normed('attn_norm', w.attnNorm, inProjections(w), tailed ?? undefined, tailed?.weight);
    tailed = null;
    // The FFN beside attention (parallelFfn) reads the layer's input x: Phi's and StableLM's through attention's norm,
    // GPT-NeoX's through its own, made here before attention adds to x.
    const besideIn = c.parallelFfn === 'shared' ? attnIn : c.parallelFfn === 'own' ? await preLayerNorm('ffn_norm', w.ffnNorm!, w.pre!.ffnNorm!, xnFfn ??= act('xn_ffn', D)) : null;
    // Attention: its K/V ring, q/k norms, RoPE (in the prefill; decode's attention rotates), the attention itself.
    const attend = async (wO: WeightData) => {
      const window = c.layerWindow[l] ?? 0;
      const shape = attentionOf(window, layerRot(c, l));
      const { cacheLen, rope } = shape;
      const kv = alloc.storage(`blk.${l}.kv_cache`, kvCacheBytes(kvType, cacheLen, c.nKv, c.headDim)); // K|V (n_kv, cacheLen, head_dim) rings, scales
      kvBytes += kv.size;
      const qkvParts = await fused('qkv', w.qkv, attnIn.xin, qkv, w.qkvBias, attnIn.norm);
      // jina-bert-v2's -de and -es models: a LayerNorm over all of q, one over all of k, in place in the fused rows
      for (const [name, norm, dim, offset] of w.post?.qk ? [['attn_q_norm', w.post.qk.q, qDim, 0], ['attn_k_norm', w.post.qk.k, kvDim, qDim]] as const : []) {
        const ln = { weight: vec(`${name}.weight`, norm.weight), bias: vec(`${name}.bias`, norm.bias) };
        both(await buildLayernorm(gpu, alloc, { dim, eps: c.eps, step, x: null, ...ln, y: qkv, inRows: { stride: qkvDim, offset } }));
      }
      const gated = w.attnGate && attnGate;
      if (gated) await fused('attn_gate', [w.attnGate!], attnIn.xin, attnGate, null, attnIn.norm);
      if (w.qNorm && w.kNorm) {
        const qkNorm = { nHead: c.nHead, nKv: c.nKv, headDim: c.headDim, eps: c.eps, allHeads: c.qkNormAllHeads };
        both(await buildQkNorm(gpu, alloc, { ...qkNorm, qkv, qWeight: vec('attn_q_norm', w.qNorm), kWeight: vec('attn_k_norm', w.kNorm), step }));
      }
      const cache = { kvType, cacheLen, kv };
      prefill.push(await buildRope(gpu, alloc, { nHead: c.nHead, nKv: c.nKv, headDim: c.headDim, ...rope, ...cache, qkv, step }));
      // DeBERTa: the pass's c2p and p2c terms against this layer's projections of the relative rows
      const terms = deberta && { ...deberta.terms, rel: await relativeQk(gpu, deberta, qkvParts, `blk.${l}`) };
      if (terms) prefill.push(await buildDisentangled(gpu, alloc, { nHead: c.nHead, headDim: c.headDim, scale: c.attnScale, qkv, ...terms, step }));
      const attention = await buildAttention(gpu, alloc, {
        ...shape, kv, nSplit: splitsOf(window), wide, qkv, out: attn, step, scratch: attnScratch,
        // (a gated output is gated before o_proj reads it, in f32)
        outQ8: takesQ8(wO) && !fuse && o.fuseDecode !== false && !gated ? (attnQ8 ?? undefined) : undefined,
        inputs: inputs ?? undefined, relBias, disentangled: deberta?.terms, decodes,
      });
      prefill.push(attention.prefill); // after the rope dispatch
      if (attention.prefillInputs) twins.set(attention.prefill, attention.prefillInputs);
      decode.push(...attention.decode); // RoPE and the K/V write happen inside
      if (gated) both(await buildAttnGate(gpu, alloc, { width: qDim, gate: attnGate, out: attn, step }));
      return { out: attn, q8: attention.decodeQ8 ? (attnQ8 ?? undefined) : undefined, wOut: wO, name: 'attn_output', scale: c.mup?.attnOut ?? 1 };
    };
    // LFM2's short convolution: in_proj to B, C, x; B * x into its ring and convolved; times C (out_proj follows).
    const convolve = async (kernel: Float32Array) => {
      const rows = kvCacheRows(c.convKernel, nCtx, maxBatch);
      const state = alloc.storage(`blk.${l}.conv_state`, rows * D * 4); // (rows, D) f32: B * x by position
      kvBytes += state.size;
      await fused('shortconv.in_proj', w.qkv, attnIn.xin, convIn!, null, attnIn.norm);
      const k = vec('shortconv.conv', kernel);
      both(await buildShortConv(gpu, alloc, { dim: D, taps: c.convKernel, rows, bcx: convIn!, kernel: k, state, y: convOut!, step }));
      return { out: convOut!, q8: undefined, wOut: w.o!, name: 'shortconv.out_proj', scale: 1 };
    };
    // A Mamba-2 mixer: in_proj to z, x|B|C, dt; the convolution and scan (its ring and state slots); the gated output's
    // RMSNorm where the model has it, in Q8_0 where out_proj takes it (prefill and decode alike: `handed`).
    const mamba = async (sw: SsmWeights, s: NonNullable<typeof ssm>, a: NonNullable<typeof ssmAct>) => {
      const rows = kvCacheRows(s.convKernel, nCtx, maxBatch);
      const ring = alloc.storage(`blk.${l}.ssm_conv_state`, rows * ssmConvDim(s) * 4); // (rows, conv_dim) f32: x|B|C by position
      const state = alloc.storage(`blk.${l}.ssm_state`, SSM_SLOTS * ssmStateSize(s) * 4); // (slots, d_state / 4, inner) vec4 of f32
      kvBytes += ring.size + state.size;
      await fused('ssm_in', [sw.inProj], attnIn.xin, a.zxbcdt, null, attnIn.norm);
      const convWeight = vec('ssm_conv1d', sw.conv), convBias = vec('ssm_conv1d.bias', sw.convBias), perHead = vec('ssm_per_head', ssmPerHead(sw));
      both(await buildSsm(gpu, alloc, { shape: s, rows, slots: SSM_SLOTS, zxbcdt: a.zxbcdt, convWeight, convBias, ring, xbc: a.xbc, perHead, state, y: a.y, step }));
      const mixer = { wOut: sw.outProj, name: 'ssm_out', scale: c.mup?.ssmOut ?? 1 };
      if (!sw.norm) return { ...mixer, out: a.y, q8: undefined };
      const q8 = takesQ8(sw.outProj) ? (ssmQ8 ?? undefined) : undefined;
      both(await buildRmsnorm(gpu, alloc, { dim: inner, eps: c.eps, step, x: a.y, weight: vec('ssm_norm', sw.norm), y: a.yNorm, quantized: q8 }));
      return { ...mixer, out: a.yNorm, q8, handed: !!q8 };
    };
    // A Gated DeltaNet (Qwen3.5): in-projections to z, q|k|v, b, a; the convolution and the delta-rule scan (its ring
    // and state slots), whose output is already normalised and gated for out_proj.
    const deltaNet = async (dw: DeltaWeights, s: NonNullable<typeof delta>, a: NonNullable<typeof deltaAct>) => {
      const rows = kvCacheRows(s.convKernel, nCtx, maxBatch);
      const ring = alloc.storage(`blk.${l}.delta_conv_state`, rows * deltaConvDim(s) * 4); // (rows, conv_dim) f32: q|k|v by position
      const state = alloc.storage(`blk.${l}.delta_state`, SSM_SLOTS * deltaStateSize(s) * 4); // (slots, dk / 4, value_dim) vec4 of f32
      kvBytes += ring.size + state.size;
      await fused('delta_in', dw.inProj, attnIn.xin, a.inProj, null, attnIn.norm);
      const convWeight = vec('ssm_conv1d', dw.conv), perHead = vec('delta_per_head', deltaPerHead(dw)), normWeight = vec('ssm_norm', dw.norm);
      both(await buildDeltaNet(gpu, alloc, { shape: s, eps: c.eps, rows, slots: SSM_SLOTS, inProj: a.inProj, convWeight, ring, qkv: a.qkv, perHead, normWeight, state, y: a.y, step }));
      return { out: a.y, q8: undefined, wOut: dw.outProj, name: 'ssm_out', scale: 1 };
    };
    // A mixture of experts: the router's logits, each token's experts and weights, the experts' gate/up matmul writing
    // h per token's slot (SwiGLU fused), their down matmul, and the slots' outputs weighted into x. Decode's matmuls are
    // GEMVs a slot each; the prefill's group the pass's slots by expert (moe/group) so that each expert's weights are read
    // once per tile of its slots.
    const mixture = async (mw: MoeWeights, m: MoeShape, a: NonNullable<typeof moeAct>, xin: GPUBuffer, norm: Norm) => {
      const router = await up('ffn_gate_inp', mw.router);
      await matmul(`blk.${l}.ffn_gate_inp`, router, xin, a.logits, { quantizedX: takesQ8(router) ? norm.q8 : undefined });
      const bias = mw.bias ? vec('exp_probs_b', mw.bias) : undefined;
      both(await buildMoeRoute(gpu, alloc, { experts: m.experts, slots: m.used, normTopk: m.normTopk, gating: m.gating, bias, logits: a.logits, ids: a.ids, weights: a.weights, step }));
      prefill.push(await buildMoeGroup(gpu, alloc, { experts: m.experts, slots: m.used, maxTokens: maxBatch, ids: a.ids, groups: a.groups, step }));
      const slotsOf = (rows: number, xPerSlot: boolean) => ({ ids: a.ids, rows, slots: m.used, xPerSlot, groups: a.groups });
      const gateUp = await up('ffn_gate_up_exps', pairExpertRows(mw.gate, mw.up, m.experts), 2 * m.nFf);
      const quantizedX = takesQ8(gateUp) ? norm.q8 : undefined;
      await matmul(`blk.${l}.ffn_gate_up_exps`, gateUp, xin, a.hidden, { quantizedX, glu: { h: a.hidden, act: gluAct(c) }, experts: slotsOf(2 * m.nFf, false) });
      const down = await up('ffn_down_exps', mw.down, D);
      expertBytes += gateUp.bytes + down.bytes;
      await matmul(`blk.${l}.ffn_down_exps`, down, a.hidden, a.out, { experts: slotsOf(D, true) });
      const scale = c.residualScale * (c.mup?.ffnOut ?? 1) * m.weightScale;
      both(await buildMoeCombine(gpu, alloc, { slots: m.used, width: D, scale, weights: a.weights, expertOut: a.out, x, step }));
    };
    // The layer's mixers, each read from attnIn before any adds to x (Falcon-H1 runs a Mamba-2 mixer beside attention).
    type Mixer = { out: GPUBuffer; q8?: Q8x; handed?: boolean; wOut: WeightData; name: string; scale: number };
    const mixers: Mixer[] = [];
    if (w.conv) mixers.push(await convolve(w.conv));
    if (w.ssm && ssm && ssmAct) mixers.push(await mamba(w.ssm, ssm, ssmAct));
    if (w.delta && delta && deltaAct) mixers.push(await deltaNet(w.delta, delta, deltaAct));
    if (w.o && !w.conv) mixers.push(await attend(w.o));
    // Gemma normalises each sublayer's output before the residual add: the matmul writes xn (free
    // by then) and the norm adds into x; the others accumulate into x in the matmul itself.
    const residual = async (
      label: string, wt: GpuWeights, xin: GPUBuffer, postNorm: Float32Array | null, name: string, quantizedX?: Q8x, raw = rawX(wt, xin) ?? null,
      decodeX?: Q8x, // decode's x in Q8_0, written by its producer (attention), where the prefill's is quantized here
      tail?: MatmulArgs['tail'], // decode's RMSNorm of the next sublayer, at the GEMV's end (no post-norm)
      scale = 1, // the sublayer's own output multiplier (Falcon-H1's), beside Granite's residual one
      bias?: GPUBuffer, // the projection's (a pre-LayerNorm decoder's)
    ) => {
      const gemvX = raw ?? undefined; // null: read quantizedX, as the gemm does
      const gemvQuantizedX = decodeX;
      if (!postNorm) return matmul(label, wt, xin, x, { accumulate: true, outScale: c.residualScale * scale, quantizedX, gemvX, gemvQuantizedX, tail, bias });
      await matmul(label, wt, xin, xn, { quantizedX, gemvX, gemvQuantizedX });
      both(await buildRmsnorm(gpu, alloc, { dim: D, eps: c.eps, step, x: xn, weight: vec(name, postNorm), y: x, add: true }));
    };
    // BERT: the projection and its bias into xn (free by then), then x = LayerNorm(x + xn) in place.
    // x = LN(W xin + bias + x). `second` (jina-bert-v2-code's attn_norm_2): x = LN2(that + x), x the layer's input
    // again, the first norm's output kept apart (xSecond) until the second reads both.
    const postLayerNorm = async (name: string, wt: GpuWeights, xin: GPUBuffer, bias: Float32Array | null, norm: LayerNormWeights, normName: string, q8: { prefill?: Q8x; decode?: Q8x }, second?: LayerNormWeights | null) => {
      await matmul(`blk.${l}.${name}`, wt, xin, xn, { bias: bias ? vec(`${name}.bias`, bias) : undefined, quantizedX: q8.prefill, gemvX: q8.prefill ? undefined : rawX(wt, xin), gemvQuantizedX: q8.decode });
      const ln = (n: LayerNormWeights, nName: string) => ({ weight: vec(`${nName}.weight`, n.weight), bias: vec(`${nName}.bias`, n.bias) });
      if (!second) {
        both(await buildLayernorm(gpu, alloc, { dim: D, eps: c.eps, step, x: xn, ...ln(norm, normName), add: 'residual', y: x }));
        return;
      }
      xSecond ??= act('x_second_norm', D);
      both(await buildLayernorm(gpu, alloc, { dim: D, eps: c.eps, step, x: xn, ...ln(norm, normName), add: { rows: x }, y: xSecond }));
      both(await buildLayernorm(gpu, alloc, { dim: D, eps: c.eps, step, x: xSecond, ...ln(second, 'attn_norm_2'), add: 'residual', y: x }));
    };
    const ffnNw = w.ffnNorm && !w.pre ? vec('ffn_norm', w.ffnNorm) : null; // (a pre-LayerNorm decoder's: preLayerNorm)
    const ffnParts = w.moe ? [w.moe.router, w.moe.gate, ...w.gateUp] : w.gateUp; // the matrices that read the FFN's norm
    const ffnQ8 = ffnParts.some(takesQ8);
    let oTail: MatmulArgs['tail'];
    for (const [i, m] of mixers.entries()) {
      const out = await up(m.name, m.wOut);
      // the FFN's norm runs at the end of the last output projection (the norm reads x once every mixer added to it)
      oTail = i === mixers.length - 1 && ffnNw && !w.postAttnNorm && takesTail(out) ? normTail(ffnNw, ffnQ8) : undefined;
      // (a Mamba-2 mixer's norm hands the prefill its Q8_0 too, and decode's GEMV reads that rather than f32 x)
      const handed = m.handed ? { prefill: m.q8, raw: null } : {};
      if (w.post) {
        await postLayerNorm(m.name, out, m.out, w.post.oBias, w.post.attn, 'attn_output_norm', { decode: m.q8 }, w.post.attn2);
        continue;
      }
      const oBias = w.pre?.o ? vec('attn_output.bias', w.pre.o) : undefined;
      await residual(`blk.${l}.${m.name}`, out, m.out, w.postAttnNorm, 'post_attention_norm', handed.prefill, handed.raw, m.q8, oTail, m.scale, oBias);
    }
    const ffnLayerNorm = w.pre && !besideIn ? await preLayerNorm('ffn_norm', w.ffnNorm!, w.pre.ffnNorm!, xn) : null;
    const ffnIn = besideIn?.xin ?? ffnLayerNorm?.xin ?? (ffnNw ? xn : x);
    const ffnNorm = besideIn?.norm ?? ffnLayerNorm?.norm ?? (ffnNw ? await preNorm(ffnNw, ffnParts, oTail && { q8: ffnQ8 }, !!w.moe) : w.moe ? {} : noNorm(w.gateUp));
    if (w.moe && moe && moeAct) {
      // A shared expert (w.down) runs next, on the norm the mixture read: its own buffer, as the mixture's sum goes into x
      if (w.down && !ffnNw) throw new EmberError('UNSUPPORTED', `${c.name}: a shared expert without the FFN's pre-norm is not supported`);
      await mixture(w.moe, moe, moeAct, ffnIn, ffnNorm);
      if (!w.down) continue; // (no tail: the next layer's norm runs on its own)
    }
    const downQ8 = takesQ8(w.down!) ? (hidQ8 ?? undefined) : undefined;
    const swiglu = (paired: boolean) => buildSwiglu(gpu, alloc, { nFf: F, act: c.ffnAct, gateUp, h: hid, step, quantized: downQ8, paired });
    let glu = false;
    if (!c.ffnGated) {
      // BERT, T5 v1.0: h = act(up x + bias), then down
      const u = await up('ffn_up', w.gateUp[0]);
      const upBias = w.post?.upBias ?? w.pre?.up;
      await matmul(`blk.${l}.ffn_up`, u, ffnIn, gateUp, { bias: upBias ? vec('ffn_up.bias', upBias) : undefined, quantizedX: takesQ8(u) ? ffnNorm.q8 : undefined, gemvX: ffnNorm.gemvX });
      both(await buildSwiglu(gpu, alloc, { nFf: F, act: c.ffnAct, gateUp, h: hid, step, quantized: downQ8, ungated: true }));
    } else if (w.gateUp.length === 1 && c.ffnAct !== 'gelu') {
      // One gate|up matrix, its rows in gate/up pairs: the prefill's GEMM writes the pairs and SwiGLU reads them; decode's
      // GEMV writes h itself (SwiGLU fused) on GPUs, and on CPU adapters where ffn_down reads h as it is (f32 x) or in
      // Q8_0 from the GEMV's tail; elsewhere it writes the pairs too.
      const g = await up('gate_up', pairRows(w.gateUp[0]), 2);
      const quantizedX = takesQ8(g) ? ffnNorm.q8 : undefined;
      const hTail = downQ8 && takesTail(g) ? { quantized: downQ8, count: tailCount } : undefined;
      glu = fuse || !downQ8 || !!hTail;
      const gluArgs = glu ? { glu: { h: hid, act: gluAct(c) }, tail: hTail } : {};
      await matmul(`blk.${l}.gate_up`, g, ffnIn, gateUp, { quantizedX, gemvX: ffnNorm.gemvX, ...gluArgs });
      const sw = await swiglu(true);
      if (glu) prefill.push(sw);
      else both(sw);
    } else {
      // [gate | up] rows (ModernBERT's one Wi matrix too: its GELU by erf is the SwiGLU kernel's, not the GLU epilogue's)
      await fused('gate_up', w.gateUp, ffnIn, gateUp, w.post?.upBias ?? null, ffnNorm); // (jina-bert-v2-code's up has a bias)
      both(await swiglu(false));
    }
    // Decode's ffn_down quantizes h itself after the GLU GEMV on GPUs; SwiGLU or the GLU GEMV's tail hands it over in
    // Q8_0 otherwise.
    const down = await up('ffn_down', w.down!);
    // The next layer's attn_norm, in a buffer made now for this GEMV's tail and filled when that layer loads; in Q8_0
    // where this layer's qkv takes it (the next layer's norm runs on its own where its qkv takes Q8_0 and this did not).
    const nextNorm = l + 1 < c.nLayer && c.preNorms && !w.postFfnNorm && takesTail(down) ? alloc.storage(`blk.${l + 1}.attn_norm`, D * 4) : null;
    const downTail = nextNorm ? normTail(nextNorm, inProjections(w).some(takesQ8)) : undefined;
    if (w.post) {
      await postLayerNorm('ffn_down', down, hid, w.post.downBias, w.post.ffn, 'layer_output_norm', { prefill: downQ8, decode: downQ8 });
      continue;
    }
    const downBias = w.pre?.down ? vec('ffn_down.bias', w.pre.down) : undefined;
    await residual(`blk.${l}.ffn_down`, down, hid, w.postFfnNorm, 'post_ffw_norm', downQ8, glu && fuse ? rawX(down, hid) : null, undefined, downTail, c.mup?.ffnOut, downBias);
    tailed = downTail && nextNorm ? { weight: nextNorm, q8: !!downTail.quantized } : null;
  }

  progress(c.nLayer + 1, 'output');
  const outNorm = alloc.upload('output_norm', await readOutputNorm(f, c));
  weightBytes += D * 4;
  params += D;
  const outBias = c.preLayerNorms ? upload('output_norm.bias', await f.vector('output_norm.bias', D)) : null; // (a LayerNorm's)
  const headBias = !c.tiedEmbeddings && f.has('output.bias') ? upload('output.bias', await f.vector('output.bias', c.vocab)) : undefined; // (Phi's)
  let lmHead = embed;
  if (!c.tiedEmbeddings) {
    lmHead = await uploadMatrix(alloc, 'output', await f.matrix('output.weight', c.vocab, D, o.quant, gpuQuant), { halfScales: o.halfScales });
    weightBytes += lmHead.bytes;
    params += c.vocab * D;
  }
  const lastNorm = !(decodes || embedRows === 'last') ? null
    : outBias ? await layerNorm(outNorm, x, xLast, outBias, true) : await buildRmsnorm(gpu, alloc, { dim: D, eps: c.eps, step, x, weight: outNorm, y: xLast, lastOnly: true });
  // Every row's final norm lands in xn, which the layers no longer need; an encoder's embedding reads x as it is.
  const rowsNorm = c.postLayerNorms ? [] : [c.layerNorms || outBias ? await layerNorm(outNorm, x, xn, outBias ?? noBias!) : await buildRmsnorm(gpu, alloc, { dim: D, eps: c.eps, step, x, weight: outNorm, y: xn })];
  const finalNorm = embedRows !== 'last' ? rowsNorm : [lastNorm!];
  const head: Dispatch[] = [];
  let sampler: Sampler | null = null;
  if (decodes) {
    const headArgs = { label: 'output', w: lmHead, x: xLast, y: logits, step: stepHead, maxTokens: 1, gemvX: rawX(lmHead, xLast), autotune: autotune === true, bias: headBias };
    head.push(lastNorm!, ...(await buildMatmul(gpu, alloc, headArgs)).gemv);
    if (c.finalSoftcap > 0) head.push(await buildSoftcap(gpu, alloc, { n: c.vocab, cap: c.finalSoftcap, x: logits, step: stepHead }));
    sampler = await buildSample(gpu, alloc, { vocab: c.vocab, nValid: o.nValid ?? c.vocab, logits, result, step: stepHead });
    head.push(...sampler.pick);
  }
  progress(c.nLayer + 2, 'ready');

  if (moe) tokenTile *= Math.ceil(ceilDiv(EXPERT_TILE * moe.experts, moe.used) / tokenTile);
  const chained = decodes ? [...embedChained, ...decode.slice(embedChained.length)] : []; // the gather's dispatches come first
  return {
    config: c, gpu, alloc, nCtx, maxBatch, tokenTile, weightBytes, expertBytes, params, kvCache: kvType, kvBytes,
    buffers: { ids, step, stepHead, logits, hidden: c.postLayerNorms ? x : embedRows !== 'last' ? xn : xLast, result },
    readback: new ReadbackRing(readbacks, { pace: waitSpins(gpu) }),
    decode: decodes ? decode : [], // (where not, `both` put the prefill's norms and the like there, never run alone)
    prefill, chained, head, finalNorm, embedRows, sampler,
    batched: inputs && { prefill: prefill.map((d) => twins.get(d) ?? d), finalNorm: rowsNorm, hidden: c.postLayerNorms ? x : xn, inputs },
    kv: { ids: [], rings: new KvRings(ringWindows(c), nCtx, maxBatch, ssm || delta ? SSM_SLOTS : 0) },
    timing: {},
  };
}


// The passes themselves (encode, submit, read back): src/model/forward.ts.
export { encodeForward, forward, readLogits, resetSampler, samplerOf, submitForward, type PassTimer, type PendingStep, type Sampling } from './forward.ts';

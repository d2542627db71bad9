/**
 * Hugging Face folder -> GGUF with llama.cpp's tensor names and metadata keys (convert_hf_to_gguf.py's
 * layout): llama/mistral (as llama, q/k rows permuted to adjacent pairs), qwen2, qwen3, gemma2, gemma3,
 * phi3, smollm3 (permuted as llama; its NoPE layers are llama.cpp's fixed every 4th), ernie4_5 (not permuted:
 * its HF rows already rotate adjacent pairs), granite (permuted as llama; Granite 4.0's dense granitemoehybrid too, its
 * gate|up matrix split; with Mamba-2 layers granitehybrid, A as -exp(A_log)), falcon-h1 (its muP multipliers folded
 * into the weights as llama.cpp's converter does, its LM head written apart from a tied embedding), olmo2 (OLMo 2 and 3), lfm2 (its
 * short-convolution layers marked by a head_count_kv of 0, their kernels [D, taps] as ggml's [taps, D]), qwen35 (Qwen3.5: its
 * Gated DeltaNets' value heads in llama.cpp's tiled order, A as -exp(A_log), q and its gate left interleaved per head; no
 * multi-token-prediction layers, as llama.cpp's --no-mtp: hf_to_gguf_qwen35.ts), qwen3moe (Qwen3-MoE: each layer's experts
 * stacked into ffn_{gate,up,down}_exps, expert slowest), gemma-embedding (EmbeddingGemma: bidirectional Gemma 3, its
 * sentence-transformers pooling as pooling_type and Dense layers as dense_2/dense_3). Weights are written F32 (BF16/F16/FP8
 * widened exactly); Gemma's and Qwen3.5's (1 + w) norms are stored as (1 + w), as llama.cpp's converter stores them. The
 * tokenizer comes from tokenizer.json.
 *
 *   npx tsx models/hf_to_gguf.ts <hf-folder> <out.gguf>
 */
import { EmberError } from '../src/errors.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HFModel } from '../src/hf/model.ts';
import { expectedTensors } from '../src/hf/names.ts';
import { meta, writeGGUF, type GGUFToWrite, type MetaValue, type TensorToWrite } from '../src/gguf/writer.ts';
import { ggufLayerRope, ggufRopeNeox, poolingType, yarnMscale, type ModelConfig } from '../src/model/config.ts';
import { ssmInner } from '../src/model/ssm_shape.ts';
import { runIfMain } from './cli.ts';
import { qwen35Keys, tileValueHeads } from './hf_to_gguf_qwen35.ts';
import { TOKEN_TYPE } from './generate.ts';
import { base64ToBytes } from '../src/util/base64.ts';

type Json = Record<string, unknown>;

/** The GGUF architecture llama.cpp converts each HF family to. */
const GGUF_ARCH: Record<string, string> = {
  llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', gemma2: 'gemma2', gemma3: 'gemma3', phi3: 'phi3', smollm3: 'smollm3', ernie4_5: 'ernie4_5', granite: 'granite',
  olmo2: 'olmo2', // OLMo 2 and 3
  lfm2: 'lfm2', mistral3: 'mistral3',
  'falcon-h1': 'falcon-h1', qwen35: 'qwen35',
};

/**
 * llama.cpp's q/k permutation for its llama architecture: HF rotates halves (i, i + d/2), GGUF llama
 * rotates adjacent pairs (2i, 2i + 1), so within each head row i*2 + j of the output is row j*d/2 + i.
 */
export function permuteQK(w: Float32Array, rows: number, cols: number, nHeads: number): Float32Array {
  const out = new Float32Array(w.length);
  const hd = rows / nHeads, half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = h * hd + j * half + i, dst = h * hd + i * 2 + j;
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** llama.cpp's rope_freqs.weight for llama3 scaling: the divisor of each frequency. */
function llama3Factors(c: ModelConfig): Float32Array {
  const rs = c.ropeScaling;
  const { factor, lowFreqFactor = 1, highFreqFactor = 4, originalContext = 8192 } = rs;
  const out = new Float32Array(c.nRot / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = Math.pow(c.ropeBase, (-2 * i) / c.nRot);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < originalContext / highFreqFactor) out[i] = 1;
    else if (wavelen > originalContext / lowFreqFactor) out[i] = factor;
    else {
      const smooth = (originalContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/**
 * YaRN as llama.cpp reads it for these architectures: its betas are fixed at 32 and 1 with the ramp's ends rounded
 * out, and cos and sin are multiplied by rope.scaling.attn_factor times its own 1 + 0.1 ln(factor).
 */
function yarnKeys(c: ModelConfig, arch: string, k: (s: string) => string): Array<[string, MetaValue]> {
  const rs = c.ropeScaling;
  const mistral3 = arch === 'mistral3'; // llama.cpp reads its betas and log multiplier
  if ((!mistral3 && ((rs.betaFast ?? 32) !== 32 || (rs.betaSlow ?? 1) !== 1)) || rs.truncate === false) {
    throw new EmberError('UNSUPPORTED', `hf_to_gguf: YaRN with beta_fast ${rs.betaFast}, beta_slow ${rs.betaSlow}, truncate ${rs.truncate}: llama.cpp reads only 32, 1 and true`);
  }
  const m: Array<[string, MetaValue]> = [
    [k('rope.scaling.type'), meta.str('yarn')],
    [k('rope.scaling.factor'), meta.f32(rs.factor)],
    [k('rope.scaling.original_context_length'), meta.u32(rs.originalContext ?? c.contextTrain)],
  ];
  if (mistral3) {
    // a log multiplier of 1 cancels llama.cpp's own 1 + 0.1 ln(factor): attn_factor is then the whole factor
    m.push([k('rope.scaling.yarn_beta_fast'), meta.f32(rs.betaFast ?? 32)], [k('rope.scaling.yarn_beta_slow'), meta.f32(rs.betaSlow ?? 1)], [k('rope.scaling.yarn_log_multiplier'), meta.f32(1)]);
  }
  const attnFactor = (rs.attnFactor ?? 1) / (mistral3 ? 1 : yarnMscale(rs.factor));
  if (Math.abs(attnFactor - 1) > 1e-7) m.push([k('rope.scaling.attn_factor'), meta.f32(attnFactor)]);
  return m;
}

/** `json`: config.json as llama.cpp reads it (text_config's fields at the top level), for keys ModelConfig does not hold. */
function hparams(c: ModelConfig, arch: string, json: Json): Array<[string, MetaValue]> {
  const k = (s: string) => `${arch}.${s}`;
  const m: Array<[string, MetaValue]> = [
    [k('context_length'), meta.u32(c.contextTrain)],
    [k('embedding_length'), meta.u32(c.nEmbd)],
    [k('feed_forward_length'), meta.u32(c.nFf)],
    [k('block_count'), meta.u32(c.nLayer)],
    [k('attention.head_count'), meta.u32(c.nHead)],
    // LFM2, granitehybrid: one count a layer, 0 marking the short-convolution or Mamba-2 layers (as llama.cpp reads them)
    [k('attention.head_count_kv'), recurrent(c).some(Boolean) ? meta.u32s(recurrent(c).map((r) => (r ? 0 : c.nKv))) : meta.u32(c.nKv)],
    [k('attention.key_length'), meta.u32(c.headDim)],
    [k('attention.value_length'), meta.u32(c.headDim)],
    [k('rope.dimension_count'), meta.u32(c.nRot)],
    [k('attention.layer_norm_rms_epsilon'), meta.f32(c.eps)],
    [k('rope.freq_base'), meta.f32(c.ropeBase)],
    [k('vocab_size'), meta.u32(c.vocab)],
  ];
  const rs = c.ropeScaling;
  if (rs.type === 'linear') m.push([k('rope.scaling.type'), meta.str('linear')], [k('rope.scaling.factor'), meta.f32(rs.factor)]);
  if (rs.type === 'longrope') {
    m.push([k('rope.scaling.attn_factor'), meta.f32(rs.attnFactor ?? 1)], [k('rope.scaling.original_context_length'), meta.u32(rs.originalContext ?? c.contextTrain)]);
  }
  if (rs.type === 'yarn') m.push(...yarnKeys(c, arch, k));
  if (c.attnTemperature) {
    if (arch !== 'mistral3' || c.attnTemperature.floor !== (rs.originalContext ?? c.contextTrain)) {
      throw new EmberError('UNSUPPORTED', `hf_to_gguf: an attention temperature over ${c.attnTemperature.floor} positions: llama.cpp reads it for mistral3 over YaRN's original context only`);
    }
    m.push([k('attention.temperature_scale'), meta.f32(c.attnTemperature.beta)]);
  }
  const windows = c.layerWindow.filter((w) => w > 0);
  if (windows.length > 0) {
    if (new Set(windows).size > 1) throw new EmberError('UNSUPPORTED', `hf_to_gguf: layers use different windows (${[...new Set(windows)].join(', ')}); GGUF holds one`);
    // gemma-embedding's file holds the window as transformers saves it: keys within window - 1 on either side, 2 (window - 1)
    m.push([k('attention.sliding_window'), meta.u32(arch === 'gemma-embedding' ? 2 * (windows[0] - 1) : windows[0])]);
    if (windows.length < c.nLayer || arch === 'gemma2' || arch === 'gemma3' || arch === 'gemma-embedding') {
      m.push([k('attention.sliding_window_pattern'), meta.bools(c.layerWindow.map((w) => w > 0))]);
    }
  }
  if (Math.abs(c.attnScale * Math.sqrt(c.headDim) - 1) > 1e-7) m.push([k('attention.scale'), meta.f32(c.attnScale)]);
  if (arch === 'gemma2') m.push([k('attn_logit_softcapping'), meta.f32(c.attnSoftcap)], [k('final_logit_softcapping'), meta.f32(c.finalSoftcap)]);
  else {
    if (c.attnSoftcap > 0) m.push([k('attn_logit_softcapping'), meta.f32(c.attnSoftcap)]);
    if (c.finalSoftcap > 0) m.push([k('final_logit_softcapping'), meta.f32(c.finalSoftcap)]);
  }
  if (c.ropeBaseLocal !== null) m.push([k('rope.freq_base_swa'), meta.f32(c.ropeBaseLocal)]);
  if (arch === 'lfm2') m.push([k('shortconv.l_cache'), meta.u32(c.convKernel)]);
  // (llama.cpp's bert reads LayerNorm's epsilon under its own key, and attends both ways where causal is false)
  if (arch === 'bert') m.push([k('attention.layer_norm_epsilon'), meta.f32(c.eps)], [k('attention.causal'), meta.bool(false)], ['tokenizer.ggml.token_type_count', meta.u32(c.tokenTypes)]);
  if (arch === 'granite' || arch === 'granitehybrid') {
    m.push([k('embedding_scale'), meta.f32(c.embedScale)], [k('residual_scale'), meta.f32(c.residualScale)], [k('logit_scale'), meta.f32(c.logitScale)]);
  }
  if ((arch === 'granitehybrid' || arch === 'falcon-h1') && c.ssm) {
    const s = c.ssm;
    if (s.dtMin !== 0 || s.dtMax !== Infinity) throw new EmberError('UNSUPPORTED', `hf_to_gguf: time_step_limit [${s.dtMin}, ${s.dtMax}]: GGUF has no key for it (llama.cpp clamps nothing)`);
    if (s.nGroup !== 1 && s.gatedNorm) throw new EmberError('UNSUPPORTED', `hf_to_gguf: ${s.nGroup} groups with a gated norm: llama.cpp normalises each group apart, transformers' Granite every head at once`);
    m.push(
      [k('ssm.conv_kernel'), meta.u32(s.convKernel)], [k('ssm.inner_size'), meta.u32(ssmInner(s))], [k('ssm.state_size'), meta.u32(s.dState)],
      [k('ssm.time_step_rank'), meta.u32(s.nHead)], [k('ssm.group_count'), meta.u32(s.nGroup)],
    );
    // llama.cpp's switch for RoPE in granitehybrid (NoPE: false)
    if (arch === 'granitehybrid') m.push([k('rope.scaling.finetuned'), meta.bool(c.layerRope[0])]);
  }
  if (arch === 'qwen35') m.push(...qwen35Keys(c, json, k));
  if (c.moe) m.push([k('expert_count'), meta.u32(c.moe.experts)], [k('expert_used_count'), meta.u32(c.moe.used)], [k('expert_feed_forward_length'), meta.u32(c.moe.nFf)]);
  return m;
}

/** Layers without attention: LFM2's short convolutions, Granite 4.0-H's Mamba-2 mixers (Falcon-H1's are beside it). */
const recurrent = (c: ModelConfig) => Array.from({ length: c.nLayer }, (_, l) => !!c.layerConv[l] || (!!c.layerSsm[l] && !c.ssmBesideAttention));

/**
 * Falcon-H1's config as its GGUF states it: llama.cpp's falcon-h1 reads no multiplier, its converter folds them into the
 * weights (`muP`, below), so the file's attention scale is the plain one and its embedding and LM head unscaled.
 */
export function withMupFolded(c: ModelConfig): ModelConfig {
  if (!c.mup) return c;
  return {
    ...c, attnScale: 1 / Math.sqrt(c.headDim), embedScale: 1, logitScale: 1, mup: null, tiedEmbeddings: false, // (its own LM head: muP below)
    ssm: c.ssm && { ...c.ssm, inScales: [1, 1, 1, 1, 1] },
  };
}

/**
 * Falcon-H1's multipliers folded into its weights, as llama.cpp's converter does (the same products on the logits):
 * q takes attention's input and key multipliers (a^2 k_m: the scores' factor), o the attention's output scale, in_proj its
 * segments' scales, ssm_out, ffn_gate and ffn_down theirs, the embedding the embedding multiplier; the LM head (written
 * apart from the embedding, where llama.cpp's converter drops lm_head_multiplier for tied ones) the LM-head multiplier.
 */
function muP(c: ModelConfig, name: string, rows: number): number | Float32Array | null {
  const m = c.mup;
  if (!m) return null;
  const s = c.ssm!;
  const rest = name.replace(/^blk\.\d+\./, '');
  if (rest === 'attn_q.weight') return c.attnScale * Math.sqrt(c.headDim);
  if (rest === 'attn_output.weight') return m.attnOut;
  if (rest === 'ssm_out.weight') return m.ssmOut;
  if (rest === 'ffn_gate.weight') return m.ffnGate;
  if (rest === 'ffn_down.weight') return m.ffnOut * m.ffnGate;
  if (name === 'token_embd.weight') return c.embedScale;
  if (name === 'output.weight') return 1 / c.logitScale;
  if (rest === 'ssm_in.weight') {
    const inner = ssmInner(s), bc = s.nGroup * s.dState;
    const ends = [inner, 2 * inner, 2 * inner + bc, 2 * inner + 2 * bc, rows]; // z, x, B, C, dt rows
    const perRow = new Float32Array(rows);
    for (let r = 0, seg = 0; r < rows; r++) {
      while (r >= ends[seg]) seg++;
      perRow[r] = s.inScales[seg];
    }
    return perRow;
  }
  return null;
}

/** Rows times their scale (one for all, or one a row). */
function scaleRows(data: Float32Array, cols: number, scale: number | Float32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] * (typeof scale === 'number' ? scale : scale[Math.floor(i / cols)]);
  return out;
}

async function tensors(hf: HFModel, arch: string): Promise<TensorToWrite[]> {
  const c = hf.config;
  const permute = c.ropeNeox && !ggufRopeNeox(arch); // HF rotates halves where the GGUF architecture rotates adjacent pairs
  const out: TensorToWrite[] = [];
  for (const e of expectedTensors(c, hf.extra)) {
    if (e.shape.length === 1) {
      const name = arch === 'falcon-h1' && e.name.endsWith('.ffn_norm.weight') ? e.name.replace(/\.weight$/, '') : e.name; // llama.cpp's falcon-h1 name
      out.push({ name, ne: [e.shape[0]], type: 'F32', data: tileValueHeads(c, e.name, await hf.weights.vector(e.name, e.shape[0]), e.shape[0], 1) });
      continue;
    }
    if (/\.ssm_[ad]$|\.ssm_norm\.weight$/.test(e.name)) { // vectors llama.cpp keeps 2-D (A as -exp(A_log), which vector() gives)
      out.push({ name: e.name, ne: [e.shape[1], e.shape[0]], type: 'F32', data: await hf.weights.vector(e.name, e.shape[0] * e.shape[1], e.shape) });
      continue;
    }
    const [rows, cols] = e.shape;
    const expert = /^(blk\.\d+\.ffn_(?:gate|up|down))\.(\d+)\.weight$/.exec(e.name); // a mixture's, one tensor each
    if (expert && c.moe) { // llama.cpp's converter stacks them, expert slowest: [cols, rows, experts]
      if (expert[2] !== '0') continue;
      const name = `${expert[1]}_exps.weight`;
      out.push({ name, ne: [cols, rows, c.moe.experts], type: 'F32', data: (await hf.weights.matrix(name, c.moe.experts * rows, cols, 'f32')).data as Float32Array });
      continue;
    }
    let data = (await hf.weights.matrix(e.name, rows, cols, 'f32')).data as Float32Array;
    if (e.name === 'position_embd.weight' && c.positionOffset > 0) { // (RoBERTa's first rows, never read: llama.cpp's converter drops them)
      out.push({ name: e.name, ne: [cols, rows - c.positionOffset], type: 'F32', data: data.slice(c.positionOffset * cols) });
      continue;
    }
    const fold = muP(c, e.name, rows);
    if (fold !== null) {
      if (e.name === 'token_embd.weight' && c.tiedEmbeddings) {
        out.push({ name: 'output.weight', ne: [cols, rows], type: 'F32', data: scaleRows(data, cols, 1 / c.logitScale) }); // its own LM head
      }
      data = scaleRows(data, cols, fold);
    }
    if (permute && /attn_[qk]\.weight$/.test(e.name)) data = permuteQK(data, rows, cols, e.name.includes('attn_q') ? c.nHead : c.nKv);
    data = tileValueHeads(c, e.name, data, rows, cols); // (Qwen3.5's Gated DeltaNets)
    if (arch !== 'phi3' && e.name.endsWith('ffn_up.weight') && rows === 2 * c.nFf) {
      // Granite 4.0's gate|up matrix: llama.cpp's granite reads them apart (gate rows first), as its converter splits them
      const half = c.nFf * cols;
      out.push({ name: e.name.replace('ffn_up', 'ffn_gate'), ne: [cols, c.nFf], type: 'F32', data: data.slice(0, half) });
      out.push({ name: e.name, ne: [cols, c.nFf], type: 'F32', data: data.slice(half) });
      continue;
    }
    out.push({ name: e.name, ne: [cols, rows], type: 'F32', data });
  }
  const rs = c.ropeScaling;
  if (rs.type === 'llama3') out.push({ name: 'rope_freqs.weight', ne: [c.nRot / 2], type: 'F32', data: llama3Factors(c) });
  if (rs.type === 'longrope') {
    out.push({ name: 'rope_factors_long.weight', ne: [c.nRot / 2], type: 'F32', data: Float32Array.from(rs.longFactor!) });
    out.push({ name: 'rope_factors_short.weight', ne: [c.nRot / 2], type: 'F32', data: Float32Array.from(rs.shortFactor!) });
  }
  return out;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as Json).content === 'string' ? ((v as Json).content as string) : null);

/**
 * tokenizer.json -> tokenizer.ggml.*: a SentencePiece-style BPE (byte_fallback, '▁' normalizer) becomes
 * 'llama' with scores from the merge ranks (the piece a rank-r merge makes scores -r, so llama.cpp's
 * best-score-first merging follows HF's merge order); a byte-level BPE becomes 'gpt2' with its merges; WordPiece 'bert';
 * a SentencePiece Unigram (XLM-R's) 't5' (unigramMeta). Rows of the embedding past the tokenizer are padded with unused
 * [PAD<i>] tokens, as llama.cpp does.
 */
function tokenizerMeta(tj: Json, tc: Json, hf: HFModel): Array<[string, MetaValue]> {
  const model = tj.model as Json;
  if (model.type === 'Unigram') return unigramMeta(tj, tc, hf);
  const vocab = model.vocab as Record<string, number>;
  const added = (tj.added_tokens as { id: number; content: string; special: boolean }[] | undefined) ?? [];
  const n = Math.max(hf.config.vocab, ...added.map((a) => a.id + 1), ...Object.values(vocab).map((id) => id + 1));
  const tokens: string[] = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(n).fill(TOKEN_TYPE.UNUSED);
  for (const [piece, id] of Object.entries(vocab)) { tokens[id] = piece; types[id] = TOKEN_TYPE.NORMAL; }
  for (const a of added) { tokens[a.id] = a.content; types[a.id] = a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED; }
  const merges = ((model.merges as (string | [string, string])[]) ?? []).map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  const spm = model.byte_fallback === true;
  const m: Array<[string, MetaValue]> = [];
  if (spm) {
    const unk = str(model.unk_token);
    const scores = new Float32Array(n);
    const seen = new Set<string>();
    merges.forEach((mg, r) => {
      const piece = mg.replace(' ', '');
      if (!seen.has(piece) && vocab[piece] !== undefined) { seen.add(piece); scores[vocab[piece]] = -r; }
    });
    tokens.forEach((t, i) => {
      if (/^<0x[0-9A-F]{2}>$/.test(t)) types[i] = TOKEN_TYPE.BYTE;
      else if (t === unk) types[i] = TOKEN_TYPE.UNKNOWN;
    });
    m.push(['tokenizer.ggml.model', meta.str('llama')], ['tokenizer.ggml.tokens', meta.strs(tokens)], ['tokenizer.ggml.scores', meta.f32s(scores)]);
    m.push(['tokenizer.ggml.add_space_prefix', meta.bool(JSON.stringify(tj.normalizer ?? '').includes('Prepend'))]);
    if (unk !== null && vocab[unk] !== undefined) m.push(['tokenizer.ggml.unknown_token_id', meta.u32(vocab[unk])]);
  } else if (model.type === 'WordPiece') {
    // llama.cpp's bert vocabulary: a word's first piece after a phantom space (U+2581), a continuation without its ##;
    // [CLS] is BOS (below), [SEP] goes after a text (add_sep_token)
    const phantom = tokens.map((t, i) => (types[i] === TOKEN_TYPE.CONTROL ? t : t.startsWith('##') ? t.slice(2) : `\u2581${t}`));
    m.push(['tokenizer.ggml.model', meta.str('bert')], ['tokenizer.ggml.pre', meta.str('default')], ['tokenizer.ggml.tokens', meta.strs(phantom)]);
    const [sep] = hf.tokenizer.endIds, unk = vocab[str(model.unk_token) ?? ''], pad = vocab[str(tc.pad_token) ?? ''];
    if (sep !== undefined) m.push(['tokenizer.ggml.seperator_token_id', meta.u32(sep)], ['tokenizer.ggml.add_sep_token', meta.bool(true)]); // (gguf-py's spelling)
    if (unk !== undefined) m.push(['tokenizer.ggml.unknown_token_id', meta.u32(unk)]);
    if (pad !== undefined) m.push(['tokenizer.ggml.padding_token_id', meta.u32(pad)]);
  } else {
    // llama.cpp's pre-tokenizer names: single digits then GPT-2's split (SmolLM, StarCoder) or GPT-2's alone
    const digits = /"individual_digits":true/.test(JSON.stringify(tj.pre_tokenizer ?? ''));
    m.push(['tokenizer.ggml.model', meta.str('gpt2')], ['tokenizer.ggml.pre', meta.str(digits ? 'smollm' : 'gpt-2')], ['tokenizer.ggml.tokens', meta.strs(tokens)], ['tokenizer.ggml.merges', meta.strs(merges)]);
  }
  m.push(['tokenizer.ggml.token_type', meta.i32s(types)]);
  const tok = hf.tokenizer;
  if (tok.bosId !== null) m.push(['tokenizer.ggml.bos_token_id', meta.u32(tok.bosId)]);
  if (tok.eosId !== null) m.push(['tokenizer.ggml.eos_token_id', meta.u32(tok.eosId)]);
  const eot = hf.eosTokenIds.find((id) => id !== tok.eosId);
  if (eot !== undefined) m.push(['tokenizer.ggml.eot_token_id', meta.u32(eot)]);
  m.push(['tokenizer.ggml.add_bos_token', meta.bool(tok.addBos)], ['tokenizer.ggml.add_eos_token', meta.bool(tc.add_eos_token === true)]);
  if (typeof tc.chat_template === 'string') m.push(['tokenizer.chat_template', meta.str(tc.chat_template)]);
  return m;
}

/** The GGUF architecture of a mixture of experts: qwen3moe, which renormalises the chosen experts' weights always. */
function moeArch(c: ModelConfig, dir: string): string {
  if (c.arch !== 'qwen3' || !c.moe?.normTopk) {
    throw new EmberError('UNSUPPORTED', `${dir}: hf_to_gguf writes mixtures of experts as llama.cpp's qwen3moe only (Qwen3-MoE, norm_topk_prob true)`);
  }
  return 'qwen3moe';
}

/** The GGUF writer's input for an HF folder on disk. */
/**
 * A SentencePiece Unigram tokenizer.json (XLM-R's) as llama.cpp's converter writes one: 't5', its pieces and scores, the
 * normalizer's precompiled charsmap, remove_extra_whitespaces where the normalizer collapses runs of spaces,
 * add_space_prefix where Metaspace prepends, BOS and EOS around a text (the separator: the tokenizer's sep_token).
 */
function unigramMeta(tj: Json, tc: Json, hf: HFModel): Array<[string, MetaValue]> {
  const model = tj.model as Json;
  const pieces = model.vocab as [string, number][];
  const added = (tj.added_tokens as { id: number; content: string; special: boolean }[] | undefined) ?? [];
  const n = Math.max(hf.config.vocab, pieces.length, ...added.map((a) => a.id + 1));
  const tokens = Array.from({ length: n }, (_, i) => pieces[i]?.[0] ?? `[PAD${i}]`);
  const scores = Float32Array.from({ length: n }, (_, i) => pieces[i]?.[1] ?? -10000);
  const types = Int32Array.from({ length: n }, (_, i) => (i < pieces.length ? TOKEN_TYPE.NORMAL : TOKEN_TYPE.UNUSED));
  for (const a of added) { tokens[a.id] = a.content; types[a.id] = a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED; }
  const unk = typeof model.unk_id === 'number' ? model.unk_id : null;
  if (unk !== null) types[unk] = TOKEN_TYPE.UNKNOWN;
  const norm = JSON.stringify(tj.normalizer ?? '');
  const normalizers = (tj.normalizer as Json | null)?.normalizers as Json[] | undefined ?? [tj.normalizer as Json | null];
  const charsmap = str(normalizers.find((n) => n?.type === 'Precompiled')?.precompiled_charsmap);
  const tok = hf.tokenizer;
  const id = (v: unknown) => (str(v) === null ? undefined : tokens.indexOf(str(v)!));
  const m: Array<[string, MetaValue]> = [
    ['tokenizer.ggml.model', meta.str('t5')], ['tokenizer.ggml.pre', meta.str('default')],
    ['tokenizer.ggml.tokens', meta.strs(tokens)], ['tokenizer.ggml.scores', meta.f32s(scores)], ['tokenizer.ggml.token_type', meta.i32s(types)],
    ['tokenizer.ggml.add_space_prefix', meta.bool(!/"prepend_scheme":"never"/.test(JSON.stringify(tj.pre_tokenizer ?? '')))],
    ['tokenizer.ggml.remove_extra_whitespaces', meta.bool(norm.includes('" {2,}"'))],
    ...(charsmap ? [['tokenizer.ggml.precompiled_charsmap', meta.u8s(base64ToBytes(charsmap))] as [string, MetaValue]] : []),
  ];
  if (unk !== null) m.push(['tokenizer.ggml.unknown_token_id', meta.u32(unk)]);
  for (const [key, v] of [['padding_token_id', tc.pad_token], ['seperator_token_id', tc.sep_token]] as const) { // (gguf-py's spelling)
    const i = id(v);
    if (i !== undefined && i >= 0) m.push([`tokenizer.ggml.${key}`, meta.u32(i)]);
  }
  if (tok.bosId !== null) m.push(['tokenizer.ggml.bos_token_id', meta.u32(tok.bosId)]);
  if (tok.eosId !== null) m.push(['tokenizer.ggml.eos_token_id', meta.u32(tok.eosId)]);
  m.push(['tokenizer.ggml.add_bos_token', meta.bool(tok.addBos)], ['tokenizer.ggml.add_eos_token', meta.bool(tok.endIds.length > 0)]);
  return m;
}

export async function hfToGGUFFile(dir: string): Promise<GGUFToWrite> {
  // Imported when called: src/hf/model.ts reaches the kernels' WGSL, which a script started by tsx loads under Vite (cli.ts).
  const { loadHFModel } = await import('../src/hf/model.ts');
  const hf = await loadHFModel(dir, 'f32');
  try {
    // Granite 4.0-H: llama.cpp's granitehybrid (its Mamba-2 layers), whose RoPE is all layers' or none's (rope.scaling.finetuned)
    const c = hf.config;
    if (c.layerNorms) throw new EmberError('UNSUPPORTED', `${dir}: ModernBERT folders are not written to GGUF here (emberlm reads ModernBERT from folders only)`);
    if (c.postLayerNorms && !c.learnedPositions) throw new EmberError('UNSUPPORTED', `${dir}: nomic-bert, GTE and jina-bert-v2 folders are not written to GGUF here (emberlm reads them from folders; llama.cpp's own converter writes nomic-bert and jina-bert-v2)`);
    if (c.relativeBias) throw new EmberError('UNSUPPORTED', `${dir}: encoders with a bias by relative position (MPNet, T5) are not written to GGUF here (emberlm reads them from folders)`);
    if (c.preLayerNorms) throw new EmberError('UNSUPPORTED', `${dir}: Phi-2, StableLM, GPT-NeoX, StarCoder2 and GPT-2 folders are not written to GGUF here (llama.cpp's own converter writes phi2, stablelm, gptneox, starcoder2 and gpt2, which emberlm reads)`);
    const arch = c.layerSsm.some(Boolean) && !c.ssmBesideAttention ? 'granitehybrid' : c.moe ? moeArch(c, dir) : c.postLayerNorms ? 'bert' : c.bidirectional ? 'gemma-embedding' : GGUF_ARCH[c.arch];
    // GGUF has no key for NoPE layers: the file's must be what the architecture implies (smollm3: every 4th).
    const implied = arch === 'granitehybrid' ? c.layerRope.map(() => c.layerRope[0]) : ggufLayerRope(arch, c.nLayer);
    if (c.layerRope.some((r, l) => r !== implied[l])) {
      throw new EmberError('UNSUPPORTED', `${dir}: no_rope_layers other than every 4th layer cannot be written to GGUF (llama.cpp's smollm3 reads no such key)`);
    }
    const tj = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Json;
    const tc = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8').catch(() => '{}')) as Json;
    const cj = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Json;
    const metadata: Array<[string, MetaValue]> = [
      ['general.architecture', meta.str(arch)],
      ['general.name', meta.str(c.name)],
      ['general.file_type', meta.u32(0)],
      ...hparams(withMupFolded(c), arch, { ...cj, ...(cj.text_config as Json | undefined) }),
      ...tokenizerMeta(tj, tc, hf),
    ];
    // EmbeddingGemma: its pooling, and its sentence-transformers Dense layers as llama.cpp names them
    const dense = (hf.sentence?.dense ?? []).map((d, i): TensorToWrite => ({ name: `dense_${i + 2}.weight`, ne: [d.inFeatures, d.outFeatures], type: 'F32', data: d.weight }));
    if (hf.sentence?.dense.some((d) => d.bias || d.activation !== 'identity')) throw new EmberError('UNSUPPORTED', `${dir}: Dense layers with a bias or an activation: llama.cpp's dense_2/dense_3 have neither`);
    // (a cross-encoder's: rank, its head in cls and cls.output, as llama.cpp's converter writes a BERT reranker)
    const pooling = hf.sentence?.pooling ?? (c.pooling === 'rank' ? 'rank' : null);
    if (pooling) metadata.push([`${arch}.pooling_type`, meta.u32(poolingType(pooling))]);
    return { metadata, tensors: [...(await tensors(hf, arch)), ...dense] };
  } finally {
    await hf.close();
  }
}

export async function hfToGGUF(dir: string): Promise<Uint8Array> {
  return writeGGUF(await hfToGGUFFile(dir));
}

runIfMain(import.meta.url, async () => {
  const [dir, out] = process.argv.slice(2);
  if (!dir || !out) throw new EmberError('BAD_ARGUMENT', 'usage: npx tsx models/hf_to_gguf.ts <hf-folder> <out.gguf>');
  await import('../src/node/host.ts'); // paths and folders in Node
  await writeFile(out, await hfToGGUF(dir));
});

import type { Gpu } from '../gpu/device.ts';
import type { Allocator } from '../gpu/buffers.ts';
import type { Dispatch } from '../kernels/dispatch.ts';
import type { KvCacheType } from '../kernels/kv_layout.ts';
import type { Sampler } from '../kernels/sample.ts';
import type { ModelConfig } from './config.ts';
import type { KvRings } from './kv_rings.ts';
import type { ReadbackRing } from './readback_ring.ts';
import type { QuantScheme } from './weight_source.ts';

/**
 * A loaded model: its config, every GPU buffer (weights, activations, KV cache, uniforms) and the
 * dispatch lists of a forward pass, all made at load. A forward pass only writes the Step uniforms
 * and the token ids, encodes the lists and submits once.
 */
export interface Model {
  readonly config: ModelConfig;
  readonly gpu: Gpu;
  readonly alloc: Allocator;
  readonly nCtx: number; // KV-cache length
  readonly maxBatch: number; // tokens per prefill pass; longer prompts run in several passes
  /**
   * Tokens the prefill GEMMs compute at a time (the per-row GEMM's TT): passes waste nothing at multiples of it. With a
   * mixture of experts, the tokens whose slots fill a tile of every expert's GEMM on average (EXPERT_TILE x experts /
   * used): in fewer, each expert's weights are read for fewer slots than a tile holds.
   */
  readonly tokenTile: number;
  readonly weightBytes: number;
  /** The mixtures' expert matrices' share of weightBytes, of which a token reads `moe.used / moe.experts` (0: no mixture). */
  readonly expertBytes: number;
  /** The weights' parameters (matrices and vectors as the file holds them, the LM head once when tied). */
  readonly params: number;
  /** How the K/V cache stores its values (src/kernels/kv_layout.ts). */
  readonly kvCache: KvCacheType;
  /** K and V cache bytes over all layers, codes and scales (windowed layers hold a ring, see kvCacheRows), with LFM2's convolution rings and Mamba-2's rings and state slots. */
  readonly kvBytes: number;
  readonly buffers: {
    readonly ids: GPUBuffer; // (maxBatch) u32
    readonly step: GPUBuffer; // Step for the layers: n_tokens = tokens in this pass
    readonly stepHead: GPUBuffer; // Step for final norm, LM head and sampler: n_tokens = 1
    readonly logits: GPUBuffer; // (vocab) f32, of the pass's last token
    readonly hidden: GPUBuffer; // (n_embd) f32: the final norm of the pass's last token (the LM head's input), or (T, n_embd) where embedRows is not 'last' (an encoder's: x)
    readonly result: GPUBuffer; // (1) u32, the sampled token
  };
  /** MAP_READ copies of `result` (and of the sampler's logprobs at word 4, where asked), one per pass in flight. */
  readonly readback: ReadbackRing;
  /** Layers for one token (GEMV matmuls) and for a batch (GEMM matmuls); decode empty where the model never decodes (ModelConfig.bidirectional). */
  readonly decode: readonly Dispatch[];
  readonly prefill: readonly Dispatch[];
  /** `decode` whose embedding gather reads its id from `result`: the token the previous pass sampled. */
  readonly chained: readonly Dispatch[];
  /**
   * How a pass that embeds several inputs runs (src/model/pass_inputs.ts): `prefill` with each token attending within
   * its input (and BERT's positions counted from its start), the final norm of every row into `hidden` (nothing for an
   * encoder, whose x it is), and the per-token buffer that says where each input is. Null for a model with recurrent
   * layers (their state runs through the whole pass).
   */
  readonly batched: { readonly prefill: readonly Dispatch[]; readonly finalNorm: readonly Dispatch[]; readonly hidden: GPUBuffer; readonly inputs: GPUBuffer } | null;
  /** Set by the benchmark: timestamp writes for the one compute pass of each forward (the GPU idle between steps). */
  readonly timing: { stepWrites?: () => GPUComputePassTimestampWrites | undefined };
  /** Final norm of the last token, LM head, sampler (none where the model never decodes). */
  readonly head: readonly Dispatch[];
  /**
   * What a pass that embeds runs after the layers: the final norm of its last token into `buffers.hidden` (head's first
   * dispatch), or of every row where `embedRows` is not 'last'; nothing for an encoder without a final norm (BERT: its
   * last layer's LayerNorm wrote x, which is `buffers.hidden` there).
   */
  readonly finalNorm: readonly Dispatch[];
  /** The final norm's rows a pass that embeds reads back (pooledRows of the config: the last, the first, or all). */
  readonly embedRows: 'last' | 'first' | 'all';
  /** The sampler's per-request state (token counts, logit bias); `resetSampler` starts a request. Null where the model never decodes. */
  readonly sampler: Sampler | null;
  /**
   * What the KV cache holds: ids[p] is the token whose K and V are at position p (kept by `forward`), and
   * which positions the windowed layers' rings still hold (for a request that goes back behind ids' end).
   */
  readonly kv: { readonly ids: number[]; readonly rings: KvRings };
}

export interface BuildOptions {
  nCtx: number;
  maxBatch: number;
  quant: QuantScheme;
  /** K/V cache storage (default f16). */
  kvCache?: KvCacheType;
  /** Ids at or past it are never sampled: the tokenizer's vocabulary, when the embedding is padded (default: vocab). */
  nValid?: number;
  onProgress?: (fraction: number, what: string) => void;
  /** Pick each matmul's launch variants by a short timed trial (src/kernels/autotune.ts; default off). */
  autotune?: boolean;
  /**
   * Decode's GEMVs take in what feeds them (RMSNorm, x's Q8_0, SwiGLU): default on GPUs, off on CPU adapters, where a
   * layer's fused matmuls measured 1.42x the separate kernels' time (bench/fused.ts: every workgroup redoes the prologue).
   * There, by default, only decode attention hands its output over in Q8_0 (attention/decode_dims_q8): a SmolLM2 step
   * 24.6-25.0 against 25.2-25.3 ms without (bench/decode_knockout.ts --fuse default,false). false: no fusion at all.
   */
  fuseDecode?: boolean;
  /** q8 and q4 scales as f16 pairs where they are f16 values, as GGUF Q8_0 and Q4_0 files' are (UploadOptions.halfScales). */
  halfScales?: boolean;
  /**
   * F32, F16 and BF16 tensors converted to int8-g32, int8, FP8 or f16 on the GPU as they are uploaded
   * (src/kernels/quantize_weights.ts; the CPU's codes and scales), and to the ggml schemes on the GPU before they are
   * laid out (src/kernels/quantize_ggml.ts; the CPU's bytes), not on the CPU: default true. false: the CPU converts.
   */
  gpuQuantize?: boolean;
  /**
   * Decode attention by decode_wide (shaders/attention_wide.wgsl: a key a lane, workgroups of 64, splits of 64 keys),
   * written for GPUs, where decode's tiles cost a load's latency per 4 keys. Default: with autotune, a timed trial of
   * both at load (chooseDecodeWide); without, off.
   */
  wideAttention?: boolean;
}

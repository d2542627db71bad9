/**
 * What `Engine.load` (and `engine.recover()`) do before there is an engine: open the input (a file, a URL,
 * a Hub id, an HF folder), parse it, and build the model on a device, reporting progress and honouring
 * the abort signal. Nothing is left on the GPU when it fails.
 */
import { EmberError } from './errors.ts';
import type { Gpu, GpuOptions } from './gpu/device.ts';
import { acquireGpu, releaseGpu } from './gpu/shared.ts';
import { watchCompiles } from './gpu/pipelines.ts';
import { metaString, readGGUF } from './gguf/reader.ts';
import { configFromGGUF, embedsInOnePass, type ModelConfig } from './model/config.ts';
import { buildModel, type Model } from './model/model.ts';
import { checkQuantScheme, ggufWeights, type QuantScheme, type WeightSource } from './model/weight_source.ts';
import { readLoraAdapter, readPeftAdapter, withLora, type LoraAdapter } from './model/lora.ts';
import { ggufTensorName } from './hf/names.ts';
import { peftModuleWeight } from './hf/names_encoders.ts';
import type { HFModelType } from './hf/config.ts';

/** What adapters are checked against: a GGUF base's llama.cpp architecture, or an HF folder's model_type (its names). */
type LoraBase = { arch: string } | { hfType: HFModelType; qDim: number; kvDim: number };
import { tokenizerFromGGUF, type Tokenizer } from './tokenizer/index.ts';
import { loadHFModel } from './hf/model.ts';
import { ggufDenseLayers, rankHead, type DenseLayer } from './hf/sentence.ts';
import { embedRecipe, type EmbedRecipe } from './embed.ts';
import { describeInput, type ModelInput } from './model_input.ts';
import { folderChatTemplate } from './chat/template.ts';
import type { FileCache } from './loader/file_cache.ts';
import { openModel } from './loader/open_model.ts';
import { progressReporter, type ProgressCallback } from './loader/progress.ts';
import { cachedWeights, type WeightCache } from './model/weight_cache.ts';
import { checkLoadOptions, kvCacheOption } from './options.ts';
import type { KvCacheType } from './kernels/kv_layout.ts';
import { autotuneDefault } from './kernels/autotune.ts';
import { modelLists, precompile, precompileDefault, precompileHelpers } from './kernels/precompile.ts';

export interface LoadOptions {
  /** KV-cache length in tokens (default: the model's trained context, at most 4096). */
  contextLength?: number;
  /** Prompt tokens per prefill pass (default 256; an embedding model that runs each input in one pass: the context, at most 2,048). */
  maxBatch?: number;
  /** Weight storage: 'auto' keeps the file's types (default). */
  quant?: QuantScheme;
  /**
   * K/V cache storage (default 'f16'): bytes per position and layer are 2 * kv_dim * (4, 2, 1, 1) for f32, f16,
   * int8, fp8-e4m3, plus 8 per kv head for int8 and fp8-e4m3 (a scale per head and position).
   */
  kvCache?: KvCacheType;
  /** A device to use; by default engines share one per `gpuOptions`, kept between loads (src/gpu/shared.ts). */
  gpu?: Gpu;
  gpuOptions?: GpuOptions;
  /** Called as the load goes: the whole load's fraction (0 to 1), what it works on, and the event (phase, bytes). */
  onProgress?: ProgressCallback;
  /** Where Hub ids (org/name, org/name/file.gguf, org/name:Q4_K_M) resolve: a mirror, a test server (default https://huggingface.co). */
  hubUrl?: string;
  /**
   * A Hugging Face access token for gated and private repos (google/embeddinggemma-300m, meta-llama/...): sent as
   * `Authorization: Bearer` with the requests for a Hub id, to `hubUrl` alone (fetch drops it on the Hub's redirects to
   * its file storage, whose links are signed). In a page, anyone who can read the page can read the token.
   */
  hubToken?: string;
  /**
   * Where downloads (Hub ids, http(s) URLs) are kept, so that a second load makes no request: by default a cache
   * folder in Node (EMBERLM_CACHE, else ~/.cache/emberlm), Cache Storage in a page or worker; false: nothing is
   * kept, files are read by Range requests.
   */
  fileCache?: FileCache | false;
  /**
   * Keep converted weights between loads (folderWeightCache in Node, browserWeightCache in a page), keyed by the file's
   * name and size (GGUF) or the folder and its config (HF), the tensor and the scheme: the ggml schemes (converted on
   * the GPU or the CPU), and any conversion the GPU does not make as it uploads (`gpuQuantize: false`, rows not of
   * whole 32-blocks, quantized sources).
   * What the GPU converts as it uploads (int8-g32, int8, FP8, f16 of F32/F16/BF16 values) is not stored: converting
   * again costs less than the converted bytes would to read.
   */
  cache?: WeightCache;
  /** Aborts the load (download, parse, build): it rejects with `ABORTED` and leaves nothing on the GPU. */
  signal?: AbortSignal;
  /**
   * Time each matmul shape's launch variants for a moment at load and keep the fastest on this device
   * (src/kernels/autotune.ts; cached per adapter and shape). Default on, except on CPU adapters (compiling the
   * candidates costs tens of seconds there) and under test runners, where results must not depend on timing. A model
   * that attends both ways (an encoder, which never decodes) times its GEMMs alone: no GEMV, LM head or decode
   * attention trial.
   */
  autotune?: boolean;
  /**
   * Fuse RMSNorm, x's Q8_0 and SwiGLU into decode's GEMVs (default: on GPUs; on CPU adapters only attention's output in
   * Q8_0; false: nothing; see BuildOptions).
   */
  fuseDecode?: boolean;
  /** Q8_0 and Q4_0 scales on the GPU as f16 pairs, where each is an f16 value (default: on GPUs, off on CPU adapters; UploadOptions). */
  halfScales?: boolean;
  /**
   * F32, F16 and BF16 tensors converted to int8-g32, int8, FP8 or f16 on the GPU as they are uploaded, and to the ggml
   * schemes (q4_0 ... q6_k) on the GPU before they are laid out (the CPU's codes and scales, the same bytes; default
   * true), so a BF16 checkpoint loads with such a `quant` without converting in JavaScript; false: on the CPU.
   */
  gpuQuantize?: boolean;
  /**
   * Compile the model's pipelines at the end of the load where the adapter compiles each at its first dispatch (a CPU
   * adapter in Node: lavapipe, seconds a pipeline with Mesa's shader cache empty), on helper devices on the spare cores
   * too (src/kernels/precompile.ts); the first request then compiles nothing. Default on there, except under test
   * runners; elsewhere a GPU compiles as pipelines are made, and this finds nothing to do.
   */
  precompile?: boolean;
  /** Decode attention a key a lane (decode_wide, for GPUs; default: autotune's timed trial where autotune runs, else off). */
  wideAttention?: boolean;
  /**
   * LoRA adapters merged into the weights at load (src/model/lora.ts: W + scale alpha / rank B A, as llama.cpp applies
   * them), each a GGUF adapter (llama.cpp's convert_lora_to_gguf.py) or, for a Hugging Face folder, a PEFT folder, by
   * path, URL, Hub id, File or bytes; `scale` defaults to 1. The matrices they touch are not kept by `cache`.
   */
  lora?: readonly { adapter: ModelInput; scale?: number }[];
}

/** A model built on its device, with its tokenizer and chat template. */
export interface LoadedModel {
  model: Model;
  tokenizer: Tokenizer;
  /** The model's Jinja chat template (GGUF tokenizer.chat_template, HF tokenizer_config.json), or null. */
  chatTemplate: string | null;
  /** How `embed` pools (a sentence-transformers folder's modules, a file's pooling and Dense layers), or why it cannot. */
  recipe: EmbedRecipe | EmberError;
  /** A cross-encoder's head (its pooler and classifier over [CLS]: `rerank` scores by it), or null (src/hf/sentence.ts). */
  rankHead: readonly DenseLayer[] | null;
}

/**
 * maxBatch by default: 256, or for a model that embeds each input in one pass (bidirectional attention, every row
 * pooled) the context up to 2,048 tokens (EmbeddingGemma's), so that an input may fill it, as far as the widest
 * activation of a pass (the FFN's gate|up rows, or a mixture's slots) stays within WebGPU's default 128 MiB binding.
 */
export function defaultMaxBatch(c: ModelConfig, nCtx: number): number {
  if (!embedsInOnePass(c)) return 256;
  const rowBytes = 4 * Math.max(2 * c.nFf, c.moe ? 2 * c.moe.used * c.moe.nFf : 0, (c.nHead + 2 * c.nKv) * c.headDim);
  return Math.max(1, Math.min(nCtx, 2048, Math.floor(2 ** 27 / rowBytes)));
}

/**
 * Loads `input` onto `opts.gpu`, or onto the shared device for `opts.gpuOptions` (acquired here, and
 * released again when the load fails).
 */
export async function loadModel(input: ModelInput, opts: LoadOptions = {}): Promise<LoadedModel> {
  checkLoadOptions(opts);
  const quant = checkQuantScheme(opts.quant ?? 'auto');
  const kvCache = kvCacheOption(opts.kvCache);
  const nCtxOf = (c: ModelConfig) => {
    // (a model that attends both ways runs each input in one pass and holds nothing past it: by default its context is
    // that pass, so its K/V cache holds no rows a pass cannot reach: ModernBERT-base's 183 MB of f16 K/V became 132)
    const most = Math.min(c.contextTrain, 4096);
    const n = opts.contextLength ?? (c.bidirectional ? Math.min(most, opts.maxBatch ?? defaultMaxBatch(c, most)) : most);
    if (!(Number.isInteger(n) && n > 0)) throw new EmberError('BAD_ARGUMENT', `contextLength ${n} is not a positive integer`);
    // (learned positions end where the table does)
    if (c.learnedPositions && n > c.contextTrain) throw new EmberError('BAD_ARGUMENT', `contextLength ${n} is past ${c.name}'s ${c.contextTrain} learned positions`);
    return n;
  };
  const progress = progressReporter(opts.onProgress);
  const aborted = () => {
    if (opts.signal?.aborted) throw new EmberError('ABORTED', `the load of ${describeInput(input)} was aborted`);
  };
  // The adapters, read whole (they are small): GGUF ones checked against a GGUF base's llama.cpp architecture, PEFT
  // folders read by an HF folder base's tensor names.
  const loraAdapters = async (list: NonNullable<LoadOptions['lora']>, base: LoraBase): Promise<LoraAdapter[]> => {
    const adapters: LoraAdapter[] = [];
    for (const [i, { adapter, scale = 1 }] of list.entries()) {
      const opened = await openModel(adapter, { hubUrl: opts.hubUrl, hubToken: opts.hubToken, fileCache, onDownload: progress.download, signal: opts.signal });
      if (opened.kind === 'hf') {
        if (!('hfType' in base)) {
          throw new EmberError('UNSUPPORTED', `lora[${i}]: ${describeInput(adapter)} is a PEFT folder, whose names and q/k rows are a Hugging Face folder's; load the model's folder, or convert the adapter for the GGUF with llama.cpp's convert_lora_to_gguf.py`);
        }
        const { hfType, qDim, kvDim } = base;
        adapters.push(await readPeftAdapter(opened.folder, (module) => {
          const w = peftModuleWeight(module, hfType, qDim, kvDim);
          const tensor = ggufTensorName(w.hf, hfType);
          return tensor ? { tensor, part: w.part } : null;
        }, scale));
        continue;
      }
      try {
        const ad = await readLoraAdapter(await readGGUF(opened.source), scale);
        if ('arch' in base && ad.arch !== base.arch) throw new EmberError('BAD_ARGUMENT', `lora[${i}]: ${ad.name} is an adapter for ${ad.arch}, the model is ${base.arch}`);
        adapters.push(ad);
      } finally {
        await opened.source.close?.();
      }
    }
    return adapters;
  };
  const build = async (
    sourceWeights: WeightSource, config: ModelConfig, tokenizer: Tokenizer, chatTemplate: string | null, fileKey: string, recipe: EmbedRecipe | EmberError, loraBase: LoraBase,
  ): Promise<LoadedModel> => {
    const nCtx = nCtxOf(config);
    let weights = sourceWeights;
    if (opts.cache) weights = cachedWeights(weights, opts.cache, fileKey);
    // (the matrices an adapter touches read from the file itself: the cache knows nothing of adapters)
    if (opts.lora?.length) weights = withLora(weights, await loraAdapters(opts.lora, loraBase), sourceWeights);
    const gpu = opts.gpu ?? (await acquireGpu(opts.gpuOptions));
    const steps = config.nLayer + 2;
    const precompiling = opts.precompile ?? precompileDefault(gpu);
    const built = precompiling ? 0.9 : 1; // of the build's fraction: the rest is the compiling at its end
    const onProgress = (f: number, what: string) => {
      aborted(); // between layers: buildModel frees what it made
      progress.build(quant === 'auto' ? 'upload' : 'quantize', built * f, what, Math.round(f * steps), steps);
    };
    let compiles = 0;
    const unwatch = watchCompiles(gpu, (label) => progress.build('compile', 0, label, ++compiles, null));
    try {
      const model = await buildModel(gpu, weights, config, {
        nCtx,
        maxBatch: Math.min(opts.maxBatch ?? defaultMaxBatch(config, nCtx), nCtx),
        quant,
        kvCache,
        nValid: tokenizer.vocabSize,
        onProgress,
        autotune: opts.autotune ?? autotuneDefault(gpu.caps),
        fuseDecode: opts.fuseDecode,
        halfScales: opts.halfScales,
        gpuQuantize: opts.gpuQuantize,
        wideAttention: opts.wideAttention,
      });
      // The uploads and conversions done: a device lost on the way has said so by now, and a model on it is no model.
      await gpu.device.queue.onSubmittedWorkDone();
      if (precompiling && !opts.signal?.aborted && !gpu.lostReason) {
        const stop = () => !!opts.signal?.aborted || gpu.lostReason !== null;
        const report = (done: number, total: number, label: string) => progress.build('compile', built + ((1 - built) * done) / total, label, done, total);
        await precompile(gpu, modelLists(model), { helpers: precompileHelpers(), onProgress: report, stop });
      }
      if (opts.signal?.aborted || gpu.lostReason) await model.alloc.destroyAll();
      aborted();
      if (gpu.lostReason) throw lostWhileLoading(gpu);
      return { model, tokenizer, chatTemplate, recipe, rankHead: await rankHead(weights, config) };
    } catch (e) {
      if (!opts.gpu) releaseGpu(gpu);
      // A lost device fails a pending readback or pipeline, possibly before `lost` has settled.
      if (!(e instanceof EmberError)) await Promise.race([gpu.lost, new Promise((r) => setTimeout(r, 100))]);
      throw gpu.lostReason && !(e instanceof EmberError && e.code === 'ABORTED') ? lostWhileLoading(gpu) : e;
    } finally {
      unwatch();
    }
  };
  const lostWhileLoading = (gpu: Gpu) => new EmberError('DEVICE', `the GPU device was lost (${gpu.lostReason}) while loading ${describeInput(input)}; load again${opts.gpu ? ' on a new device' : ''}`);
  const fileCache = opts.fileCache === false ? null : (opts.fileCache ?? 'default');
  aborted();
  const opened = await openModel(input, { hubUrl: opts.hubUrl, hubToken: opts.hubToken, fileCache, onDownload: progress.download, signal: opts.signal });
  if (opened.kind === 'hf') {
    progress.parse(opened.folder.label('config.json'), false);
    const hf = await loadHFModel(opened.folder, quant);
    try {
      const template = await folderChatTemplate(opened.folder);
      progress.parse(opened.folder.label('config.json'), true);
      return await build(hf.weights as WeightSource, hf.config, hf.tokenizer, template, `${opened.key}|${JSON.stringify(hf.config)}`, embedRecipe(hf.config, hf.sentence), { hfType: hf.extra.modelType, qDim: hf.config.nHead * hf.config.headDim, kvDim: hf.config.nKv * hf.config.headDim });
    } finally {
      await hf.close();
    }
  }
  const src = opened.source;
  try {
    progress.parse(src.name, false);
    const file = await readGGUF(src);
    const template = file.metadata.get('tokenizer.chat_template');
    progress.parse(src.name, true);
    const chatTemplate = typeof template === 'string' ? template : null;
    const weights = ggufWeights(file);
    const config = configFromGGUF(file);
    const recipe = embedRecipe(config, null, await ggufDenseLayers(file, weights, config.nEmbd));
    return await build(weights, config, tokenizerFromGGUF(file), chatTemplate, opened.key, recipe, { arch: metaString(file, 'general.architecture', '') });
  } finally {
    await src.close?.();
  }
}

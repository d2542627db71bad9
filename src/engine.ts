import { EmberError } from './errors.ts';
import { checkLost, type Gpu, type GpuOptions } from './gpu/device.ts';
import { acquireGpu, releaseGpu } from './gpu/shared.ts';
import { readGGUF } from './gguf/reader.ts';
import { configFromGGUF, type ModelConfig } from './model/config.ts';
import { buildModel, forward, resetSampler, type Model } from './model/model.ts';
import { QUANT_SCHEMES, ggufWeights, type QuantScheme, type WeightSource } from './model/weight_source.ts';
import { tokenizerFromGGUF, TextStreamer, type Tokenizer } from './tokenizer/index.ts';
import { loadHFModel } from './hf/model.ts';
import type { ModelInput } from './model_input.ts';
import { folderChatTemplate } from './chat/template.ts';
import type { FileCache } from './loader/file_cache.ts';
import { openModel } from './loader/open_model.ts';
import { progressReporter, type ProgressCallback } from './loader/progress.ts';
import { cachedWeights, type WeightCache } from './model/weight_cache.ts';
import { mulberry32 } from './util/rng.ts';
import { validateSampling, type SamplingOptions } from './sampling.ts';

export type { ModelInput } from './model_input.ts';

export interface LoadOptions {
  /** KV-cache length in tokens (default: the model's trained context, at most 4096). */
  contextLength?: number;
  /** Prompt tokens per prefill pass (default 256). */
  maxBatch?: number;
  /** Weight storage: 'auto' keeps the file's types (default). */
  quant?: QuantScheme;
  /** A device to use; by default engines share one per `gpuOptions`, kept between loads (src/gpu/shared.ts). */
  gpu?: Gpu;
  gpuOptions?: GpuOptions;
  /** Called as the load goes: the whole load's fraction (0 to 1), what it works on, and the event (phase, bytes). */
  onProgress?: ProgressCallback;
  /** Where Hub ids (org/name, org/name/file.gguf, org/name:Q4_K_M) resolve: a mirror, a test server (default https://huggingface.co). */
  hubUrl?: string;
  /**
   * Where downloads (Hub ids, http(s) URLs) are kept, so that a second load makes no request: by default a cache
   * folder in Node (EMBERLM_CACHE, else ~/.cache/emberlm), Cache Storage in a page or worker; false: nothing is
   * kept, files are read by Range requests.
   */
  fileCache?: FileCache | false;
  /**
   * Keep quantized weights between loads (folderWeightCache in Node, browserWeightCache in a page), keyed by
   * the file's name and size (GGUF) or the folder and its config (HF), the tensor and the scheme.
   */
  cache?: WeightCache;
}

/** Sampling (temperature, topK, topP, minP, penalties, logitBias, seed: see src/sampling.ts) and the rest of a request. */
export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number; // default 128
  addBos?: boolean; // default: the tokenizer's
  /** Match special tokens written in a string prompt (`<|im_start|>`); default false, so user text cannot inject them. */
  parseSpecial?: boolean;
  stopAtEos?: boolean; // default true
  signal?: AbortSignal;
}

export interface GeneratedToken {
  id: number;
  /** Text this token completes (may be '' mid-character). */
  text: string;
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  ttftMs: number;
  prefillTokS: number;
  decodeTokS: number;
  tokenMs: number[]; // per generated token after the first
}

export interface GenerationResult {
  promptIds: number[];
  ids: number[];
  text: string;
  finishReason: 'stop' | 'length' | 'abort';
  stats: GenerationStats;
}

/** A loaded model with its tokenizer; one generation runs at a time (calls queue up). */
export class Engine {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    /** The model's Jinja chat template (GGUF tokenizer.chat_template, HF tokenizer_config.json), or null. */
    readonly chatTemplate: string | null,
    private readonly ownsGpu: boolean,
  ) {}

  get config(): ModelConfig {
    return this.model.config;
  }

  static async load(input: ModelInput, opts: LoadOptions = {}): Promise<Engine> {
    const quant = opts.quant ?? 'auto';
    if (!QUANT_SCHEMES.includes(quant)) throw new EmberError('BAD_ARGUMENT', `quant "${quant}" is not one of ${QUANT_SCHEMES.join(', ')}`);
    const nCtxOf = (c: ModelConfig) => {
      const n = opts.contextLength ?? Math.min(c.contextTrain, 4096);
      if (!(Number.isInteger(n) && n > 0)) throw new EmberError('BAD_ARGUMENT', `contextLength ${n} is not a positive integer`);
      return n;
    };
    const progress = progressReporter(opts.onProgress);
    const build = async (sourceWeights: WeightSource, config: ModelConfig, tokenizer: Tokenizer, chatTemplate: string | null, fileKey: string) => {
      const nCtx = nCtxOf(config);
      let weights = sourceWeights;
      if (opts.cache) weights = cachedWeights(weights, opts.cache, fileKey);
      const gpu = opts.gpu ?? (await acquireGpu(opts.gpuOptions));
      const steps = config.nLayer + 2;
      const onProgress = (f: number, what: string) => progress.build(quant === 'auto' ? 'upload' : 'quantize', f, what, Math.round(f * steps), steps);
      try {
        const model = await buildModel(gpu, weights, config, { nCtx, maxBatch: Math.min(opts.maxBatch ?? 256, nCtx), quant, nValid: tokenizer.vocabSize, onProgress });
        return new Engine(model, tokenizer, chatTemplate, !opts.gpu);
      } catch (e) {
        if (!opts.gpu) releaseGpu(gpu);
        throw e;
      }
    };
    const fileCache = opts.fileCache === false ? null : (opts.fileCache ?? 'default');
    const opened = await openModel(input, { hubUrl: opts.hubUrl, fileCache, onDownload: progress.download });
    if (opened.kind === 'hf') {
      progress.parse(opened.folder.label('config.json'), false);
      const hf = await loadHFModel(opened.folder, quant);
      try {
        const template = await folderChatTemplate(opened.folder);
        progress.parse(opened.folder.label('config.json'), true);
        return await build(hf.weights as WeightSource, hf.config, hf.tokenizer, template, `${opened.key}|${JSON.stringify(hf.config)}`);
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
      return await build(ggufWeights(file), configFromGGUF(file), tokenizerFromGGUF(file), typeof template === 'string' ? template : null, opened.key);
    } finally {
      await src.close?.();
    }
  }

  tokenize(text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { addBos: opts.addBos ?? this.tokenizer.addBos, parseSpecial: opts.parseSpecial ?? false });
  }

  /** Streams tokens as they are generated; the return value of the iterator is the whole result. */
  async *generate(prompt: string | readonly number[], opts: GenerateOptions = {}): AsyncGenerator<GeneratedToken, GenerationResult> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = this.queue;
    this.queue = before.then(() => mine);
    await before;
    try {
      return yield* this.run(prompt, opts);
    } finally {
      release();
    }
  }

  /** Runs a generation to the end and returns the result. */
  async complete(prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerationResult> {
    const it = this.generate(prompt, opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  private async *run(prompt: string | readonly number[], o: GenerateOptions): AsyncGenerator<GeneratedToken, GenerationResult> {
    if (this.disposed) throw new EmberError('BAD_ARGUMENT', 'this engine was disposed');
    checkLost(this.model.gpu);
    const m = this.model;
    const maxTokens = o.maxTokens ?? 128;
    const sampling = validateSampling(o, { vocabSize: this.tokenizer.vocabSize });
    if (!(maxTokens >= 0)) throw new EmberError('BAD_ARGUMENT', `maxTokens must be >= 0, got ${maxTokens}`);
    const t0 = performance.now();
    const promptIds = typeof prompt === 'string' ? this.tokenize(prompt, o) : [...prompt];
    if (promptIds.length === 0) throw new EmberError('BAD_ARGUMENT', 'the prompt is empty and the model adds no BOS token');
    if (promptIds.length > m.nCtx) {
      throw new EmberError('CONTEXT_OVERFLOW', `the prompt has ${promptIds.length} tokens but the context holds ${m.nCtx}`, { promptTokens: promptIds.length, nCtx: m.nCtx });
    }
    const rand = mulberry32(sampling.seed);
    const streamer = new TextStreamer(this.tokenizer, { stripLeadingSpace: false });
    const ids: number[] = [];
    const tokenMs: number[] = [];
    let text = '';
    let finishReason: GenerationResult['finishReason'] = 'length';
    let tFirst = t0, tPrefillStart = t0;

    const aborted = () => o.signal?.aborted ?? false;
    if (maxTokens > 0 && !aborted()) {
      // Prefill in passes of maxBatch tokens; only the last pass's sample is used.
      tPrefillStart = performance.now();
      resetSampler(m, promptIds, sampling);
      let next = 0;
      for (let i = 0; i < promptIds.length; i += m.maxBatch) {
        // Only the last pass's sample is generated: it alone is counted and draws a random number, so a seed
        // gives the same tokens however the prompt is split.
        const last = i + m.maxBatch >= promptIds.length;
        next = await forward(m, promptIds.slice(i, i + m.maxBatch), i, { ...sampling, record: last }, last ? rand() : 0);
      }
      tFirst = performance.now();
      let pos = promptIds.length;
      let tPrev = tFirst;
      for (;;) {
        ids.push(next);
        if ((o.stopAtEos ?? true) && this.tokenizer.isEndOfGeneration(next)) {
          finishReason = 'stop';
          break;
        }
        const piece = streamer.push(next);
        text += piece;
        yield { id: next, text: piece };
        if (ids.length >= maxTokens || pos >= m.nCtx) break;
        if (aborted()) {
          finishReason = 'abort';
          break;
        }
        next = await forward(m, [next], pos++, sampling, rand());
        const now = performance.now();
        tokenMs.push(now - tPrev);
        tPrev = now;
      }
      const tail = streamer.flush();
      if (tail) {
        text += tail;
        yield { id: -1, text: tail };
      }
    } else if (aborted()) finishReason = 'abort';
    const decodeMs = tokenMs.reduce((a, b) => a + b, 0);
    return {
      promptIds,
      ids,
      text,
      finishReason,
      stats: {
        promptTokens: promptIds.length,
        generatedTokens: ids.length,
        ttftMs: tFirst - t0,
        prefillTokS: promptIds.length / ((tFirst - tPrefillStart) / 1000),
        decodeTokS: tokenMs.length > 0 ? tokenMs.length / (decodeMs / 1000) : 0,
        tokenMs,
      },
    };
  }

  /** Frees every GPU buffer of the model, and gives back the shared device if the engine took it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.alloc.destroyAll();
    if (this.ownsGpu) releaseGpu(this.model.gpu);
  }
}

import { EmberError } from './errors.ts';
import { checkLost, type Gpu, type GpuOptions } from './gpu/device.ts';
import { acquireGpu, releaseGpu } from './gpu/shared.ts';
import { watchCompiles } from './gpu/pipelines.ts';
import { readGGUF } from './gguf/reader.ts';
import { configFromGGUF, type ModelConfig } from './model/config.ts';
import { buildModel, resetSampler, submitForward, type Model, type PendingStep } from './model/model.ts';
import { READBACK_RING } from './model/readback_ring.ts';
import { QUANT_SCHEMES, ggufWeights, type QuantScheme, type WeightSource } from './model/weight_source.ts';
import { tokenizerFromGGUF, TextStreamer, type Tokenizer } from './tokenizer/index.ts';
import { loadHFModel } from './hf/model.ts';
import { describeInput, type ModelInput } from './model_input.ts';
import { DeviceLostEvent } from './device_lost.ts';
import { folderChatTemplate } from './chat/template.ts';
import type { FileCache } from './loader/file_cache.ts';
import { openModel } from './loader/open_model.ts';
import { progressReporter, type ProgressCallback } from './loader/progress.ts';
import { cachedWeights, type WeightCache } from './model/weight_cache.ts';
import { mulberry32 } from './util/rng.ts';
import { GREEDY, validateSampling, type ResolvedSampling, type SamplingOptions } from './sampling.ts';
import { Scheduler } from './scheduler.ts';
import { TokenPipe, type GeneratedToken, type GenerationResult, type ProducerEnd } from './token_pipe.ts';
import { commonPrefix, defaultKeep, shrink, shrinkTarget, type ContextOverflow } from './context.ts';
import {
  boolOption, checkLoadOptions, checkPrompt, intOption, kvCacheOption, overflowOption, signalOption,
} from './options.ts';
import type { KvCacheType } from './kernels/kv_layout.ts';
import type { Sampling } from './model/model.ts';
import { autotuneDefault } from './kernels/autotune.ts';

export type { ModelInput } from './model_input.ts';
export type { GeneratedToken, GenerationResult, GenerationStats } from './token_pipe.ts';
export type { ContextOverflow } from './context.ts';

export interface LoadOptions {
  /** KV-cache length in tokens (default: the model's trained context, at most 4096). */
  contextLength?: number;
  /** Prompt tokens per prefill pass (default 256). */
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
  /** Aborts the load (download, parse, build): it rejects with `ABORTED` and leaves nothing on the GPU. */
  signal?: AbortSignal;
  /**
   * Time each matmul shape's launch variants for a moment at load and keep the fastest on this device
   * (src/kernels/autotune.ts; cached per adapter and shape). Default on, except on CPU adapters (compiling the
   * candidates costs tens of seconds there) and under test runners, where results must not depend on timing.
   */
  autotune?: boolean;
}

/** Sampling (temperature, topK, topP, minP, penalties, logitBias, seed: see src/sampling.ts) and the rest of a request. */
export interface GenerateOptions extends SamplingOptions {
  maxTokens?: number; // default 128
  addBos?: boolean; // default: the tokenizer's
  /** Match special tokens written in a string prompt (`<|im_start|>`); default false, so user text cannot inject them. */
  parseSpecial?: boolean;
  stopAtEos?: boolean; // default true
  signal?: AbortSignal;
  /** When prompt plus generation outgrow the context (default 'error'; the policies: src/context.ts, README). */
  contextOverflow?: ContextOverflow;
  /** 'truncate-middle': tokens kept at the start (default: a quarter of the context). */
  keepTokens?: number;
  /** Run only the part of the prompt that the KV cache does not already hold (default true). */
  reuseKv?: boolean;
}

/** `generate`'s stream: iterate for tokens; `result` (also the iterator's return value) is the whole result. */
export interface GenerationStream extends AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
  /** Settles when the generation ends, also when the iterator is closed early (finishReason 'abort'). */
  readonly result: Promise<GenerationResult>;
}

export { DeviceLostEvent } from './device_lost.ts';

/** A prepared request: checked options and the token sequence to run. */
interface Request {
  promptIds: number[];
  seq: number[]; // what the KV cache must hold before the next sample: prompt (cut to fit) + generated
  dropped: number;
  maxTokens: number;
  sampling: ResolvedSampling;
  stopAtEos: boolean;
  overflow: ContextOverflow;
  keep: number;
  reuse: boolean;
}

/** A decode step submitted ahead: it feeds the token at `pos` (sampled by the step before it) and samples token `j`. */
interface Ahead {
  pos: number;
  j: number;
  step: PendingStep;
}

/** Iterators dropped without return(): when one is collected, its pipe is closed and the engine moves on. */
const abandoned = new FinalizationRegistry<{ pipe: TokenPipe | null }>((slot) => slot.pipe?.close());

const ENGINE_DISPOSED = 'this engine was disposed';

/**
 * A loaded model with its tokenizer. Generations take turns on the model (one at a time, in order of
 * their first read); the KV cache keeps the tokens of the latest one, so a request that starts with
 * them runs only what is new.
 */
export class Engine extends EventTarget {
  private disposed = false;
  private readonly scheduler = new Scheduler();
  private readonly live = new Set<TokenPipe>();
  /** The request whose counts and logit bias the GPU sampler holds (another's must restore its own). */
  private samplerOwner: TokenPipe | null = null;
  /** Prompt tokens per prefill pass, tuned from measured pass times toward `tuning.passMs`. */
  private passTokens = 4; // small at first: the first pass on a slow device should not hold a Stop for long
  /**
   * passMs: GPU time one prefill pass aims at (a Stop waits for at most about one pass); Infinity: passes
   * of maxBatch tokens.
   * runAheadMs: while another request waits, how long a generation whose reader has not come back keeps
   * generating into its buffer before it steps aside (it resumes, re-running its tokens, when read again).
   * decodeAhead: decode steps in flight on the GPU (1 to 4): each step takes its token from the previous
   * one's sample on the GPU, so the next is submitted while one runs; 1 waits for each id before the next.
   */
  readonly tuning = { passMs: 100, runAheadMs: 1000, decodeAhead: 2 };

  private constructor(
    private current: Model,
    readonly tokenizer: Tokenizer,
    /** The model's Jinja chat template (GGUF tokenizer.chat_template, HF tokenizer_config.json), or null. */
    readonly chatTemplate: string | null,
    private ownsGpu: boolean,
    /** What `recover()` loads again. */
    private readonly source: { input: ModelInput; opts: LoadOptions },
  ) {
    super();
    this.watch(current.gpu);
  }

  get model(): Model {
    return this.current;
  }

  /** KV-cache length in tokens. */
  get contextLength(): number {
    return this.current.nCtx;
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  static async load(input: ModelInput, opts: LoadOptions = {}): Promise<Engine> {
    checkLoadOptions(opts);
    const quant = opts.quant ?? 'auto';
    if (!QUANT_SCHEMES.includes(quant)) throw new EmberError('BAD_ARGUMENT', `quant "${quant}" is not one of ${QUANT_SCHEMES.join(', ')}`);
    const kvCache = kvCacheOption(opts.kvCache);
    const nCtxOf = (c: ModelConfig) => {
      const n = opts.contextLength ?? Math.min(c.contextTrain, 4096);
      if (!(Number.isInteger(n) && n > 0)) throw new EmberError('BAD_ARGUMENT', `contextLength ${n} is not a positive integer`);
      return n;
    };
    const progress = progressReporter(opts.onProgress);
    const aborted = () => {
      if (opts.signal?.aborted) throw new EmberError('ABORTED', `the load of ${describeInput(input)} was aborted`);
    };
    const build = async (sourceWeights: WeightSource, config: ModelConfig, tokenizer: Tokenizer, chatTemplate: string | null, fileKey: string) => {
      const nCtx = nCtxOf(config);
      let weights = sourceWeights;
      if (opts.cache) weights = cachedWeights(weights, opts.cache, fileKey);
      const gpu = opts.gpu ?? (await acquireGpu(opts.gpuOptions));
      const steps = config.nLayer + 2;
      const onProgress = (f: number, what: string) => {
        aborted(); // between layers: buildModel frees what it made
        progress.build(quant === 'auto' ? 'upload' : 'quantize', f, what, Math.round(f * steps), steps);
      };
      let compiles = 0;
      const unwatch = watchCompiles(gpu, (label) => progress.build('compile', 0, label, ++compiles, null));
      try {
        const model = await buildModel(gpu, weights, config, { nCtx, maxBatch: Math.min(opts.maxBatch ?? 256, nCtx), quant, kvCache, nValid: tokenizer.vocabSize, onProgress, autotune: opts.autotune ?? autotuneDefault(gpu.caps.adapterName) });
        if (opts.signal?.aborted) model.alloc.destroyAll();
        aborted();
        return new Engine(model, tokenizer, chatTemplate, !opts.gpu, { input, opts });
      } catch (e) {
        if (!opts.gpu) releaseGpu(gpu);
        throw e;
      } finally {
        unwatch();
      }
    };
    const fileCache = opts.fileCache === false ? null : (opts.fileCache ?? 'default');
    aborted();
    const opened = await openModel(input, { hubUrl: opts.hubUrl, fileCache, onDownload: progress.download, signal: opts.signal });
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

  /**
   * Streams tokens as they are generated; the return value of the iterator (and `result`) is the whole
   * result. The request joins the line at the first `next()`. Streams may be read in any order: one
   * whose reader is away steps aside for the others (see `tuning.runAheadMs`); `return()`, the signal,
   * or dropping the iterator (once it is garbage-collected) ends it.
   */
  generate(prompt: string | readonly number[], opts: GenerateOptions = {}): GenerationStream {
    const slot: { pipe: TokenPipe | null } = { pipe: null };
    let linkResult!: (p: Promise<GenerationResult>) => void;
    const result = new Promise<GenerationResult>((resolve) => (linkResult = resolve));
    const engine = this;
    async function* consume(): AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
      let pipe: TokenPipe;
      try {
        pipe = slot.pipe = engine.open(engine.prepare(prompt, opts), opts.signal);
      } catch (e) {
        linkResult(Promise.reject(e));
        throw e;
      }
      linkResult(pipe.result);
      let finished = false;
      try {
        for (;;) {
          const r = await pipe.pull();
          if (r.done) {
            finished = true;
            return r.value;
          }
          yield r.value;
        }
      } finally {
        if (!finished) pipe.close();
      }
    }
    const stream = Object.assign(consume(), { result });
    void result.catch(() => {});
    abandoned.register(stream, slot);
    return stream;
  }

  /** Runs a generation to the end and returns the result. */
  async complete(prompt: string | readonly number[], opts: GenerateOptions = {}): Promise<GenerationResult> {
    const it = this.generate(prompt, opts);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /** Checks the options and the prompt, and fits the prompt to the context by the overflow policy. */
  private prepare(prompt: string | readonly number[], o: GenerateOptions): Request {
    if (this.disposed) throw new EmberError('BAD_ARGUMENT', ENGINE_DISPOSED);
    checkLost(this.current.gpu);
    if (o === null || typeof o !== 'object') {
      throw new EmberError('BAD_ARGUMENT', `options must be an object, got ${String(o)}`);
    }
    checkPrompt(prompt, this.config.vocab);
    const nCtx = this.current.nCtx;
    const r: Request = {
      promptIds: [],
      seq: [],
      dropped: 0,
      maxTokens: intOption('maxTokens', o.maxTokens, 0) ?? 128,
      sampling: validateSampling(o, { vocabSize: this.tokenizer.vocabSize }),
      stopAtEos: boolOption('stopAtEos', o.stopAtEos) ?? true,
      overflow: overflowOption('contextOverflow', o.contextOverflow) ?? 'error',
      keep: intOption('keepTokens', o.keepTokens, 0) ?? defaultKeep(nCtx),
      reuse: boolOption('reuseKv', o.reuseKv) ?? true,
    };
    signalOption(o.signal);
    const addBos = boolOption('addBos', o.addBos);
    const parseSpecial = boolOption('parseSpecial', o.parseSpecial);
    r.promptIds = typeof prompt === 'string' ? this.tokenize(prompt, { addBos, parseSpecial }) : [...prompt];
    if (r.promptIds.length === 0) {
      throw new EmberError('BAD_ARGUMENT', 'the prompt is empty and the model adds no BOS token');
    }
    r.seq = [...r.promptIds];
    if (r.seq.length > nCtx) {
      if (r.overflow === 'error') {
        const promptTokens = r.seq.length;
        throw new EmberError('CONTEXT_OVERFLOW', `the prompt has ${promptTokens} tokens but the context holds ${nCtx}`, { promptTokens, nCtx });
      }
      this.cut(r);
    }
    return r;
  }

  /** Cuts the request's sequence to three quarters of the context by its overflow policy. */
  private cut(r: Request): void {
    if (r.overflow === 'error') return;
    const kept = shrink(r.seq, shrinkTarget(this.current.nCtx), r.overflow, r.keep, this.tokenizer.bosId);
    r.dropped += r.seq.length - kept.length;
    r.seq = kept;
  }

  /** A pipe for the request; its producer starts at the first read. */
  private open(r: Request, signal: AbortSignal | undefined): TokenPipe {
    const pipe: TokenPipe = new TokenPipe(signal, () => void this.produce(pipe, r), () => this.scheduler.cancel(pipe));
    return pipe;
  }

  /** Runs the request whenever it holds the engine and its reader wants tokens, into its pipe. */
  private async produce(pipe: TokenPipe, r: Request): Promise<void> {
    this.live.add(pipe);
    let held = false;
    const ids: number[] = [];
    let text = '';
    // Decode steps submitted after the one awaited, oldest first. Each feeds the token the step before it
    // sampled (on the GPU, at `pos`) and samples token `j`; they are confirmed one by one as they are read
    // back, and dropped, never delivered nor in m.kv.ids, when the generation stops or steps aside.
    const ahead: Ahead[] = [];
    let tail = { pos: 0, j: 0 }; // the latest step submitted
    const dropAhead = () => {
      if (ahead.length === 0) return;
      ahead.length = 0;
      // Their samples were counted for the penalties: the counts are written again from the kept tokens.
      if (this.samplerOwner === pipe) this.samplerOwner = null;
    };
    try {
      const streamer = new TextStreamer(this.tokenizer, { stripLeadingSpace: false });
      const rand = mulberry32(r.sampling.seed);
      const draws: number[] = []; // draws[j]: generated token j's uniform number, one draw per token, kept for a rerun
      const drawFor = (j: number) => {
        while (draws.length <= j) draws.push(rand());
        return draws[j];
      };
      // Submits steps after the latest while fewer than decodeAhead are in flight and the one-step loop
      // would run them if no stop came (tokens below maxTokens, positions inside the context).
      const fillAhead = async () => {
        // At most maxBatch + 1: a windowed layer's ring then never loses a slot the kept tokens still need.
        const wanted = Math.floor(this.tuning.decodeAhead) || 1;
        const depth = Math.max(1, Math.min(wanted, READBACK_RING, this.current.maxBatch + 1));
        while (1 + ahead.length < depth) {
          const next = { pos: tail.pos + 1, j: tail.j + 1 };
          if (next.j >= r.maxTokens || next.pos >= this.current.nCtx || pipe.stopped || this.disposed) return;
          ahead.push({ ...next, step: await submitForward(this.current, null, next.pos, r.sampling, drawFor(next.j)) });
          tail = next;
        }
      };
      const tokenMs: number[] = [];
      let finishReason: GenerationResult['finishReason'] = 'length';
      let eos: number | null = null;
      let cachedTokens = 0;
      let t0 = 0, tPrefill = 0, tFirst = 0, tPrev = 0, prefillRun = 0;
      for (;;) {
        if (r.maxTokens === 0 || pipe.stopped) {
          if (pipe.stopped) finishReason = 'abort';
          break;
        }
        if (!held) held = await this.scheduler.acquire(pipe);
        if (this.disposed) throw new EmberError('ABORTED', ENGINE_DISPOSED);
        if (!held) {
          finishReason = 'abort'; // taken out of the line by its signal or its reader going away
          break;
        }
        if (t0 === 0) t0 = performance.now();
        checkLost(this.current.gpu);
        const first = ids.length === 0;
        const tStep = performance.now();
        let step: PendingStep | null;
        let fedAt = -1; // a step submitted ahead: the position of the token it fed, known to the CPU by now
        const queued = ahead.shift();
        if (queued) {
          step = queued.step;
          fedAt = queued.pos;
        } else {
          if (this.samplerOwner !== pipe) {
            resetSampler(this.current, r.promptIds, r.sampling, ids); // a new request, or one resumed after another ran
            this.samplerOwner = pipe;
          }
          const u = drawFor(ids.length);
          const stop = () => pipe.stopped || this.disposed;
          const run = await this.advance(r.seq, r.sampling, u, r.reuse || !first, stop, true);
          if (first) {
            cachedTokens = run.cached;
            prefillRun = r.seq.length - run.cached;
          }
          step = run.step;
          tail = { pos: r.seq.length - 1, j: ids.length };
        }
        if (step) await fillAhead(); // the next steps go to the GPU before this one's id is awaited
        const id = step ? await step.wait() : null;
        if (this.disposed) throw new EmberError('ABORTED', ENGINE_DISPOSED);
        const kv = this.current.kv.ids;
        if (fedAt >= 0 && kv.length === fedAt) kv.push(r.seq[fedAt]); // its K and V are in the cache now
        const now = performance.now();
        if (first) {
          tPrefill = now - tStep;
          tFirst = now;
        } else tokenMs.push(now - tPrev);
        tPrev = now;
        if (id === null || pipe.stopped) {
          finishReason = 'abort'; // stopped between passes, or during the last one: its token is dropped
          break;
        }
        ids.push(id);
        if (r.stopAtEos && this.tokenizer.isEndOfGeneration(id)) {
          finishReason = 'stop';
          eos = id;
          break;
        }
        const piece = streamer.push(id);
        text += piece;
        pipe.push({ id, text: piece });
        if (ids.length >= r.maxTokens) break;
        r.seq.push(id);
        if (r.seq.length > this.current.nCtx) {
          if (r.overflow === 'error') break; // the context is full: 'length'
          this.cut(r); // never with steps ahead: none runs past the context
        }
        held = await this.awaitReader(pipe, held, dropAhead);
      }
      dropAhead();
      const rest = streamer.flush();
      if (rest) {
        text += rest;
        pipe.push({ id: -1, text: rest });
      }
      const decodeMs = tokenMs.reduce((a, b) => a + b, 0);
      const end: ProducerEnd = {
        promptIds: r.promptIds,
        finishReason,
        eos,
        stats: {
          promptTokens: r.promptIds.length,
          cachedTokens,
          droppedTokens: r.dropped,
          ttftMs: tFirst > 0 ? tFirst - t0 : 0,
          prefillTokS: tFirst > 0 ? prefillRun / (tPrefill / 1000) : 0,
          decodeTokS: tokenMs.length > 0 ? tokenMs.length / (decodeMs / 1000) : 0,
          tokenMs,
        },
      };
      pipe.finish(end);
    } catch (e) {
      dropAhead();
      pipe.fail(await this.failure(e, r.promptIds, ids, text));
    } finally {
      if (held) this.scheduler.release(pipe);
      this.live.delete(pipe);
    }
  }

  /**
   * Waits until the reader asks for the next token (or the generation stops). While another request
   * is in line, the generation runs ahead into its buffer for `tuning.runAheadMs` after the last read,
   * then lets go of the engine (`beforeRelease` first). Returns whether it still holds the engine.
   */
  private async awaitReader(pipe: TokenPipe, held: boolean, beforeRelease: () => void): Promise<boolean> {
    for (;;) {
      if (pipe.reading || pipe.stopped || this.disposed) return held;
      if (held && this.scheduler.contended) {
        if (performance.now() - pipe.lastReadAt < this.tuning.runAheadMs) return held;
        beforeRelease();
        this.scheduler.release(pipe);
        held = false;
      }
      await pipe.wake.wait();
    }
  }

  /**
   * Makes the KV cache hold `seq`: only the part after the prefix the cache already holds runs (at least
   * the last token), in passes of about `tuning.passMs`; `stop` is checked before each pass. Returns the
   * last pass submitted, not awaited (its id is the one sampled after seq; null when it stopped).
   */
  private async advance(
    seq: readonly number[], s: Sampling, u: number, reuse: boolean, stop: () => boolean, record: boolean,
  ): Promise<{ step: PendingStep | null; cached: number }> {
    const m = this.current;
    let cached = Math.min(reuse ? commonPrefix(m.kv.ids, seq) : 0, seq.length - 1);
    // Windowed layers keep a ring: going back behind what the cache holds may need slots that later
    // positions overwrote, so such models reuse only when the new sequence extends the cached one.
    const windowed = m.config.layerWindow.some((w) => w > 0);
    if (windowed && cached < m.kv.ids.length) cached = 0;
    for (let p = cached; ; ) {
      if (stop()) return { step: null, cached };
      const n = Math.min(seq.length - p, Number.isFinite(this.tuning.passMs) ? this.passTokens : m.maxBatch, m.maxBatch);
      const last = p + n === seq.length; // only its sample is kept: counted for the penalties, drawn with u
      const t = performance.now();
      const pass = await submitForward(m, seq.slice(p, p + n), p, { ...s, record: record && last }, last ? u : 0);
      const step = {
        wait: async () => {
          const id = await pass.wait();
          if (n > 1) this.tunePass(n, performance.now() - t);
          return id;
        },
      };
      if (last) return { step, cached };
      await step.wait();
      p += n;
    }
  }

  /** Moves the pass size halfway toward the one that would have taken `tuning.passMs`. */
  private tunePass(n: number, ms: number): void {
    const fit = (n * this.tuning.passMs) / Math.max(ms, 1e-3);
    // A multiple of the GEMMs' token tile: a pass of 5 costs what one of 8 does when they take 4 at a time.
    const tile = this.current.tokenTile;
    const want = tile * Math.max(1, Math.round((this.passTokens + fit) / 2 / tile));
    this.passTokens = Math.max(1, Math.min(this.current.maxBatch, want));
  }

  /** The error a generation ends with, carrying what it produced. */
  private async failure(e: unknown, promptIds: number[], ids: number[], text: string): Promise<EmberError> {
    const gpu = this.current.gpu;
    const details = { promptIds, ids: [...ids], text };
    const after = `after ${ids.length} generated tokens`;
    if (this.disposed) {
      return new EmberError('ABORTED', `the engine was disposed during the generation, ${after}`, { ...details, finishReason: 'abort' });
    }
    // A destroyed or lost device fails the pending readback, possibly before `lost` has settled.
    if (!(e instanceof EmberError)) await Promise.race([gpu.lost, new Promise((r) => setTimeout(r, 100))]);
    if (gpu.lostReason) {
      const why = `the GPU device was lost (${gpu.lostReason}) ${after}; engine.recover() reloads the model`;
      return new EmberError('DEVICE', why, details);
    }
    if (e instanceof EmberError) {
      return new EmberError(e.code, e.message.replace(/^\[[A-Z_]+\] /, ''), { ...e.details, ...details });
    }
    return new EmberError('DEVICE', `the generation failed ${after}: ${(e as Error)?.message ?? String(e)}`, details);
  }

  private watch(gpu: Gpu): void {
    // A weak reference: the shared device outlives its engines, and its lost promise must not keep
    // every disposed engine (and its model's objects) alive.
    const ref = new WeakRef(this);
    void gpu.lost.then((reason) => {
      const engine = ref.deref();
      if (engine && !engine.disposed && engine.current.gpu === gpu) engine.dispatchEvent(new DeviceLostEvent(reason));
    });
  }

  /**
   * After a device loss (or at any time): loads the model again from the same source on a new device
   * (`opts.gpu`, else one made with the load's gpuOptions), then runs the tokens the KV cache held,
   * so that a conversation continues where it was. Waits for the running generation to end first.
   */
  async recover(opts: { gpu?: Gpu } = {}): Promise<void> {
    if (this.disposed) throw new EmberError('BAD_ARGUMENT', ENGINE_DISPOSED);
    const me = { contended: () => {} };
    await this.scheduler.acquire(me);
    try {
      const history = [...this.current.kv.ids];
      const gpu = opts.gpu ?? (await acquireGpu(this.source.opts.gpuOptions)); // a lost shared device is replaced
      let fresh: Engine;
      try {
        fresh = await Engine.load(this.source.input, { ...this.source.opts, signal: undefined, gpu }); // the load's signal was for that load
      } catch (e) {
        if (!opts.gpu) releaseGpu(gpu);
        throw e;
      }
      fresh.disposed = true; // its model is taken over below; the shell must not report events
      const old = this.current;
      old.alloc.destroyAll();
      if (this.ownsGpu) releaseGpu(old.gpu);
      this.current = fresh.current;
      this.samplerOwner = null;
      this.ownsGpu = !opts.gpu;
      this.watch(gpu);
      if (history.length > 0) {
        const { step } = await this.advance(history, GREEDY, 0, false, () => this.disposed, false);
        await step?.wait();
      }
    } finally {
      this.scheduler.release(me);
    }
  }

  /**
   * Frees every GPU buffer of the model (and the device, if the engine made it). A generation still
   * running ends with an ABORTED error carrying what it produced; those in line end the same way.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.scheduler.cancelAll();
    for (const p of this.live) p.wake.notify();
    this.current.alloc.destroyAll();
    if (this.ownsGpu) releaseGpu(this.current.gpu);
  }
}

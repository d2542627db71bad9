import { EmberError } from './errors.ts';
import { checkLost, waitSpins, type Gpu } from './gpu/device.ts';
import { acquireGpu, releaseGpu } from './gpu/shared.ts';
import type { ModelConfig } from './model/config.ts';
import { resetSampler, samplerOf, submitForward, type Model, type PendingStep } from './model/model.ts';
import { createEmbeddings, type Embeddings } from './embeddings.ts';
import { embeddingOnly, type EmbedOptions, type EmbedRecipe, type EmbeddingResult } from './embed.ts';
import type { InputTurns } from './per_input.ts';
import type { RerankOptions, RerankResult } from './rerank.ts';
import type { DenseLayer } from './hf/sentence.ts';
import { writeAllowed } from './kernels/sample.ts';
import { embedInputs, rerankPairs, type Retrieval } from './retrieval.ts';
import { TextStreamer, type Tokenizer } from './tokenizer/index.ts';
import type { ModelInput } from './model_input.ts';
import { mulberry32 } from './util/rng.ts';
import { GREEDY } from './sampling.ts';
import { Scheduler } from './scheduler.ts';
import { TokenPipe, type GeneratedToken, type GenerationResult, type ProducerEnd } from './token_pipe.ts';
import { loadModel, type LoadedModel, type LoadOptions } from './load.ts';
import { cutRequest, prepareRequest, type GenerateOptions, type Request } from './request.ts';
import { PrefillPasses } from './prefill.ts';
import { EngineTuning } from './tuning.ts';
import { quietSleep } from './util/timers.ts';
import { generationFailure, reportDeviceLoss } from './device_loss.ts';

export type { ModelInput } from './model_input.ts';
export type { GeneratedToken, GenerationResult, GenerationStats } from './token_pipe.ts';
export type { ContextOverflow } from './context.ts';
export type { LoadOptions } from './load.ts';
export type { GenerateOptions } from './request.ts';
export type { EmbedOptions, EmbeddingResult } from './embed.ts';
export type { RerankOptions, RerankResult } from './rerank.ts';

/** `generate`'s stream: iterate for tokens; `result` (also the iterator's return value) is the whole result. */
export interface GenerationStream extends AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
  /** Settles when the generation ends, also when the iterator is closed early (finishReason 'abort'). */
  readonly result: Promise<GenerationResult>;
}

export { DeviceLostEvent } from './device_lost.ts';

/** A decode step submitted ahead: it feeds the token at `pos` (sampled by the step before it) and samples token `j`. */
interface Ahead {
  pos: number;
  j: number;
  step: PendingStep;
}

/** Iterators dropped without return(): when one is collected, its pipe is closed and the engine moves on. */
const abandoned = new FinalizationRegistry<TokenPipe>((pipe) => pipe.close());

const ENGINE_DISPOSED = 'this engine was disposed';
/** The most dispose() waits for the GPU to finish the stopped generations' work before freeing their buffers. */
const RELEASE_WAIT_MS = 10_000;

/**
 * The stream of a request: its pipe's tokens, or a request's error at the first next() and in `result`. Made out
 * here, where no closure the pipe keeps (its promise's handlers) can reach the stream: the stream must stay
 * collectable while the pipe runs, for `abandoned` to close it.
 */
function streamOf(source: TokenPipe | unknown): GenerationStream {
  const pipe = source instanceof TokenPipe ? source : null;
  async function* consume(): AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
    if (!pipe) throw source;
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
  const it = consume();
  const end = it.return.bind(it);
  const result = pipe ? pipe.result : Promise.reject(source);
  if (!pipe) result.catch(() => {}); // read by next() too: not an unhandled rejection
  // return() closes the pipe first: a generator not yet started never runs its body (nor its finally).
  return Object.assign(it, { result, return: (v: GenerationResult | PromiseLike<GenerationResult>) => (pipe?.close(), end(v)) });
}

/**
 * A loaded model with its tokenizer. Generations take turns on the model (one at a time, in order of
 * their first read); the KV cache keeps the tokens of the latest one, so a request that starts with
 * them runs only what is new.
 */
export class Engine extends EventTarget {
  private disposed = false;
  private readonly scheduler = new Scheduler();
  /** The generations whose producer runs, with its promise (dispose() frees the buffers once all have settled). */
  private readonly live = new Map<TokenPipe, Promise<void>>();
  /** The embedding and reranking requests running or in line (dispose() waits for them too). */
  private readonly perInput = new Set<Promise<unknown>>();
  /** Their turns on the engine (src/per_input.ts). */
  private readonly turns: InputTurns = { scheduler: this.scheduler, gpu: () => this.current.gpu, disposed: () => this.disposed };
  private released: Promise<void> | null = null;
  /** The request whose counts and logit bias the GPU sampler holds (another's must restore its own). */
  private samplerOwner: TokenPipe | null = null;
  /** Run-time knobs: prefill pass sizes, run-ahead, decode-ahead (src/tuning.ts, with the measurements behind their defaults). */
  readonly tuning = new EngineTuning();
  /** OpenAI-style `embeddings.create` over `embed` (src/embeddings.ts). */
  readonly embeddings: Embeddings = createEmbeddings(this, () => this.config.name);
  private readonly passes = new PrefillPasses(this.tuning);
  private current: Model;
  readonly tokenizer: Tokenizer;
  /** The model's Jinja chat template (GGUF tokenizer.chat_template, HF tokenizer_config.json), or null. */
  readonly chatTemplate: string | null;
  /** How `embed` pools the final norm's rows (src/embed.ts), or why it cannot. */
  private readonly recipe: EmbedRecipe | EmberError;
  /** A cross-encoder's head, which `rerank` scores by (src/rerank.ts), or null. */
  private readonly rankHead: readonly DenseLayer[] | null;

  /** How `embed` pools (a sentence-transformers folder's pooling, else the model's own: src/embed.ts), or 'rank' where it cannot (a reranker). */
  get embedPooling(): string {
    return this.recipe instanceof EmberError ? 'rank' : this.recipe.pooling;
  }

  /** The prompts `embed` takes by name (`promptName`): a sentence-transformers folder's (EmbeddingGemma: query, document, ...). */
  get embedPrompts(): Readonly<Record<string, string>> {
    return this.recipe instanceof EmberError ? {} : this.recipe.prompts;
  }

  private constructor(
    loaded: LoadedModel,
    private ownsGpu: boolean,
    /** What `recover()` loads again. */
    private readonly source: { input: ModelInput; opts: LoadOptions },
  ) {
    super();
    this.current = loaded.model;
    if (waitSpins(loaded.model.gpu)) this.tuning.decodeAhead = 3;
    this.tokenizer = loaded.tokenizer;
    this.chatTemplate = loaded.chatTemplate;
    this.recipe = loaded.recipe;
    this.rankHead = loaded.rankHead;
    this.watch(this.current.gpu);
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
    return new Engine(await loadModel(input, opts), !opts.gpu, { input, opts });
  }

  tokenize(text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { addBos: opts.addBos ?? this.tokenizer.addBos, parseSpecial: opts.parseSpecial ?? false });
  }

  /**
   * Streams tokens as they are generated; the return value of the iterator (and `result`) is the whole
   * result. The request is checked at once (a bad one rejects `result` and the first `next()`) and joins the
   * line at the first `next()`. Streams may be read in any order: one whose reader is away steps aside for the
   * others (see `tuning.runAheadMs`); `return()`, the signal, or dropping the iterator (once it is
   * garbage-collected) ends it, also before its first `next()`, and `result` then settles with 'abort'.
   */
  generate(prompt: string | readonly number[], opts: GenerateOptions = {}): GenerationStream {
    try {
      const pipe = this.open(this.prepare(prompt, opts), opts.signal);
      const stream = streamOf(pipe);
      abandoned.register(stream, pipe);
      return stream;
    } catch (e) {
      return streamOf(e);
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

  /**
   * Embeds each input (a string, token ids, or a list of them): its tokens (a string's ended by the tokenizer's end
   * tokens, `tokenizer.endIds`) run through the model in the KV cache's turn, as a prompt would, and the final norm's
   * output is pooled as src/embed.ts says (the last token's, L2-normalised, by default: Qwen3-Embedding's recipe; a
   * sentence-transformers folder's modules: EmbeddingGemma's mean and Dense layers). The KV cache then holds the last
   * input, as after a generation (a chat's next turn runs its prompt again).
   */
  embed(input: string | readonly number[] | readonly (string | readonly number[])[], opts: EmbedOptions = {}): Promise<EmbeddingResult> {
    return this.startInputs(() => embedInputs(this.retrieval(), input, opts));
  }

  /**
   * Scores each document against the query, in document order (src/rerank.ts): a decoder Qwen3-Reranker's way, P("yes")
   * after a prompt that asks whether the document meets the query, each running only what follows the prompt's shared
   * prefix (the instruction and the query) in the KV cache; a cross-encoder (a BERT reranker) by its head over each
   * (query, document) pair. The documents take their turns as embed's inputs do.
   */
  rerank(query: string, documents: readonly string[], opts: RerankOptions = {}): Promise<RerankResult> {
    return this.startInputs(() => rerankPairs(this.retrieval(), query, documents, opts));
  }

  private retrieval(): Retrieval {
    return { model: this.current, tokenizer: this.tokenizer, turns: this.turns, passes: this.passes, recipe: this.recipe, rankHead: this.rankHead };
  }

  /** Starts a request that runs input by input (embed, rerank), kept in `perInput` until it settles; a refusal rejects. */
  private startInputs<T>(start: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new EmberError('BAD_ARGUMENT', ENGINE_DISPOSED));
    const run = (async () => {
      checkLost(this.current.gpu);
      return start();
    })();
    this.perInput.add(run);
    const gone = () => this.perInput.delete(run);
    run.then(gone, gone);
    return run;
  }

  /** Checks the options and the prompt, and fits the prompt to the context by the overflow policy. */
  private prepare(prompt: string | readonly number[], o: GenerateOptions): Request {
    if (this.disposed) throw new EmberError('BAD_ARGUMENT', ENGINE_DISPOSED);
    checkLost(this.current.gpu);
    embeddingOnly(this.config, 'generate');
    return prepareRequest(prompt, o, { tokenizer: this.tokenizer, vocab: this.config.vocab, nCtx: this.current.nCtx });
  }

  /** A pipe for the request; its producer starts at the first read. */
  private open(r: Request, signal: AbortSignal | undefined): TokenPipe {
    const pipe: TokenPipe = new TokenPipe(signal, () => this.run(pipe, r), () => this.scheduler.cancel(pipe));
    return pipe;
  }

  /** Starts the pipe's producer, kept in `live` until it has settled (it may end before its first await). */
  private run(pipe: TokenPipe, r: Request): void {
    const producer = this.produce(pipe, r);
    this.live.set(pipe, producer);
    const gone = () => this.live.delete(pipe);
    producer.then(gone, gone);
  }

  /** Runs the request whenever it holds the engine and its reader wants tokens, into its pipe. */
  private async produce(pipe: TokenPipe, r: Request): Promise<void> {
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
        const depth = Math.min(this.tuning.decodeAhead, this.current.maxBatch + 1);
        while (1 + ahead.length < depth) {
          const next = { pos: tail.pos + 1, j: tail.j + 1 };
          if (next.j >= r.maxTokens || next.pos >= this.current.nCtx || pipe.stopped || this.disposed) return;
          if (r.constraint) return; // each token's mask follows from the one before: no step runs ahead
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
          if (r.constraint) {
            const allowed = await r.constraint.allowed();
            if (!allowed.some((w) => w !== 0)) {
              finishReason = 'stop'; // the constraint is complete and allows no token, not even an end of generation
              break;
            }
            writeAllowed(this.current.gpu, samplerOf(this.current), allowed);
          }
          const run = await this.passes.advance(this.current, r.seq, r.sampling, u, r.reuse || !first, stop, true);
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
        r.constraint?.accept(id);
        if (r.stopAtEos && this.tokenizer.isEndOfGeneration(id)) {
          finishReason = 'stop';
          eos = id;
          break;
        }
        const piece = streamer.push(id);
        text += piece;
        const lp = step && r.sampling.logprobs > 0 ? await step.logprobs?.() : undefined;
        pipe.push(lp ? { id, text: piece, logprob: lp.logprob, topLogprobs: lp.top } : { id, text: piece });
        if (ids.length >= r.maxTokens) break;
        r.seq.push(id);
        if (r.seq.length > this.current.nCtx) {
          if (r.overflow === 'error') break; // the context is full: 'length'
          cutRequest(r, this.current.nCtx, this.tokenizer.bosId); // never with steps ahead: none runs past the context
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
      pipe.fail(await generationFailure(e, this.current.gpu, this.disposed, { promptIds: r.promptIds, ids, text }));
    } finally {
      if (held) this.scheduler.release(pipe);
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

  /** Reports the loss of `gpu` as a `devicelost` event while the engine runs on it. */
  private watch(gpu: Gpu): void {
    reportDeviceLoss(this, gpu, Engine.runsOn);
  }

  private static runsOn(engine: Engine, gpu: Gpu): boolean {
    return !engine.disposed && engine.current.gpu === gpu;
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
      let fresh: LoadedModel;
      try {
        fresh = await loadModel(this.source.input, { ...this.source.opts, signal: undefined, gpu }); // the load's signal was for that load
      } catch (e) {
        if (!opts.gpu) releaseGpu(gpu);
        throw e;
      }
      const old = this.current;
      await old.alloc.destroyAll();
      if (this.ownsGpu) releaseGpu(old.gpu);
      this.current = fresh.model;
      this.samplerOwner = null;
      this.ownsGpu = !opts.gpu;
      this.watch(gpu);
      if (history.length > 0) {
        const { step } = await this.passes.advance(this.current, history, GREEDY, 0, false, () => this.disposed, false);
        await step?.wait();
      }
    } finally {
      this.scheduler.release(me);
    }
  }

  /**
   * Frees every GPU buffer of the model (and the device, if the engine made it). A generation still
   * running ends with an ABORTED error carrying what it produced; those in line end the same way. The engine
   * refuses new requests at once; the buffers go once the running generations have stopped and the GPU has
   * finished their work (the promise), so no map or submit is left pending on a destroyed buffer.
   */
  dispose(): Promise<void> {
    if (this.released) return this.released;
    this.disposed = true;
    this.scheduler.cancelAll();
    for (const p of this.live.keys()) p.wake.notify();
    this.released = this.release();
    return this.released;
  }

  private async release(): Promise<void> {
    const { gpu, alloc, readback } = this.current;
    if (this.live.size > 0 || this.perInput.size > 0 || readback.inFlight > 0) { // else freed at once, as the caller may count on
      await Promise.allSettled([...this.live.values(), ...this.perInput]);
      // The GPU's work done and every id read (a lost device answers too): no map left pending on a destroyed buffer.
      const idle = Promise.all([gpu.device.queue.onSubmittedWorkDone(), readback.settled()]).catch(() => {});
      await Promise.race([idle, quietSleep(RELEASE_WAIT_MS)]);
    }
    const freed = alloc.destroyAll();
    if (this.ownsGpu) releaseGpu(gpu);
    await freed;
  }
}

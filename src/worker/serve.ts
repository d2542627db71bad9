import { expose, releaseProxy, type Endpoint } from 'comlink';
import { Engine, type EmbedOptions, type EmbeddingResult, type RerankOptions, type RerankResult, type GenerateOptions, type GeneratedToken, type GenerationResult, type LoadOptions, type ModelInput } from '../engine.ts';
import { EmberError } from '../errors.ts';
import type { DeviceLostEvent } from '../device_lost.ts';
import { createChat } from '../chat/completions.ts';
import type { Chat, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../chat/types.ts';
import type { ModelConfig } from '../model/config.ts';
import { installErrorTransfer } from './errors.ts';
import type { CacheEntry, FileCache } from '../loader/file_cache.ts';
import { defaultFileCache, weightCacheFrom } from '../loader/platform.ts';
import type { ProgressCallback } from '../loader/progress.ts';
import type { WeightCache } from '../model/weight_cache.ts';

/** Load options that can cross to the worker (plain data; the worker makes its own device). */
export type WorkerLoadOptions = Omit<LoadOptions, 'gpu' | 'onProgress' | 'cache' | 'fileCache' | 'signal'> & {
  /**
   * Quantized-weight cache: true for the platform's (Cache Storage "emberlm-weights", or the cache folder's
   * weights/ in Node), a string for a Cache Storage name (or a folder in Node), false for none. Default: the
   * cache given to serveEngine, if any.
   */
  cache?: boolean | string;
  /** false: keep no downloads for this load (files are read by Range requests). */
  fileCache?: false;
};

/** How the worker serves: plain options, or (as before) just the comlink endpoint. */
export interface ServeOptions {
  /** Default: the worker's global scope; in a Node worker thread, `nodeEndpoint(parentPort)`. */
  endpoint?: Endpoint;
  /** Quantized weights kept between loads (folderWeightCache, browserWeightCache), for loads that name none. */
  cache?: WeightCache;
  /** Where downloads are kept (default: the platform's, see LoadOptions.fileCache); false: none. */
  fileCache?: FileCache | false;
  /** Where Hub ids resolve, for loads that name no hubUrl. */
  hubUrl?: string;
}

/** The downloads cache as the page sees it through the worker. */
export interface WorkerFileCache {
  list(): Promise<CacheEntry[]>;
  /** Bytes stored, all entries together. */
  size(): Promise<number>;
  /** Deletes the entry of `url` (or every entry under it when it ends in '/'); resolves to how many. */
  delete(url: string): Promise<number>;
  clear(): Promise<number>;
}
/** Generate options without the signal, which stays in the page (see `connectEngine`). */
export type WorkerGenerateOptions = Omit<GenerateOptions, 'signal' | 'constraint'>;
export type WorkerChatRequest = Omit<ChatCompletionRequest, 'signal'>;
export type WorkerEmbedOptions = Omit<EmbedOptions, 'signal' | 'onProgress'>;
export type WorkerRerankOptions = Omit<RerankOptions, 'signal' | 'onProgress'>;

/** What the page learns about the model it loaded. */
export interface ModelInfo {
  readonly config: ModelConfig;
  /** null when the model has none (chat then uses the plain fallback). */
  readonly chatTemplate: string | null;
  readonly tokenizer: { readonly vocabSize: number; readonly bosId: number | null; readonly eosId: number | null; readonly addBos: boolean };
  /** The prompts embed takes by name (Engine.embedPrompts). */
  readonly embedPrompts: Readonly<Record<string, string>>;
}

/** A comlink callback from the page: calling it posts a message and returns a promise of its receipt. */
type Callback<A extends unknown[]> = (...args: A) => unknown;

/** Calls a page callback without waiting for it; a failed delivery (the page went away) is ignored. */
function post<A extends unknown[]>(cb: Callback<A>, ...args: A): Promise<void> {
  return Promise.resolve(cb(...args)).then(() => {}, () => {});
}

/** Runs `fn` with a progress callback that posts to the page's `cb`, and resolves once the page has every call. */
async function relayed<T>(cb: Callback<[number, number]> | undefined, fn: (p: ((done: number, total: number) => void) | undefined) => Promise<T>): Promise<T> {
  const posted: Promise<void>[] = [];
  const result = await fn(cb && ((done, total) => void posted.push(post(cb, done, total))));
  await Promise.all(posted);
  return result;
}

/** Closes the port behind a page callback once it will not be called again. */
function release(cb: Callback<never[]> | undefined): void {
  (cb as unknown as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
}

/**
 * The engine as the worker serves it. Every method takes and returns plain data; streams go back
 * through page callbacks (comlink proxies), and a request id lets the page abort a running request.
 */
export class EngineHost {
  private model: { engine: Engine; chat: Chat } | null = null;
  private readonly running = new Map<number, { abort: AbortController; done: Promise<unknown> }>();
  private disposals: Promise<void> = Promise.resolve(); // models being freed (dispose)
  /** Loads the page may abort, by request id (apart from `running`: a load ends by disposing what runs). */
  private readonly loading = new Map<number, AbortController>();
  private fileCache: Promise<FileCache | null> | null = null;

  constructor(private readonly options: Omit<ServeOptions, 'endpoint'> = {}) {}

  /** The page's 'devicelost' listener (connectEngine registers it once). */
  private onLost: Callback<[string]> | null = null;

  ping(): true {
    return true;
  }

  /** Registers the page's callback for device losses of every model loaded from now on. */
  watchDeviceLost(cb: Callback<[string]>): void {
    this.onLost = cb;
  }

  /** Loads the model again on a new device after a loss and runs its KV history again (Engine.recover). */
  recover(): Promise<void> {
    return this.loaded().engine.recover();
  }

  /** Destroys the model's GPU device as a driver reset would: to try an app's recovery path. */
  loseDevice(): void {
    this.loaded().engine.model.gpu.device.destroy();
  }

  /**
   * Loads a model; the previous one keeps answering until the new one is ready and is freed then (both
   * are on the GPU for that moment). A load that fails leaves the previous model loaded and usable.
   */
  async load(input: ModelInput, opts: WorkerLoadOptions = {}, onProgress?: Callback<Parameters<ProgressCallback>>, requestId?: number): Promise<ModelInfo> {
    const abort = new AbortController();
    if (requestId !== undefined) this.loading.set(requestId, abort);
    try {
      const { cache, fileCache, ...rest } = opts;
      const posted: Promise<void>[] = [];
      const engine = await Engine.load(input, {
        ...rest,
        signal: abort.signal,
        hubUrl: rest.hubUrl ?? this.options.hubUrl,
        cache: cache === undefined ? this.options.cache : cache === false ? undefined : await weightCacheFrom(cache),
        fileCache: fileCache === false ? false : ((await this.files()) ?? false),
        onProgress: onProgress && ((f, what, e) => void posted.push(post(onProgress, f, what, e))),
      });
      await Promise.all(posted); // every progress call reaches the page before load resolves
      await this.dispose(); // the old model (or one whose load overlapped this one and finished first)
      this.model = { engine, chat: createChat(engine) };
      engine.addEventListener('devicelost', (e) => {
        if (this.onLost && this.model?.engine === engine) void post(this.onLost, (e as DeviceLostEvent).reason);
      });
      const t = engine.tokenizer;
      return { config: engine.config, chatTemplate: engine.chatTemplate, tokenizer: { vocabSize: t.vocabSize, bosId: t.bosId, eosId: t.eosId, addBos: t.addBos }, embedPrompts: engine.embedPrompts };
    } finally {
      if (requestId !== undefined) this.loading.delete(requestId);
      release(onProgress);
    }
  }

  async cacheList(): Promise<CacheEntry[]> {
    return (await (await this.files())?.list()) ?? [];
  }

  async cacheDelete(url: string): Promise<number> {
    return (await (await this.files())?.delete(url)) ?? 0;
  }

  async cacheClear(): Promise<number> {
    return (await (await this.files())?.clear()) ?? 0;
  }

  /** The downloads cache loads use (made once). */
  private files(): Promise<FileCache | null> {
    this.fileCache ??= this.options.fileCache === false ? Promise.resolve(null) : this.options.fileCache ? Promise.resolve(this.options.fileCache) : defaultFileCache();
    return this.fileCache;
  }

  tokenize(text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.loaded().engine.tokenize(text, opts);
  }

  /** Streams tokens to `onToken` (when given) and returns the whole result once the page has every token. */
  generate(prompt: string | readonly number[], opts: WorkerGenerateOptions, requestId: number, onToken?: Callback<[GeneratedToken]>): Promise<GenerationResult> {
    return this.track(requestId, async (signal) => {
      const it = this.loaded().engine.generate(prompt, { ...opts, signal });
      let delivered = Promise.resolve();
      try {
        for (let r = await it.next(); ; r = await it.next()) {
          if (r.done) return r.value;
          if (onToken) delivered = post(onToken, r.value);
        }
      } finally {
        await delivered; // callbacks are answered in order: once the last one is, the page has every token before the outcome
      }
    }, onToken);
  }

  /** Engine.embed (the Float32Arrays cross as they are); each progress call reaches the page before the result. */
  embed(
    input: string | readonly number[] | readonly (string | readonly number[])[], opts: WorkerEmbedOptions, requestId: number, onProgress?: Callback<[number, number]>,
  ): Promise<EmbeddingResult> {
    return this.track(requestId, (signal) => relayed(onProgress, (p) => this.loaded().engine.embed(input, { ...opts, signal, onProgress: p })), onProgress);
  }

  /** Engine.rerank, as embed. */
  rerank(query: string, documents: readonly string[], opts: WorkerRerankOptions, requestId: number, onProgress?: Callback<[number, number]>): Promise<RerankResult> {
    return this.track(requestId, (signal) => relayed(onProgress, (p) => this.loaded().engine.rerank(query, documents, { ...opts, signal, onProgress: p })), onProgress);
  }

  chatCompletion(request: WorkerChatRequest & { stream?: false }, requestId: number): Promise<ChatCompletion> {
    return this.track(requestId, (signal) => this.loaded().chat.completions.create({ ...request, signal }));
  }

  /** Sends every chunk to `onChunk`, and resolves once the page has them all. */
  chatStream(request: WorkerChatRequest & { stream: true }, requestId: number, onChunk: Callback<[ChatCompletionChunk]>): Promise<void> {
    return this.track(requestId, async (signal) => {
      let delivered = Promise.resolve();
      try {
        for await (const chunk of await this.loaded().chat.completions.create({ ...request, signal })) delivered = post(onChunk, chunk);
      } finally {
        await delivered;
      }
    }, onChunk);
  }

  /** Aborts a running request or load (a no-op once it has ended). */
  abort(requestId: number): void {
    this.running.get(requestId)?.abort.abort();
    this.loading.get(requestId)?.abort();
  }

  /**
   * Frees the model's GPU memory as Engine.dispose does: what is running ends with ABORTED (as with a local Engine),
   * and this resolves once it has stopped and the GPU is done with its work.
   */
  dispose(): Promise<void> {
    const engine = this.model?.engine;
    this.model = null;
    const running = [...this.running.values()];
    const now = (async () => {
      await engine?.dispose();
      await Promise.allSettled(running.map((r) => r.done));
    })();
    this.disposals = Promise.all([this.disposals, now]).then(() => {}); // a second call waits for the first's too
    return this.disposals;
  }

  private loaded(): { engine: Engine; chat: Chat } {
    if (!this.model) throw new EmberError('BAD_ARGUMENT', 'no model is loaded in the worker: call load() first');
    return this.model;
  }

  /** Runs a request with its own AbortSignal, registered before the first await so an abort that follows the call finds it. */
  private track<T>(requestId: number, fn: (signal: AbortSignal) => Promise<T>, cb?: Callback<never[]>): Promise<T> {
    const entry = { abort: new AbortController(), done: Promise.resolve() as Promise<unknown> };
    this.running.set(requestId, entry);
    const done = (async () => {
      try {
        return await fn(entry.abort.signal);
      } finally {
        this.running.delete(requestId);
        release(cb);
      }
    })();
    entry.done = done;
    return done;
  }
}

/**
 * Serves an Engine to the page over comlink. A worker file is:
 *
 *   import { serveEngine } from 'emberlm/worker';
 *   serveEngine();                                   // or serveEngine({ cache: browserWeightCache() })
 *
 * In a Node worker thread pass `{ endpoint: nodeEndpoint(parentPort) }` (comlink/dist/esm/node-adapter.mjs);
 * an endpoint alone, as before, is accepted too.
 */
export function serveEngine(options: ServeOptions | Endpoint = {}): void {
  const o: ServeOptions = 'postMessage' in options ? { endpoint: options } : options;
  installErrorTransfer();
  expose(new EngineHost(o), o.endpoint ?? (globalThis as unknown as Endpoint));
}

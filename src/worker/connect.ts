import { proxy, transfer, wrap, type Endpoint, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { EmbedOptions, EmbeddingResult, RerankOptions, RerankResult, GenerateOptions, GeneratedToken, GenerationResult, ModelInput } from '../engine.ts';
import { createEmbeddings, type Embeddings } from '../embeddings.ts';
import type { Chat, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatCompletions } from '../chat/types.ts';
import { Channel } from './channel.ts';
import { installErrorTransfer } from './errors.ts';
import { EmberError, type ErrorCode } from '../errors.ts';
import type { EngineHost, ModelInfo, WorkerFileCache, WorkerLoadOptions } from './serve.ts';
import { parseHubId } from '../loader/hub_id.ts';
import { DeviceLostEvent } from '../device_lost.ts';
import { quietSleep } from '../util/timers.ts';
import type { ProgressCallback } from '../loader/progress.ts';
import { progressOption } from '../per_input.ts';

/** The tokens of a generation as they arrive; `result` (also the iterator's return value) is the whole result. */
export interface TokenStream extends AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
  readonly result: Promise<GenerationResult>;
}

/** An Engine running in a worker, driven from the page; dispatches 'devicelost' (a DeviceLostEvent) as an Engine does. */
/** Generation options as they cross to the worker: plain data, so no `constraint` (chat's response_format runs one there). */
export type PageGenerateOptions = Omit<GenerateOptions, 'constraint'>;

function crossable(opts: PageGenerateOptions): PageGenerateOptions {
  if ((opts as GenerateOptions | null)?.constraint !== undefined) {
    throw new EmberError('BAD_ARGUMENT', "constraint does not cross to a worker (an object of functions, which postMessage cannot send): use chat's response_format there, or an Engine in the page");
  }
  return opts;
}

export interface WorkerEngine extends EventTarget {
  /**
   * Loads a model (a Hub id, URL, File/Blob, bytes), replacing the one loaded before once it is ready; if the load
   * fails or is aborted (`signal`), the previous model stays loaded. An ArrayBuffer or Uint8Array is transferred to
   * the worker, not copied.
   */
  load(model: ModelInput, opts?: WorkerLoadOptions & { signal?: AbortSignal }, onProgress?: ProgressCallback): Promise<ModelInfo>;
  /** The worker's downloads cache: list, size, delete entries. */
  readonly cache: WorkerFileCache;
  /** Starts at once; iterate for tokens, or await `result`. Breaking out of the loop aborts the generation. */
  generate(prompt: string | readonly number[], opts?: PageGenerateOptions): TokenStream;
  complete(prompt: string | readonly number[], opts?: PageGenerateOptions): Promise<GenerationResult>;
  tokenize(text: string, opts?: { addBos?: boolean; parseSpecial?: boolean }): Promise<number[]>;
  /** OpenAI-style chat completions, rendered with the model's chat template in the worker. */
  readonly chat: Chat;
  /** Engine.embed in the worker: each input's embedding, pooled as the model says (src/embed.ts). */
  embed(input: string | readonly number[] | readonly (string | readonly number[])[], opts?: EmbedOptions): Promise<EmbeddingResult>;
  /** Engine.rerank in the worker: each document's score against the query (Qwen3-Reranker's P("yes"), or a cross-encoder's). */
  rerank(query: string, documents: readonly string[], opts?: RerankOptions): Promise<RerankResult>;
  /** OpenAI-style embeddings over `embed`; `model` in the response is the loaded model's name. */
  readonly embeddings: Embeddings;
  /** After a 'devicelost': loads the model again on a new device and runs the KV history again (Engine.recover). */
  recover(): Promise<void>;
  /** Destroys the worker's GPU device as a driver reset would, to try the app's recovery path. */
  loseDevice(): Promise<void>;
  /** Frees the model's GPU memory; the worker stays up for another load. */
  dispose(): Promise<void>;
  /**
   * Ends the worker; pending and later calls reject (ABORTED) at once. Resolves once the worker has stopped: a Node
   * worker thread only after its model is disposed (at most 3 s), since Dawn's Node binding takes the whole process
   * down when a thread stops inside a GPU call or with one pending (so end a Node worker by this, not by its own
   * terminate()).
   */
  terminate(): Promise<void>;
}

/** A worker_threads Worker (Node): an EventEmitter rather than an EventTarget. */
interface NodeWorkerLike {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  terminate(): unknown;
}

/** The most a Node worker's terminate() waits for its model to be disposed before the thread is stopped. */
const NODE_STOP_MS = 3000;

const isNodeWorker = (w: object): w is NodeWorkerLike => typeof (w as NodeWorkerLike).on === 'function' && !('addEventListener' in w);

/** Resolves what can be resolved only in the page (relative URLs) and marks bytes for transfer. */
function portable(input: ModelInput): ModelInput {
  if (input instanceof ArrayBuffer) return transfer(input, [input]);
  if (input instanceof Uint8Array) return input.buffer instanceof ArrayBuffer ? transfer(input, [input.buffer]) : input;
  const base = (globalThis as { location?: { href: string } }).location?.href;
  if (input instanceof URL) return input.href;
  if (typeof input === 'string' && base && input.trim() !== '' && !/^[a-z][a-z\d+.-]*:/i.test(input) && !parseHubId(input)) {
    // what does not resolve ('' would resolve to the page itself) crosses as it is: the worker's load names it in a BAD_ARGUMENT
    try {
      return new URL(input, base).href;
    } catch {
      return input;
    }
  }
  return input; // a Blob/File crosses as a handle; a string in Node is a path
}

/**
 * Connects to a worker that called `serveEngine()`:
 *
 *   const engine = await connectEngine(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
 *
 * Accepts a DOM Worker, a Node worker_threads Worker, or any comlink Endpoint. Resolves once the
 * worker answers; rejects if it fails to start. EmberErrors thrown in the worker arrive as
 * EmberErrors with their code. If the worker dies, pending and later calls reject.
 */
export async function connectEngine(worker: Worker | NodeWorkerLike | Endpoint): Promise<WorkerEngine> {
  installErrorTransfer();
  let dead: EmberError | null = null;
  let killed: (e: EmberError) => void = () => {};
  const died = new Promise<never>((_, reject) => (killed = reject));
  died.catch(() => {});
  // Typed as any other failure: ABORTED where the page ended the worker, DEVICE where it died (a crash, out of memory).
  const die = (why: string, code: ErrorCode = 'DEVICE') => {
    if (dead) return;
    dead = new EmberError(code, `the engine worker ${why}`);
    killed(dead);
  };
  let endpoint: Endpoint;
  let terminate = (): Promise<void> => Promise.resolve();
  let stopping: Promise<void> | undefined;
  if (isNodeWorker(worker)) {
    endpoint = nodeEndpoint(worker as Parameters<typeof nodeEndpoint>[0]);
    worker.on('error', (e) => die(`failed: ${(e as Error).message}`));
    worker.on('exit', (code) => die(`exited (code ${String(code)})`));
    // A worker thread stopped inside a Dawn call takes the whole process down (Dawn's binding throws into the dying
    // isolate: a fatal error), as does one stopped with a map or submit still pending: the model is disposed first
    // (its generations stopped, the GPU done with them), for at most NODE_STOP_MS.
    terminate = async () => {
      await Promise.race([remote.dispose(), quietSleep(NODE_STOP_MS)]).catch(() => {});
      await worker.terminate();
    };
  } else {
    endpoint = worker;
    if (typeof Worker !== 'undefined' && worker instanceof Worker) {
      worker.addEventListener('error', (e) => die(`failed: ${e.message || 'its script did not load or threw'}`));
      terminate = async () => worker.terminate();
    }
  }
  const remote: Remote<EngineHost> = wrap<EngineHost>(endpoint);
  /** A call to the worker that also rejects if the worker dies first. */
  const call = <T>(p: Promise<T>): Promise<T> => {
    if (!dead) return Promise.race([p, died]);
    p.catch(() => {}); // sent to a worker still stopping (terminate() disposes first): its answer is not awaited
    return Promise.reject(dead);
  };
  let nextId = 1;
  /** Forwards the page's AbortSignal to the worker's request; returns the detacher. */
  const forwardAbort = (signal: AbortSignal | undefined, id: number): (() => void) => {
    if (!signal) return () => {};
    const onAbort = () => void remote.abort(id).catch(() => {});
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  };

  await call(remote.ping());

  function generate(prompt: string | readonly number[], opts: PageGenerateOptions = {}): TokenStream {
    const { signal, ...rest } = crossable(opts);
    const id = nextId++;
    const tokens = new Channel<GeneratedToken>();
    const started = remote.generate(prompt, rest, id, proxy((t: GeneratedToken) => tokens.push(t)));
    const detach = forwardAbort(signal, id);
    const result = call(started).finally(detach);
    result.then(() => tokens.end(), (e) => tokens.fail(e));
    async function* stream(): AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
      let finished = false;
      try {
        for (let r = await tokens.next(); !r.done; r = await tokens.next()) yield r.value;
        finished = true;
        return await result;
      } finally {
        if (!finished) void remote.abort(id).catch(() => {});
      }
    }
    return Object.assign(stream(), { result });
  }

  async function create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    if (typeof request !== 'object' || request === null) throw new EmberError('BAD_ARGUMENT', `a chat completion request must be an object, got ${String(request)}`);
    const { signal, ...rest } = request;
    const id = nextId++;
    if (!rest.stream) {
      const started = remote.chatCompletion(rest, id);
      const detach = forwardAbort(signal, id);
      return call(started).finally(detach);
    }
    const chunks = new Channel<ChatCompletionChunk>();
    const started = remote.chatStream(rest, id, proxy((c: ChatCompletionChunk) => chunks.push(c)));
    const detach = forwardAbort(signal, id);
    call(started).finally(detach).then(() => chunks.end(), (e) => chunks.fail(e));
    // As with a local chat, resolve once the first chunk (the first token) is there, or reject.
    const first = await chunks.next();
    return (async function* stream(): AsyncGenerator<ChatCompletionChunk> {
      let finished = false;
      try {
        for (let r = first; !r.done; r = await chunks.next()) yield r.value;
        finished = true;
      } finally {
        if (!finished) void remote.abort(id).catch(() => {});
      }
    })();
  }

  let modelName = ''; // the loaded model's, for embeddings' responses
  /**
   * Sends a request that runs input by input (embed, rerank): its signal stays in the page (an aborted one rejects before
   * the call crosses: an embedding could finish before the abort reaches the worker), its onProgress crosses as a proxy.
   */
  async function perInput<O extends { signal?: AbortSignal; onProgress?: (done: number, total: number) => void }, R>(
    doing: string, opts: O, send: (rest: Omit<O, 'signal' | 'onProgress'>, id: number, progress: ((done: number, total: number) => void) | undefined) => Promise<R>,
  ): Promise<R> {
    const { signal, onProgress, ...rest } = opts ?? ({} as O);
    if (signal?.aborted) throw new EmberError('ABORTED', `${doing} was aborted before it was sent to the worker`, { done: 0 });
    const id = nextId++;
    const started = send(rest, id, progressOption(onProgress) && proxy(onProgress!));
    const detach = forwardAbort(signal, id);
    return call(started).finally(detach);
  }
  const embed = (input: Parameters<WorkerEngine['embed']>[0], opts: EmbedOptions = {}): Promise<EmbeddingResult> =>
    perInput('the embedding', opts, (rest, id, progress) => remote.embed(input, rest, id, progress));
  const rerank = (query: string, documents: readonly string[], opts: RerankOptions = {}): Promise<RerankResult> =>
    perInput('the reranking', opts, (rest, id, progress) => remote.rerank(query, documents, rest, id, progress));

  const events = new EventTarget();
  await call(remote.watchDeviceLost(proxy((reason: string) => void events.dispatchEvent(new DeviceLostEvent(reason)))));
  const api: Omit<WorkerEngine, keyof EventTarget> = {
    async load(model, opts = {}, onProgress) {
      const { signal, ...rest } = opts;
      const id = nextId++;
      const started = remote.load(portable(model), rest, onProgress && proxy(onProgress), id);
      const detach = forwardAbort(signal, id);
      const info = await call(started).finally(detach);
      modelName = info.config.name;
      return info;
    },
    generate,
    async complete(prompt, opts = {}) {
      const { signal, ...rest } = crossable(opts);
      const id = nextId++;
      const started = remote.generate(prompt, rest, id); // no token callback: only the result crosses
      const detach = forwardAbort(signal, id);
      return call(started).finally(detach);
    },
    tokenize: (text, opts = {}) => call(remote.tokenize(text, opts)),
    embed,
    rerank,
    embeddings: createEmbeddings({ embed }, () => modelName),
    cache: {
      list: () => call(remote.cacheList()),
      size: async () => (await call(remote.cacheList())).reduce((s, e) => s + e.storedBytes, 0),
      delete: (url) => call(remote.cacheDelete(url)),
      clear: () => call(remote.cacheClear()),
    },
    chat: { completions: { create } as ChatCompletions },
    recover: () => call(remote.recover()),
    loseDevice: () => call(remote.loseDevice()),
    dispose: () => call(remote.dispose()),
    terminate() {
      stopping ??= terminate();
      die('was terminated', 'ABORTED');
      return stopping;
    },
  };
  return Object.assign(events, api);
}

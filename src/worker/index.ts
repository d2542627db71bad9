/**
 * emberlm/worker: the model in a Web Worker (or a Node worker thread), driven from the page over
 * comlink. The worker file calls `serveEngine()`; the page calls `connectEngine(worker)`.
 */
export { serveEngine, EngineHost, type ServeOptions, type WorkerFileCache, type ModelInfo, type WorkerLoadOptions, type WorkerGenerateOptions, type WorkerChatRequest } from './serve.ts';
export { connectEngine, type WorkerEngine, type TokenStream, type PageGenerateOptions } from './connect.ts';
export { installErrorTransfer } from './errors.ts';

/**
 * emberlm/client: what a page needs to drive a model that runs in a worker (`connectEngine`, the errors, the
 * device-loss event, the types), without the engine itself, whose kernels, tokenizers and chat template engine run
 * in the worker: a page importing `connectEngine` from here bundles ~10 KB, where from `emberlm` it also kept the
 * engine's module-level tables (86 KB minified in a Vite app). `emberlm` exports all of this too.
 */
export { connectEngine, type WorkerEngine, type TokenStream } from './worker/connect.ts';
export type { ModelInfo, WorkerLoadOptions, WorkerFileCache } from './worker/serve.ts';
export { EmberError, isEmberError, type ErrorCode } from './errors.ts';
export { DeviceLostEvent } from './device_lost.ts';
export type { GenerateOptions, GeneratedToken, GenerationResult, GenerationStats, ContextOverflow, ModelInput } from './engine.ts';
export type {
  Chat, ChatCompletions, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionRequestStreaming,
  ChatCompletionRequestNonStreaming, ChatMessage, ChatRequestMessage, ChatContentPart, ChatRole, ChatFinishReason, CompletionUsage, ChatContextOverflow,
  ChatTool, ChatToolChoice, ChatToolCall, ChatToolCallDelta, ChatReplyMessage, ChatResponseFormat, ChatTokenLogprob, ChatLogprobs,
} from './chat/types.ts';
export type { LoadProgress, LoadPhase, ProgressCallback } from './loader/progress.ts';
export type { CacheEntry, DownloadProgress } from './loader/file_cache.ts';

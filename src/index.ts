/// <reference types="@webgpu/types" />
// WebGPU types for this file's checks (GPUDevice in Gpu, ...); the emitted .d.ts drops this line: apps on TypeScript 5
// get @webgpu/types through src/ts5/, those on 6+ from their DOM lib.
export {
  Engine, DeviceLostEvent, type LoadOptions, type GenerateOptions, type GeneratedToken, type GenerationResult, type GenerationStats,
  type GenerationStream, type ContextOverflow, type ModelInput, type EmbedOptions, type EmbeddingResult, type RerankOptions, type RerankResult,
} from './engine.ts';
export { createEmbeddings, type Embeddings, type EmbeddingRequest, type EmbeddingResponse } from './embeddings.ts';
export { EmberError, isEmberError, type ErrorCode } from './errors.ts';
export { validateSampling, LOGIT_BIAS_CAP, type SamplingOptions } from './sampling.ts';
export { createGpu, type Gpu, type GpuCaps, type GpuOptions } from './gpu/device.ts';
export { destroyIdleGpus } from './gpu/shared.ts';
export { readGGUF, type GGUFFile, type TensorInfo } from './gguf/reader.ts';
export { openSource, sourceFromBuffer, sourceFromBlob, sourceFromURL, type ByteSource } from './gguf/source.ts';
export { configFromGGUF, type ModelConfig } from './model/config.ts';
export { QUANT_SCHEMES, QUANT_INFO, type QuantScheme } from './model/weight_source.ts';
export { KV_CACHE_TYPES, DEFAULT_KV_CACHE, kvBytesPerPosition, type KvCacheType } from './kernels/kv_layout.ts';
export { tokenizerFromGGUF, tokenizerFromHF, TextStreamer, type Tokenizer } from './tokenizer/index.ts';
export { createChat, readChatTemplate, type ChatEngine, type ChatOptions } from './chat/index.ts';
export { grammarConstraint, type TokenConstraint, type OutputFormat } from './grammar/constraint.ts';
export type {
  Chat, ChatCompletions, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionRequestStreaming,
  ChatCompletionRequestNonStreaming, ChatMessage, ChatRequestMessage, ChatContentPart, ChatRole, ChatFinishReason, CompletionUsage, ChatContextOverflow,
  ChatTool, ChatToolChoice, ChatToolCall, ChatToolCallDelta, ChatReplyMessage, ChatResponseFormat, ChatTokenLogprob, ChatLogprobs,
} from './chat/index.ts';
export { connectEngine, type WorkerEngine, type TokenStream, type ModelInfo, type WorkerLoadOptions, type WorkerFileCache } from './worker/index.ts';
export { FileCache, type CacheEntry, type FileStore, type DownloadProgress } from './loader/file_cache.ts';
export { browserFileCache } from './loader/browser_store.ts';
export { defaultFileCache } from './loader/platform.ts';
export { parseHubId, type HubId } from './loader/hub_id.ts';
export type { LoadProgress, LoadPhase, ProgressCallback } from './loader/progress.ts';
export { browserWeightCache, type WeightCache } from './model/weight_cache.ts';

export { Engine, type LoadOptions, type GenerateOptions, type GeneratedToken, type GenerationResult, type GenerationStats, type ModelInput } from './engine.ts';
export { EmberError, isEmberError, type ErrorCode } from './errors.ts';
export { createGpu, type Gpu, type GpuCaps, type GpuOptions } from './gpu/device.ts';
export { readGGUF, type GGUFFile, type TensorInfo } from './gguf/reader.ts';
export { openSource, sourceFromBuffer, sourceFromBlob, sourceFromURL, type ByteSource } from './gguf/source.ts';
export { configFromGGUF, type ModelConfig } from './model/config.ts';
export { QUANT_SCHEMES, type QuantScheme } from './model/weight_source.ts';
export { tokenizerFromGGUF, tokenizerFromHF, TextStreamer, type Tokenizer } from './tokenizer/index.ts';

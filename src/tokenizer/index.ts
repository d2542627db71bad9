export type { Tokenizer } from './types.ts';
export { TokenType } from './types.ts';
export { tokenizerFromGGUF } from './gguf_tokenizer.ts';
export { tokenizerFromHF } from './hf_tokenizer.ts';
export { TextStreamer, type TextStreamerOptions } from './utf8_stream.ts';

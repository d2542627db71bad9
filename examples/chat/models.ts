/** The models the picker suggests: small instruct models that load in a minute and chat in any WebGPU browser. */
export interface SuggestedModel {
  /** What `engine.load` gets: a Hub id (org/name: a safetensors folder; org/name:QUANT: a GGUF repo; org/name/file.gguf). */
  readonly id: string;
  readonly name: string;
  readonly note: string;
  /** Download size in MB, as the Hub lists it. */
  readonly mb: number;
}

export const SUGGESTED: readonly SuggestedModel[] = [
  { id: 'HuggingFaceTB/SmolLM2-135M-Instruct', name: 'SmolLM2 135M Instruct', note: 'Fastest; short, simple answers', mb: 269 },
  { id: 'HuggingFaceTB/SmolLM2-360M-Instruct', name: 'SmolLM2 360M Instruct', note: 'A good first chat model', mb: 724 },
  { id: 'Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0', name: 'Qwen2.5 0.5B Instruct', note: 'Multilingual, follows instructions best', mb: 676 },
  { id: 'ggml-org/models/tinyllamas/stories260K.gguf', name: 'stories260K', note: 'A 1 MB toy that tells stories; to try the app', mb: 1.2 },
];

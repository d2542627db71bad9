/** The models the picker suggests: small instruct models that load in a minute and chat in any WebGPU browser. */
export interface SuggestedModel {
  /** The Hub repository (shown). */
  readonly id: string;
  /** What `engine.load` gets: a Hugging Face folder's base URL (config.json, safetensors) or a GGUF file's URL. */
  readonly source: string;
  readonly name: string;
  readonly note: string;
  /** Download size in MB, as the Hub lists it. */
  readonly mb: number;
}

const hub = (repo: string, file = '') => `https://huggingface.co/${repo}/resolve/main/${file}`;

export const SUGGESTED: readonly SuggestedModel[] = [
  {
    id: 'HuggingFaceTB/SmolLM2-135M-Instruct', source: hub('HuggingFaceTB/SmolLM2-135M-Instruct'),
    name: 'SmolLM2 135M Instruct', note: 'Fastest; short, simple answers', mb: 269,
  },
  {
    id: 'HuggingFaceTB/SmolLM2-360M-Instruct', source: hub('HuggingFaceTB/SmolLM2-360M-Instruct'),
    name: 'SmolLM2 360M Instruct', note: 'A good first chat model', mb: 724,
  },
  {
    id: 'Qwen/Qwen2.5-0.5B-Instruct-GGUF', source: hub('Qwen/Qwen2.5-0.5B-Instruct-GGUF', 'qwen2.5-0.5b-instruct-q8_0.gguf'),
    name: 'Qwen2.5 0.5B Instruct (Q8_0)', note: 'Multilingual, follows instructions best', mb: 676,
  },
  {
    id: 'ggml-org/models', source: hub('ggml-org/models', 'tinyllamas/stories260K.gguf'),
    name: 'stories260K', note: 'A 1 MB toy that tells stories; to try the app', mb: 1.2,
  },
];

/**
 * The OpenAI-style chat completion types (the subset emberlm runs). Everything here is plain data,
 * so a request and its response cross the worker boundary as they are (less `signal`).
 */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** A message as the chat template sees it. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** An assistant message's calls, their arguments as objects (as transformers' templates take them). */
  tool_calls?: readonly TemplateToolCall[];
  /** A tool message's: the call it answers, and that call's function (filled in from the call where not given). */
  tool_call_id?: string;
  name?: string;
}

export interface TemplateToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: Record<string, unknown> };
}

/** A function the model may call, as OpenAI's API takes it: `parameters` is a JSON Schema object. */
export interface ChatTool {
  type: 'function';
  /** strict: the calls are held to `parameters` by a grammar (OpenAI's structured outputs), so they always parse. */
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

/**
 * 'auto' (default): the model decides; 'none': the model is not shown the tools; 'required': the reply starts
 * with the model's call opening, so it calls one; a named function: the reply starts with that call.
 */
export type ChatToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

/** A call as OpenAI's API returns it (and takes it back in an assistant message): `arguments` is JSON text. */
export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A call in a stream's delta: each call arrives whole, in one chunk, at its `index` among the reply's calls. */
export interface ChatToolCallDelta extends ChatToolCall {
  index: number;
}

/** A part of a message's content, as OpenAI's API takes it: only text parts (other types are UNSUPPORTED). */
export interface ChatContentPart {
  type: 'text';
  text: string;
}

/** A message of a request: its content a string, or text parts (joined by newlines, as vLLM joins them). */
export interface ChatRequestMessage {
  role: ChatRole;
  /** May be null or absent in an assistant message that has tool_calls. */
  content: string | readonly ChatContentPart[] | null;
  /** An assistant message's reasoning, as a completion returned it (the templates that read it render it). */
  reasoning_content?: string;
  /** An assistant message's calls, as a completion returned them (arguments as JSON text, or an object). */
  tool_calls?: readonly (ChatToolCall | { id: string; type: 'function'; function: { name: string; arguments: Record<string, unknown> } })[];
  /** A tool message's: the id of the call it answers. */
  tool_call_id?: string;
  name?: string;
}

export interface ChatCompletionRequestBase {
  messages: readonly ChatRequestMessage[];
  /** Tokens to generate at most (default: the Engine's, 128). */
  max_tokens?: number;
  /**
   * 0 = greedy. Unset sampling options take the Engine's defaults (temperature 0.8, top_p 0.95, top_k 40, the
   * rest off); src/sampling.ts says exactly what each does.
   */
  temperature?: number;
  top_p?: number;
  /** Not in OpenAI's API; 0 = off. */
  top_k?: number;
  /** Not in OpenAI's API (vLLM, llama.cpp have it): keep tokens with p >= min_p * p_max; 0 = off. */
  min_p?: number;
  /** -2..2: subtracted from the logit of every token already generated in this completion. */
  presence_penalty?: number;
  /** -2..2: times a token was generated in this completion, times this, is subtracted from its logit. */
  frequency_penalty?: number;
  /** Not in OpenAI's API (vLLM, llama.cpp have it): > 1 discourages every token of the prompt and the completion. */
  repetition_penalty?: number;
  /** Token id (as a string key, as in JSON) -> -100..100 added to its logit; -100 bans it, 100 all but forces it. */
  logit_bias?: Readonly<Record<string, number>>;
  /** The same seed and request give the same completion. */
  seed?: number;
  /** Generation ends at the first of these strings, which is not included in the content. */
  stop?: string | readonly string[];
  /** Aborting ends the request with an EmberError ABORTED (its details carry the content so far). */
  signal?: AbortSignal;
  /**
   * When the conversation outgrows the context (not in OpenAI's API). 'drop-turns' (default): when the
   * prompt plus min(max_tokens, a quarter of the context) does not fit, the
   * leading system messages stay and the oldest turns go, whole, until the prompt takes at most half
   * the context (the latest message always stays; if it alone does not fit, its middle is cut); a
   * reply that reaches the end of the context goes on with 'truncate-middle' keeping the system prompt.
   * The others are the Engine's policies (`contextOverflow`), applied to the whole prompt.
   */
  context_overflow?: ChatContextOverflow;
  /**
   * Not in OpenAI's API (vLLM has it): more variables for the model's chat template, as transformers'
   * apply_chat_template takes them: `{ enable_thinking: false }` for Qwen3's and SmolLM3's. Without a template
   * they are refused; messages, add_generation_prompt, bos_token and eos_token are the template's own.
   */
  chat_template_kwargs?: Readonly<Record<string, unknown>>;
  /**
   * Functions the model may call: they go to the model's chat template, which must know a call format emberlm
   * parses (Qwen2.5/3, Granite 4.0, Hermes; Llama 3.1-3.3; Mistral Nemo, Ministral 3, Mistral Small 3.2), else
   * UNSUPPORTED. Calls come back in `message.tool_calls` with finish_reason 'tool_calls'.
   */
  tools?: readonly ChatTool[];
  tool_choice?: ChatToolChoice;
  /** false: at most one call a reply (the generation ends after it). Default true. */
  parallel_tool_calls?: boolean;
  /**
   * Structured output: 'json_object' holds the reply to JSON, 'json_schema' to JSON that `json_schema.schema`
   * accepts (no properties it does not name), by a grammar over the model's vocabulary (XGrammar): the sampler
   * chooses among the tokens that continue it. The reply ends at the end of the value (or max_tokens).
   */
  response_format?: ChatResponseFormat;
  /**
   * Each reply token's log-probability in choices[0].logprobs (in a stream, on the chunk that follows the token), and
   * top_logprobs (0 to 20) likeliest alternatives': under the softmax of the logits after logit_bias, penalties and a
   * grammar's mask, before temperature and top-k/top-p.
   */
  logprobs?: boolean;
  top_logprobs?: number;
}

/** A token's entry in choices[0].logprobs.content, as OpenAI's. */
export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export interface ChatLogprobs {
  content: ChatTokenLogprob[];
}

export type ChatResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name?: string; description?: string; schema: Record<string, unknown>; strict?: boolean } };

export type ChatContextOverflow = 'drop-turns' | 'error' | 'truncate-middle' | 'sliding-window';

export interface ChatCompletionRequestNonStreaming extends ChatCompletionRequestBase {
  stream?: false;
}

export interface ChatCompletionRequestStreaming extends ChatCompletionRequestBase {
  stream: true;
}

export type ChatCompletionRequest = ChatCompletionRequestNonStreaming | ChatCompletionRequestStreaming;

export type ChatFinishReason = 'stop' | 'length' | 'tool_calls';

export interface CompletionUsage {
  /**
   * Tokens of the rendered prompt (after 'drop-turns' dropped older turns to fit the context); a cut by
   * 'truncate-middle' or 'sliding-window' beyond that is not subtracted.
   */
  prompt_tokens: number;
  /** Generated tokens, counting the end-of-turn token when the model produced one. */
  completion_tokens: number;
  total_tokens: number;
  /** cached_tokens: the prefix of the prompt served from the KV cache (not run again), as OpenAI reports it. */
  prompt_tokens_details: { cached_tokens: number };
  /** emberlm's timings of this completion (not in OpenAI's API). */
  timings: { ttft_ms: number; prefill_tok_s: number; decode_tok_s: number };
}

/** A reply: its content null where it is only tool calls; tool_calls only where there are some. */
export interface ChatReplyMessage {
  role: 'assistant';
  content: string | null;
  /**
   * A thinking model's reasoning (its <think> block: Qwen3, Qwen3.5, DeepSeek-R1's distills), apart from `content`, as
   * vLLM and llama.cpp's server return it; absent where the reply had none. Sent back in the message, the templates
   * that read it (Qwen3.5's) render it.
   */
  reasoning_content?: string;
  tool_calls?: ChatToolCall[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  /** Unix time in seconds. */
  created: number;
  model: string;
  choices: [{ index: 0; message: ChatReplyMessage; finish_reason: ChatFinishReason; logprobs?: ChatLogprobs }];
  usage: CompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  /** The first chunk's delta is `{ role: 'assistant', content: '' }`; the last one's is `{}` with a finish_reason. */
  choices: [{
    index: 0; delta: { role?: 'assistant'; content?: string; reasoning_content?: string; tool_calls?: ChatToolCallDelta[] }; finish_reason: ChatFinishReason | null;
    logprobs?: ChatLogprobs;
  }];
  /** On the last chunk only. */
  usage?: CompletionUsage;
}

/** `create`, typed by `stream` as in the OpenAI and WebLLM clients. */
export interface ChatCompletions {
  create(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  create(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

export interface Chat {
  readonly completions: ChatCompletions;
}

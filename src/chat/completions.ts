import { show } from '../options.ts';
import { EmberError } from '../errors.ts';
import type { Engine, GeneratedToken, GenerateOptions, GenerationResult, GenerationStream } from '../engine.ts';
import { commonPrefix } from '../context.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { StopMatcher } from './stop.ts';
import { checkMessages } from './messages.ts';
import { TOOL_MARKERS, ToolCallSplitter, type ParsedToolCall, type ReplyPart } from './tool_calls.ts';
import { callsInContentFor, controlMarkers, markerIds, newToolCallId, planTools } from './tools.ts';
import { ReasoningSplitter, THINK_CLOSE, THINK_OPEN, thinksIn, type Reply } from './reasoning.ts';
import { outputFormatOf } from './response_format.ts';
import { checkLogprobs, logprobEntry } from './logprobs.ts';
import { grammarConstraint } from '../grammar/constraint.ts';
import { OPENAI_SAMPLING_NAMES, validateSampling, type SamplingOptions } from '../sampling.ts';
import { chatPrompt, continuedPromptIds, TEMPLATE_OWN_VARIABLES, type ChatPrompt, type TemplateVariables } from './template.ts';
import type {
  Chat, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatCompletions, ChatContextOverflow, ChatFinishReason, ChatMessage,
  ChatReplyMessage, ChatTokenLogprob, ChatToolCall, CompletionUsage,
} from './types.ts';

/** What chat needs of an Engine; an Engine that carries its model's `chatTemplate` is used as is. */
export type ChatEngine = Pick<Engine, 'tokenizer' | 'config' | 'generate' | 'contextLength'> & {
  readonly chatTemplate?: string | null;
};

export interface ChatOptions {
  /**
   * The Jinja chat template (`await readChatTemplate(modelInput)` reads it from the model), or null
   * for none. Default: the engine's `chatTemplate`, else none. Without a template the prompt is the
   * messages' contents joined by newlines.
   */
  template?: string | null;
  /** The `model` field of responses (default: the model's general.name). */
  model?: string;
  /**
   * Whether a turn that continues the latest completion (its messages, then that reply as returned, then
   * more) keeps the reply's tokens as generated rather than tokenizing its text again (default true). The
   * KV cache holds the generated ones, so the whole conversation so far is reused; a sampled reply often
   * tokenizes differently (" cat" + "s" where the text is " cats"), and then everything after its first
   * differing token ran again. false: every prompt is the canonical tokenization of the messages, the same
   * whatever came before (as a stateless server's).
   */
  keepReplyTokens?: boolean;
}

function checkStop(stop: ChatCompletionRequest['stop']): readonly string[] {
  const list = stop === undefined ? [] : typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === '')) {
    throw new EmberError('BAD_ARGUMENT', `stop must be a non-empty string or an array of them, got ${JSON.stringify(stop)}`);
  }
  return list;
}

const OVERFLOW: readonly ChatContextOverflow[] = ['drop-turns', 'error', 'truncate-middle', 'sliding-window'];

/** chat_template_kwargs: a plain object, only where there is a template, and none of the template's own variables. */
function checkTemplateVariables(kwargs: unknown, template: string | null): TemplateVariables {
  if (kwargs === undefined) return {};
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw new EmberError('BAD_ARGUMENT', `chat_template_kwargs must be an object of template variables, got ${show(kwargs)}`);
  }
  const own = Object.keys(kwargs).filter((k) => TEMPLATE_OWN_VARIABLES.includes(k));
  if (own.length > 0) throw new EmberError('BAD_ARGUMENT', `chat_template_kwargs may not set ${own.join(', ')}: the chat sets them itself`);
  if (template === null && Object.keys(kwargs).length > 0) {
    throw new EmberError('BAD_ARGUMENT', 'chat_template_kwargs were given, but the model has no chat template to read them');
  }
  return kwargs as TemplateVariables;
}

/**
 * The prompt under the 'drop-turns' policy, and how many leading tokens are the system prompt: `whole` (the
 * prompt of every message) when it leaves `reserve` tokens of the context, else the oldest turns dropped.
 */
function fitTurns(
  tokenizer: Tokenizer, render: (messages: readonly ChatMessage[]) => ChatPrompt, messages: readonly ChatMessage[], whole: ChatPrompt,
  nCtx: number, reserve: number,
): ChatPrompt & { keep: number } {
  const lead = messages.findIndex((m) => m.role !== 'system');
  const system = lead < 0 ? messages : messages.slice(0, lead);
  let prompt = whole;
  if (prompt.ids.length + reserve > nCtx && lead >= 0) {
    const target = Math.min(Math.floor(nCtx / 2), nCtx - reserve);
    // Drop the oldest turns, whole (the first kept one is a user message), keeping the latest message.
    for (let start = lead; prompt.ids.length > target && start < messages.length - 1; ) {
      start++;
      while (start < messages.length - 1 && messages[start].role !== 'user') start++;
      prompt = render([...system, ...messages.slice(start)]);
    }
  }
  const ids = prompt.ids;
  let keep = tokenizer.bosId !== null && ids[0] === tokenizer.bosId ? 1 : 0;
  if (system.length > 0) {
    try {
      keep = Math.max(keep, commonPrefix(ids, render(system).ids));
    } catch {
      // a template that insists on a user message: keep only the BOS
    }
  }
  return { ...prompt, keep };
}

const newId = () => `chatcmpl-${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`;

/** Ends a generation early; its `finally` releases the engine for the next call. */
async function stopGeneration(it: AsyncGenerator<GeneratedToken, GenerationResult>): Promise<void> {
  await it.return(undefined as unknown as GenerationResult); // the value is never read
}

/** An ABORTED error that keeps what was generated. */
function aborted(message: string, r?: GenerationResult): EmberError {
  return new EmberError('ABORTED', message, { ids: r?.ids ?? [], text: r?.text ?? '', finishReason: 'abort' });
}

/** A reply without tools: its text is all content. */
const plainReply: Reply = {
  push: (text) => ({ content: text, calls: [] }),
  end: () => ({ content: '', calls: [] }),
  done: false,
  calls: 0,
};

/**
 * The reply of a generation in parts as they become safe to emit: content (a possible start of a stop string,
 * or of a tool call, is held back) and tool calls as each completes. `markers` are the tool-call format's
 * control tokens, whose text the reply keeps. The return value is why it ended and how many tokens were generated.
 */
async function* replyParts(
  it: AsyncGenerator<GeneratedToken, GenerationResult>,
  first: IteratorResult<GeneratedToken, GenerationResult>,
  stops: readonly string[],
  reply: Reply,
  markers: ReadonlyMap<number, string>,
  onToken: (t: GeneratedToken) => void,
): AsyncGenerator<ReplyPart, { finish: ChatFinishReason; completionTokens: number }> {
  const matcher = new StopMatcher(stops);
  const some = (p: ReplyPart) => p.content !== '' || p.calls.length > 0 || !!p.reasoning;
  let tokens = 0;
  let r = first;
  let finished = false;
  try {
    for (; !r.done; r = await it.next()) {
      if (r.value.id >= 0) { // id -1 is the streamer's final flush
        tokens++;
        onToken(r.value);
      }
      const { text, stopped } = matcher.push(markers.get(r.value.id) ?? r.value.text);
      const part = reply.push(text);
      if (some(part)) yield part;
      if (stopped || reply.done) { // a stop string, or the one call parallel_tool_calls: false allows
        finished = true;
        await stopGeneration(it);
        const last = reply.end();
        if (some(last)) yield last;
        return { finish: reply.calls > 0 ? 'tool_calls' : 'stop', completionTokens: tokens };
      }
    }
    finished = true;
  } finally {
    if (!finished) await stopGeneration(it); // the consumer stopped reading
  }
  if (r.value.finishReason === 'abort') {
    throw aborted(`the chat completion was aborted after ${r.value.ids.length} tokens`, r.value);
  }
  for (const part of [reply.push(matcher.flush()), reply.end()]) if (some(part)) yield part;
  const finish = r.value.finishReason === 'stop' && reply.calls > 0 ? 'tool_calls' : r.value.finishReason;
  return { finish, completionTokens: r.value.ids.length };
}

/**
 * OpenAI request fields whose effect this engine does not have are refused, not ignored: a client that asks for two
 * choices, log probabilities or tools would otherwise get an answer that only looks like what it asked for. Fields
 * that change nothing here (user, store, metadata, ...) pass.
 */
function refuseUnsupported(req: Record<string, unknown>): void {
  const no = (what: string) => {
    throw new EmberError('UNSUPPORTED', `chat completions: ${what}`);
  };
  if (req.n !== undefined && req.n !== 1) no(`n must be 1 (one choice a completion), got ${show(req.n)}`);
  if (Array.isArray(req.functions) && req.functions.length > 0) no('functions (the deprecated form) are not supported; give tools');
  if (req.stream !== undefined && typeof req.stream !== 'boolean') {
    throw new EmberError('BAD_ARGUMENT', `stream must be true or false, got ${show(req.stream)}`);
  }
}

/**
 * An OpenAI-style chat completions API over an Engine:
 * `createChat(engine).completions.create({ messages, max_tokens, temperature, stream })`.
 * `create` resolves once the first token is generated (so a prompt that does not fit rejects it with
 * CONTEXT_OVERFLOW); with `stream: true` it resolves to an AsyncIterable of chunks. Iterate a stream
 * to its end or break out of the loop (which ends the generation): the engine runs one generation at
 * a time, and a stream left unread holds it.
 */
export function createChat(engine: ChatEngine, opts: ChatOptions = {}): Chat {
  const template = opts.template !== undefined ? opts.template : (engine.chatTemplate ?? null);
  const model = opts.model ?? engine.config.name;
  const keepReplies = opts.keepReplyTokens ?? true;
  let prior: ChatPrompt | null = null; // the latest completion's prompt and reply, as the model ran them

  async function create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    if (typeof req !== 'object' || req === null) {
      throw new EmberError('BAD_ARGUMENT', `a chat completion request must be an object, got ${String(req)}`);
    }
    refuseUnsupported(req as unknown as Record<string, unknown>);
    const messages = checkMessages(req.messages);
    const stops = checkStop(req.stop);
    const sampling: SamplingOptions = {
      temperature: req.temperature, topP: req.top_p, topK: req.top_k, minP: req.min_p, seed: req.seed,
      presencePenalty: req.presence_penalty, frequencyPenalty: req.frequency_penalty, repetitionPenalty: req.repetition_penalty,
      logitBias: req.logit_bias,
    };
    validateSampling(sampling, { vocabSize: engine.tokenizer.vocabSize, names: OPENAI_SAMPLING_NAMES }); // errors in the request's names
    const overflow = req.context_overflow ?? 'drop-turns';
    if (!OVERFLOW.includes(overflow)) {
      const found = JSON.stringify(overflow);
      throw new EmberError('BAD_ARGUMENT', `context_overflow must be one of ${OVERFLOW.join(', ')}, got ${found}`);
    }
    const nCtx = engine.contextLength;
    const reserve = Math.min(typeof req.max_tokens === 'number' ? req.max_tokens : 128, Math.floor(nCtx / 4));
    const tools = planTools(req, template);
    const format = outputFormatOf(req.response_format);
    if (format && tools) throw new EmberError('UNSUPPORTED', 'chat completions: a response_format other than text together with tools (give tool_choice \'none\', or no tools)');
    const kwargs = checkTemplateVariables(req.chat_template_kwargs, template);
    const variables = tools ? { ...kwargs, tools: tools.tools } : kwargs;
    const rendering = { replyPrefix: tools?.prefix, forcedStart: !!tools?.forced || format !== null, callsInContent: callsInContentFor(template) };
    const render = (msgs: readonly ChatMessage[]) => chatPrompt(engine.tokenizer, template, msgs, variables, rendering);
    const canonical = render(messages);
    const continued = prior && keepReplies ? continuedPromptIds(engine.tokenizer, canonical, prior) : null;
    const whole = continued ? { ...canonical, ids: continued } : canonical;
    const fitted = overflow === 'drop-turns'
      ? fitTurns(engine.tokenizer, render, messages, whole, nCtx, reserve)
      : { ...whole, keep: undefined };
    const promptIds = fitted.ids;
    const logprobs = checkLogprobs(req);
    const genOpts: GenerateOptions = {
      ...sampling, maxTokens: req.max_tokens, signal: req.signal, logprobs,
      addBos: false, // chatPromptIds decided BOS
      contextOverflow: overflow === 'drop-turns' ? 'truncate-middle' : overflow,
      keepTokens: fitted.keep,
    };
    // The grammar's tables for this vocabulary are built once (about a second for 150k tokens), then cached.
    const output = format ?? (tools?.structure ? { type: 'structural_tag' as const, format: tools.structure, markers: TOOL_MARKERS[tools.format] } : null);
    const constraint = output ? await grammarConstraint(engine.tokenizer, engine.config.vocab, output) : null;
    let it: GenerationStream;
    try {
      it = engine.generate(promptIds, constraint ? { ...genOpts, constraint } : genOpts);
    } catch (e) {
      constraint?.dispose();
      throw e;
    }
    if (constraint) it.result.then(constraint.dispose, constraint.dispose);
    const first = await it.next();
    if (first.done && first.value.finishReason === 'abort') {
      throw aborted('the chat completion was aborted before it started', first.value);
    }
    const id = newId();
    const created = Math.floor(Date.now() / 1000);
    const usage = async (completionTokens: number): Promise<CompletionUsage> => {
      const s = (await it.result).stats;
      const prompt = promptIds.length;
      return {
        prompt_tokens: prompt,
        completion_tokens: completionTokens,
        total_tokens: prompt + completionTokens,
        prompt_tokens_details: { cached_tokens: s.cachedTokens },
        timings: { ttft_ms: s.ttftMs, prefill_tok_s: s.prefillTokS, decode_tok_s: s.decodeTokS },
      };
    };
    const answer = tools ? new ToolCallSplitter(tools.format, newToolCallId, tools.maxCalls, tools.tools) : plainReply;
    const thinks = thinksIn(template);
    const reply = thinks ? new ReasoningSplitter(answer, fitted.thinking ?? false) : answer;
    reply.push(fitted.replyPrefix ?? ''); // a forced call's opening, in the prompt: the reply is inside a call from its start
    const markers = new Map([...(tools ? markerIds(engine.tokenizer, tools.format) : []), ...(thinks ? controlMarkers(engine.tokenizer, [THINK_OPEN, THINK_CLOSE]) : [])]);
    const entries: ChatTokenLogprob[] = []; // logprobs of the tokens not yet reported
    const onToken = (t: GeneratedToken) => {
      if (t.logprob !== undefined) entries.push(logprobEntry(engine.tokenizer, t));
    };
    const drain = () => (logprobs === undefined ? {} : { logprobs: { content: entries.splice(0) } });
    const parts = replyParts(it, first, stops, reply, markers, onToken);
    /** After a reply that is the text of every token generated: the next turn may continue this one's ids. */
    const remember = async (content: string) => {
      const r = await it.result;
      if (fitted.text === null || r.finishReason === 'abort' || r.text !== content) return;
      const eos = r.finishReason === 'stop' && r.ids.length > 0 && engine.tokenizer.isEndOfGeneration(r.ids.at(-1)!);
      prior = { ids: [...promptIds, ...(eos ? r.ids.slice(0, -1) : r.ids)], text: fitted.text + content };
    };
    const apiCall = (c: ParsedToolCall): ChatToolCall => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } });

    if (!req.stream) {
      let content = '';
      let reasoning = '';
      const calls: ChatToolCall[] = [];
      let r;
      while (!(r = await parts.next()).done) {
        content += r.value.content;
        reasoning += r.value.reasoning ?? '';
        calls.push(...r.value.calls.map(apiCall));
      }
      if (calls.length === 0) await remember(content);
      const thought = reasoning ? { reasoning_content: reasoning } : {};
      const message: ChatReplyMessage = calls.length === 0 ? { role: 'assistant', content, ...thought }
        : { role: 'assistant', content: content.trim() === '' ? null : content, ...thought, tool_calls: calls };
      return {
        id, object: 'chat.completion', created, model,
        choices: [{ index: 0, message, finish_reason: r.value.finish, ...drain() }],
        usage: await usage(r.value.completionTokens),
      };
    }
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish: ChatFinishReason | null): ChatCompletionChunk => ({
      id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish, ...drain() }],
    });
    return (async function* chunks(): AsyncGenerator<ChatCompletionChunk> {
      try {
        yield chunk({ role: 'assistant', content: '' }, null);
        let r;
        let content = '';
        let calls = 0;
        while (!(r = await parts.next()).done) {
          content += r.value.content;
          if (r.value.reasoning) yield chunk({ reasoning_content: r.value.reasoning }, null);
          if (r.value.content) yield chunk({ content: r.value.content }, null);
          if (r.value.calls.length > 0) yield chunk({ tool_calls: r.value.calls.map((c, k) => ({ index: calls + k, ...apiCall(c) })) }, null);
          calls += r.value.calls.length;
        }
        if (calls === 0) await remember(content);
        yield { ...chunk({}, r.value.finish), usage: await usage(r.value.completionTokens) };
      } finally {
        // The consumer broke off (a no-op after the end): end the generation, even if `parts` never started.
        await parts.return(undefined as never);
        await stopGeneration(it);
      }
    })();
  }

  return { completions: { create } as ChatCompletions };
}

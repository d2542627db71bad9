import { Template } from '@huggingface/jinja';
import { EmberError } from '../errors.ts';
import { isHFFolder, type ModelInput } from '../model_input.ts';
import { openSource } from '../gguf/source.ts';
import { readGGUF } from '../gguf/reader.ts';
import { openFolder, type ModelFolder } from '../hf/folder.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { splitOnSpecialTokens } from '../tokenizer/special_split.ts';
import { controlTokensIn, Placeholders } from './placeholders.ts';
import { opensThinking, SKIP_THINKING, thinksIn } from './reasoning.ts';
import type { ChatMessage, TemplateToolCall } from './types.ts';

const decoder = new TextDecoder();

/** tokenizer_config.json's chat_template: a string, or a list of named templates of which 'default' is used. */
function configTemplate(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default');
    const tpl = (named as { template?: unknown } | undefined)?.template;
    if (typeof tpl === 'string') return tpl;
  }
  return null;
}

/**
 * The model's chat template, or null when it has none: GGUF metadata `tokenizer.chat_template`, or
 * for a Hugging Face folder `chat_template` in tokenizer_config.json (else a chat_template.jinja file).
 * Reads only the GGUF header (or the small JSON), so it is cheap beside `Engine.load` of the same input.
 */
export async function readChatTemplate(input: ModelInput): Promise<string | null> {
  if (await isHFFolder(input)) return folderChatTemplate(await openFolder(String(input).replace(/config\.json$/, '')));
  const src = await openSource(input);
  try {
    const t = (await readGGUF(src)).metadata.get('tokenizer.chat_template');
    return typeof t === 'string' ? t : null;
  } finally {
    await src.close?.();
  }
}

/** A Hugging Face folder's chat template: tokenizer_config.json's chat_template, else chat_template.jinja, else null. */
export async function folderChatTemplate(folder: ModelFolder): Promise<string | null> {
  const cfg = await folder.json('tokenizer_config.json');
  const fromConfig = cfg && typeof cfg === 'object' ? configTemplate((cfg as Record<string, unknown>).chat_template) : null;
  if (fromConfig !== null) return fromConfig;
  const src = await folder.source('chat_template.jinja').catch(() => null);
  if (!src) return null;
  try {
    return decoder.decode(await src.read(0, src.size));
  } finally {
    await src.close?.();
  }
}

/** The text of a control token (`<s>`), or '' when the tokenizer has none. */
function tokenText(tokenizer: Tokenizer, id: number | null): string {
  return id === null ? '' : tokenizer.decode([id], { skipSpecial: false });
}

/** The variables renderChatTemplate sets itself, which a request's template variables may not replace. */
export const TEMPLATE_OWN_VARIABLES: readonly string[] = ['messages', 'add_generation_prompt', 'bos_token', 'eos_token', 'tools'];

/** Variables for a chat template beyond the messages (`{ enable_thinking: false }` for Qwen3 and SmolLM3's templates). */
export type TemplateVariables = Readonly<Record<string, unknown>>;

/**
 * Renders `messages` with a Jinja chat template as transformers does: `add_generation_prompt: true` and
 * `bos_token`/`eos_token` as strings (the library provides `raise_exception` and `strftime_now`), and
 * `variables` as apply_chat_template's extra keyword arguments. A template that raises, or fails on
 * these messages, is a BAD_ARGUMENT.
 */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], tokens: { bosToken: string; eosToken: string }, variables: TemplateVariables = {}): string {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (e) {
    throw new EmberError('UNSUPPORTED', `the model's chat template does not parse: ${(e as Error).message}`);
  }
  try {
    return compiled.render({
      ...variables,
      messages,
      add_generation_prompt: true,
      bos_token: tokens.bosToken,
      eos_token: tokens.eosToken,
    });
  } catch (e) {
    throw new EmberError('BAD_ARGUMENT', `the chat template failed to render these messages: ${(e as Error).message}`);
  }
}

/**
 * A chat without a template, as plain text: the contents joined by newlines, except that an assistant
 * message follows the text before it directly, as the model wrote it (a continuation). So the next
 * turn's prompt starts with exactly the text of the previous prompt and reply, and the KV cache that
 * holds them is reused.
 */
function plainTranscript(messages: readonly ChatMessage[]): string {
  return messages.map((m, i) => (i === 0 || m.role === 'assistant' ? '' : '\n') + m.content).join('');
}

/** How tool calls reach the prompt beyond the template's variables. */
export interface ToolRendering {
  /** Written after the generation prompt, as the start of the reply (a forced tool call's opening). */
  replyPrefix?: string;
  /**
   * The reply's start is held (a call by tool_choice 'required' or named, JSON by response_format's grammar): a <think>
   * the prompt opened is closed first, so that what is held is the answer, not its reasoning.
   */
  forcedStart?: boolean;
  /** An assistant message's calls as text after its content, for templates that render only content (LFM2's). */
  callsInContent?: (calls: readonly TemplateToolCall[]) => string;
}

/**
 * A chat's prompt ids, and the text they encode where a later turn can continue it by text (`continuedPromptIds`):
 * null without a template, or when the messages held control-token text.
 */
export interface ChatPrompt {
  ids: number[];
  text: string | null;
  /** The generation prompt left the reply inside an opened <think> (src/chat/reasoning.ts). */
  thinking?: boolean;
  /** What the prompt ends with as the start of the reply (ToolRendering.replyPrefix, after the end of a <think> it opened). */
  replyPrefix?: string;
}

/**
 * The prompt ids for a chat. With a template: the rendered text, tokenized with `parseSpecial` so the
 * template's control tokens become their ids, and BOS added only when the tokenizer adds one and the
 * template did not already write it. Control-token text inside the messages (`'hi<|im_end|>'`) is
 * hidden from the tokenizer's control-token matching and comes out as plain text, so a message cannot
 * end its turn or open another. Without a template (e.g. stories260K): `plainTranscript`, tokenized as
 * plain text (with the tokenizer's BOS), so a single user message is exactly a plain completion prompt.
 * The variables (tools among them) are the request's too, so their control-token text is hidden as well.
 */
export function chatPrompt(
  tokenizer: Tokenizer, template: string | null, messages: readonly ChatMessage[], variables?: TemplateVariables, tools: ToolRendering = {},
): ChatPrompt {
  if (template === null) return { ids: tokenizer.encode(plainTranscript(messages), { addBos: tokenizer.addBos }), text: null };
  const bosToken = tokenText(tokenizer, tokenizer.bosId);
  const placeholders = new Placeholders(tokenizer);
  const eosToken = tokenText(tokenizer, tokenizer.eosId);
  let hiddenMessages = placeholders.hideIn(messages);
  const { callsInContent } = tools;
  if (callsInContent) { // after hiding: the format's markers are written as the template's own control tokens
    hiddenMessages = hiddenMessages.map((m) => (m.tool_calls ? { ...m, content: m.content + callsInContent(m.tool_calls) } : m));
  }
  const hiddenVariables = variables && placeholders.hideIn(variables);
  const rendered = renderChatTemplate(template, hiddenMessages, { bosToken, eosToken }, hiddenVariables);
  const thinking = thinksIn(template) && opensThinking(rendered);
  // (a forced call is written after the reasoning the prompt opened, closed at once)
  const replyPrefix = (thinking && (tools.forcedStart || tools.replyPrefix) ? SKIP_THINKING : '') + (tools.replyPrefix ?? '');
  const text = rendered + replyPrefix;
  const reply = { thinking, replyPrefix };
  const templateWroteBos = bosToken !== '' && text.startsWith(bosToken);
  const addBos = tokenizer.addBos && !templateWroteBos;
  if (placeholders.hidControlText) return { ids: idsWithLiterals(tokenizer, text, placeholders, addBos), text: null, ...reply };
  // The usual chat: every control token in the text is the template's, so it is encoded whole, as
  // transformers does (restore only gives back characters that merely looked like placeholders).
  const restored = placeholders.restore(text);
  return { ids: tokenizer.encode(restored, { addBos, parseSpecial: true }), text: restored, ...reply };
}

export function chatPromptIds(
  tokenizer: Tokenizer, template: string | null, messages: readonly ChatMessage[], variables?: TemplateVariables, tools?: ToolRendering,
): number[] {
  return chatPrompt(tokenizer, template, messages, variables, tools).ids;
}

/**
 * The ids of a chat that continues `prior`, an earlier prompt and its reply as the model ran them (the reply's
 * ids as generated, which need not be how its text tokenizes: sampled pieces, a character's bytes split across
 * tokens): prior's ids, then the rest of the text. Only when the text starts with prior's and the rest starts
 * with a control token (the template's end of turn), so that the rest is cut there and encoded as it is within
 * the whole text. Null otherwise. Keeping the reply's own ids keeps the KV cache that holds them.
 */
export function continuedPromptIds(tokenizer: Tokenizer, prompt: ChatPrompt, prior: ChatPrompt): number[] | null {
  if (prompt.text === null || prior.text === null || !prompt.text.startsWith(prior.text)) return null;
  const rest = tokenizer.encode(prompt.text.slice(prior.text.length), { addBos: false, parseSpecial: true });
  const first = rest[0];
  if (first === undefined || tokenizer.tokenBytes(first).length > 0) return null;
  const control = tokenizer.decode([first], { skipSpecial: false });
  if (control === '' || !prompt.text.startsWith(control, prior.text.length)) return null;
  return [...prior.ids, ...rest];
}

/**
 * The ids of a rendered chat whose messages held control-token text: the text is cut at the control
 * tokens the template wrote, as the GGUF tokenizers cut it (longest text first), and each piece between
 * them, placeholders swapped back, is encoded as plain text. For a GGUF tokenizer that is exactly how
 * `parseSpecial` encodes a text whose pieces hold no control-token text; a Hugging Face tokenizer can
 * differ around the cuts (a Metaspace 'first' prefix, lstrip/rstrip tokens), only in chats like these.
 */
function idsWithLiterals(tokenizer: Tokenizer, text: string, placeholders: Placeholders, addBos: boolean): number[] {
  const out: number[] = addBos && tokenizer.bosId !== null ? [tokenizer.bosId] : [];
  for (const piece of splitOnSpecialTokens(text, controlTokensIn(tokenizer, text))) {
    if (typeof piece === 'number') out.push(piece);
    else for (const id of tokenizer.encode(placeholders.restore(piece), { addBos: false })) out.push(id);
  }
  return out;
}

/**
 * Function calling on the chat completions surface: the request's tools go to the model's own chat template
 * (which teaches the model its format), the reply's calls come back parsed (tool_calls.ts), and tool_choice
 * 'required' or a named function starts the reply with the format's opening so the model writes a call.
 */
import { show } from '../options.ts';
import { EmberError } from '../errors.ts';
import { TOOL_MARKERS, type ToolFormat } from './tool_calls.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { ChatTool, TemplateToolCall } from './types.ts';
import { pythonicCalls } from './pythonic.ts';

/** The format a chat template's model writes its calls in, read off the template; null where none is known. */
export function toolFormatOf(template: string): ToolFormat | null {
  if (template.includes('<|tool_list_start|>') || template.includes('List of tools: [')) return 'pythonic'; // LFM2, LFM2.5
  if (template.includes('[TOOL_CALLS]')) return template.includes('[ARGS]') ? 'mistral-args' : 'mistral';
  // <tool_call> around <function=...> and its <parameter=...>s: Qwen3-Coder, Qwen3.5, Nemotron 3 (functionary's
  // <function=...> holds JSON; Seed-OSS's opener is <seed:tool_call>)
  if (['<tool_call>', '<function=', '<parameter='].every((tag) => template.includes(tag))) return 'qwen-xml';
  // Other XML (GLM's <arg_key>, MiniMax's <invoke>) is not read.
  if (['<function=', '<arg_key>', '<invoke'].some((xml) => template.includes(xml))) return null;
  if (template.includes('<tool_call>')) return 'hermes';
  if (template.includes('<|python_tag|>') || template.includes('"parameters": ')) return 'llama3';
  return null;
}

/** How a request's tools are to be used: the template sees `tools`, and the reply starts with `prefix`. */
export interface ToolPlan {
  tools: readonly ChatTool[];
  format: ToolFormat;
  /** Text the reply starts with, written after the template's generation prompt ('' for 'auto'). */
  prefix: string;
  /** tool_choice 'required' or a named function: the reply is a call from its start (after any reasoning the prompt opened, closed). */
  forced: boolean;
  /** 1 where parallel_tool_calls is false. */
  maxCalls: number;
  /**
   * Where a tool is `strict` (OpenAI's structured outputs for functions): a grammar holds every call to its function's
   * parameters (the others' to any object), and a forced call to the format's opening by the grammar, not `prefix`.
   */
  structure: Readonly<Record<string, unknown>> | null;
}

function checkTools(tools: unknown): readonly ChatTool[] {
  const expected = "{ type: 'function', function: { name: string, description?: string, parameters?: object } }";
  if (!Array.isArray(tools)) throw new EmberError('BAD_ARGUMENT', `tools must be an array of ${expected}, got ${show(tools)}`);
  const names = new Set<string>();
  tools.forEach((t: { type?: unknown; function?: { name?: unknown; parameters?: unknown } } | null, i) => {
    const f = t?.function;
    const ok = t?.type === 'function' && typeof f?.name === 'string' && f.name !== ''
      && (f.parameters === undefined || (typeof f.parameters === 'object' && f.parameters !== null && !Array.isArray(f.parameters)));
    if (!ok) throw new EmberError('BAD_ARGUMENT', `tools[${i}] must be ${expected}, got ${JSON.stringify(t)}`);
    if (names.has(f!.name as string)) throw new EmberError('BAD_ARGUMENT', `tools[${i}]: two tools are named ${show(f!.name)}`);
    names.add(f!.name as string);
  });
  return tools as ChatTool[];
}

/** tool_choice as 'none' | 'auto' | 'required', or the name of the function the reply must call. */
function checkChoice(choice: unknown, tools: readonly ChatTool[]): 'none' | 'auto' | 'required' | { name: string } {
  if (choice === undefined) return 'auto';
  if (choice === 'none' || choice === 'auto' || choice === 'required') return choice;
  const name = (choice as { type?: unknown; function?: { name?: unknown } } | null)?.function?.name;
  if ((choice as { type?: unknown })?.type !== 'function' || typeof name !== 'string') {
    throw new EmberError('BAD_ARGUMENT', `tool_choice must be 'none', 'auto', 'required' or { type: 'function', function: { name } }, got ${JSON.stringify(choice)}`);
  }
  if (!tools.some((t) => t.function.name === name)) {
    throw new EmberError('BAD_ARGUMENT', `tool_choice names ${show(name)}, which is not among the tools (${tools.map((t) => t.function.name).join(', ')})`);
  }
  return { name };
}

/** The opening a forced call starts with: any call ('required'), or the named function's up to its arguments. */
function forcedPrefix(format: ToolFormat, name: string | null): string {
  const quoted = JSON.stringify(name);
  switch (format) {
    case 'hermes': return name === null ? '<tool_call>\n' : `<tool_call>\n{"name": ${quoted}, "arguments": `;
    case 'llama3': return name === null ? '{"name": "' : `{"name": ${quoted}, "parameters": `;
    case 'mistral': return name === null ? '[TOOL_CALLS]' : `[TOOL_CALLS][{"name": ${quoted}, "arguments": `;
    case 'mistral-args': return name === null ? '[TOOL_CALLS]' : `[TOOL_CALLS]${name}[ARGS]`;
    case 'pythonic': return name === null ? '<|tool_call_start|>[' : `<|tool_call_start|>[${name}(`;
    case 'qwen-xml': return name === null ? '<tool_call>\n<function=' : `<tool_call>\n<function=${name}>\n`;
  }
}

/**
 * The formats whose arguments are JSON, which a structural tag's JSON Schema can hold: not LFM2's Python calls, nor the
 * XML parameters of Qwen3-Coder and Qwen3.5 (XGrammar 0.1.27's qwen_xml_parameter wants a string value quoted as JSON,
 * `<parameter=city>"Paris"</parameter>`, where their templates write it bare).
 */
type JsonToolFormat = Exclude<ToolFormat, 'pythonic' | 'qwen-xml'>;

/** What opens any call: the grammar's trigger, after which the text must be one of the calls' tags. */
const TRIGGER: Readonly<Record<JsonToolFormat, string>> = { hermes: '<tool_call>', llama3: '{"name": ', mistral: '[TOOL_CALLS]', 'mistral-args': '[TOOL_CALLS]' };

/** A call of `tool` as its format writes it, around the arguments. */
function callTag(format: JsonToolFormat, tool: ChatTool): Record<string, unknown> {
  const { name, parameters, strict } = tool.function;
  const q = JSON.stringify(name);
  const [begin, end] = {
    hermes: [`<tool_call>\n{"name": ${q}, "arguments": `, '}\n</tool_call>'],
    llama3: [`{"name": ${q}, "parameters": `, '}'],
    mistral: [`[TOOL_CALLS][{"name": ${q}, "arguments": `, '}]'],
    'mistral-args': [`[TOOL_CALLS]${name}[ARGS]`, ''],
  }[format];
  const schema = strict === true && parameters ? parameters : { type: 'object' };
  return { type: 'tag', begin, content: { type: 'json_schema', json_schema: schema }, end };
}

/**
 * XGrammar's structural tag for strict tools: free text in which each call, once opened, is held to its tool's
 * schema ('auto'); for 'required' or a named function the reply is calls only, starting at once.
 */
function callStructure(format: JsonToolFormat, tools: readonly ChatTool[], choice: 'auto' | 'required' | { name: string }, maxCalls: number) {
  const named = typeof choice === 'object' ? tools.filter((t) => t.function.name === choice.name) : tools;
  const tags = named.map((t) => callTag(format, t));
  const stop_after_first = maxCalls === 1 || format === 'llama3' || format === 'mistral'; // their replies hold one call here
  if (choice === 'auto') return { type: 'triggered_tags', triggers: [TRIGGER[format]], tags, stop_after_first };
  return { type: 'tags_with_separator', tags, separator: format === 'hermes' ? '\n' : '', at_least_one: true, stop_after_first };
}

/**
 * The plan for a request's tools, tool_choice and parallel_tool_calls; null where the reply is plain text (no
 * tools, or tool_choice 'none', under which the template does not see them either). Tools need the model's chat
 * template, and a template whose call format is known.
 */
export function planTools(req: { tools?: unknown; tool_choice?: unknown; parallel_tool_calls?: unknown }, template: string | null): ToolPlan | null {
  if (req.tools === undefined || (Array.isArray(req.tools) && req.tools.length === 0)) {
    if (req.tool_choice !== undefined && req.tool_choice !== 'none' && req.tool_choice !== 'auto') {
      throw new EmberError('BAD_ARGUMENT', `tool_choice ${JSON.stringify(req.tool_choice)} needs tools`);
    }
    return null;
  }
  const tools = checkTools(req.tools);
  const choice = checkChoice(req.tool_choice, tools);
  if (req.parallel_tool_calls !== undefined && typeof req.parallel_tool_calls !== 'boolean') {
    throw new EmberError('BAD_ARGUMENT', `parallel_tool_calls must be true or false, got ${show(req.parallel_tool_calls)}`);
  }
  if (choice === 'none') return null;
  if (template === null) throw new EmberError('UNSUPPORTED', 'chat completions: tools need the model\'s chat template, and this model has none');
  const format = toolFormatOf(template);
  if (format === null) {
    const why = /\btools\b/.test(template) ? 'takes tools, but writes calls in a format emberlm does not parse' : 'takes no tools';
    throw new EmberError('UNSUPPORTED', `chat completions: this model's chat template ${why}`);
  }
  const maxCalls = req.parallel_tool_calls === false ? 1 : Infinity;
  if (tools.some((t) => t.function.strict === true)) {
    if (format === 'pythonic') throw new EmberError('UNSUPPORTED', "chat completions: strict tools in LFM2's Python-style calls (their arguments are not JSON a schema holds)");
    if (format === 'qwen-xml') throw new EmberError('UNSUPPORTED', 'chat completions: strict tools in the XML calls of Qwen3-Coder and Qwen3.5 (their bare string values are not what XGrammar\'s XML grammar takes)');
    return { tools, format, prefix: '', forced: choice !== 'auto', maxCalls, structure: callStructure(format, tools, choice, maxCalls) };
  }
  const prefix = choice === 'auto' ? '' : forcedPrefix(format, choice === 'required' ? null : choice.name);
  return { tools, format, prefix, forced: choice !== 'auto', maxCalls, structure: null };
}

/** The format's control tokens by id, whose text the reply's stream must keep (they decode to nothing). */
export function markerIds(tokenizer: Tokenizer, format: ToolFormat): Map<number, string> {
  return controlMarkers(tokenizer, TOOL_MARKERS[format]);
}

/** Those of `markers` that are one control token (decoding to nothing), by id. */
export function controlMarkers(tokenizer: Tokenizer, markers: readonly string[]): Map<number, string> {
  const ids = new Map<number, string>();
  for (const marker of markers) {
    const enc = tokenizer.encode(marker, { addBos: false, parseSpecial: true });
    if (enc.length === 1 && tokenizer.tokenBytes(enc[0]).length === 0) ids.set(enc[0], marker);
  }
  return ids;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A tool call id: 9 letters and digits, the one shape every template accepts (Mistral's insist on it). */
export function newToolCallId(): string {
  let id = '';
  for (let i = 0; i < 9; i++) id += ALNUM[Math.floor(Math.random() * ALNUM.length)];
  return id;
}

/** LFM2's templates render an assistant message's content only: its calls go there, as the model wrote them. */
export function callsInContentFor(template: string | null): ((calls: readonly TemplateToolCall[]) => string) | undefined {
  if (template === null || toolFormatOf(template) !== 'pythonic') return undefined;
  const [open, close] = TOOL_MARKERS.pythonic;
  return (calls) => open + pythonicCalls(calls.map((c) => c.function)) + close;
}

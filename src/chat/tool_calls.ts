/**
 * Tool calls in a model's reply, in the formats the chat templates teach their models:
 * - 'hermes' (Qwen2.5/3, Granite 4.0, Hermes): `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, any number;
 * - 'llama3' (Llama 3.1-3.3): the whole reply one `{"name": ..., "parameters": {...}}`, maybe after `<|python_tag|>`;
 * - 'mistral' (Mistral Nemo): `[TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}, ...]` to the end;
 * - 'mistral-args' (Ministral 3, Mistral Small 3.2): `[TOOL_CALLS]name[ARGS]{...}`, repeated, to the end;
 * - 'pythonic' (LFM2, LFM2.5): `<|tool_call_start|>[name(arg="x"), ...]<|tool_call_end|>`;
 * - 'qwen-xml' (Qwen3-Coder, Qwen3.5, Nemotron 3): `<tool_call>\n<function=name>\n<parameter=arg>\nx\n</parameter>\n</function>\n</tool_call>` (xml_calls.ts).
 * Text that does not parse as the format's calls stays content, as the model wrote it.
 */

import { parsePythonicCalls } from './pythonic.ts';
import { parseXmlCall } from './xml_calls.ts';
import type { ChatTool } from './types.ts';
import { EdgeTrimmer, partialTail } from './stop.ts';

export type ToolFormat = 'hermes' | 'llama3' | 'mistral' | 'mistral-args' | 'pythonic' | 'qwen-xml';

export interface ParsedToolCall {
  id: string;
  name: string;
  /** The arguments object as JSON text, as OpenAI's API returns it. */
  arguments: string;
}

interface FormatSpec {
  /** Where calls start; null for 'llama3', whose calls are the whole reply. */
  opener: string | null;
  /** Where a call ends; null: the calls run to the end of the reply. */
  closer: string | null;
  /** The calls in the text between opener and closer (or the end), or null where it is not calls; `tools`: the request's. */
  parse(text: string, newId: () => string, tools: readonly ChatTool[]): ParsedToolCall[] | null;
}

/** Control tokens that the formats write, which decode to nothing unless their text is put back. */
export const TOOL_MARKERS: Readonly<Record<ToolFormat, readonly string[]>> = {
  hermes: ['<tool_call>', '</tool_call>'],
  llama3: ['<|python_tag|>'],
  mistral: ['[TOOL_CALLS]'],
  'mistral-args': ['[TOOL_CALLS]', '[ARGS]'],
  pythonic: ['<|tool_call_start|>', '<|tool_call_end|>'],
  'qwen-xml': ['<tool_call>', '</tool_call>'],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{ name, arguments | parameters }` as a call, or null. */
function callOf(v: unknown, newId: () => string): ParsedToolCall | null {
  if (!isObject(v) || typeof v.name !== 'string' || v.name === '') return null;
  const args = v.arguments ?? v.parameters ?? {};
  if (!isObject(args)) return null;
  const id = typeof v.id === 'string' && v.id !== '' ? v.id : newId();
  return { id, name: v.name, arguments: JSON.stringify(args) };
}

const FORMATS: Readonly<Record<ToolFormat, FormatSpec>> = {
  hermes: {
    opener: '<tool_call>',
    closer: '</tool_call>',
    parse: (text, newId) => {
      const call = callOf(parseJson(text.trim()), newId);
      return call && [call];
    },
  },
  llama3: {
    opener: null,
    closer: null,
    parse: (text, newId) => {
      const call = callOf(parseJson(text.replace('<|python_tag|>', '').trim()), newId);
      return call && [call];
    },
  },
  mistral: {
    opener: '[TOOL_CALLS]',
    closer: null,
    parse: (text, newId) => {
      const list = parseJson(text.trim());
      if (!Array.isArray(list) || list.length === 0) return null;
      const calls = list.map((v) => callOf(v, newId));
      return calls.every((c) => c !== null) ? (calls as ParsedToolCall[]) : null;
    },
  },
  'mistral-args': {
    opener: '[TOOL_CALLS]',
    closer: null,
    parse: (text, newId) => {
      const calls: ParsedToolCall[] = [];
      for (const piece of text.split('[TOOL_CALLS]')) {
        const at = piece.indexOf('[ARGS]');
        if (at < 0) return null;
        const call = callOf({ name: piece.slice(0, at).trim(), arguments: parseJson(piece.slice(at + 6).trim()) }, newId);
        if (!call) return null;
        calls.push(call);
      }
      return calls;
    },
  },
  pythonic: {
    opener: '<|tool_call_start|>',
    closer: '<|tool_call_end|>',
    parse: (text, newId) => parsePythonicCalls(text)?.map((c) => ({ id: newId(), name: c.name, arguments: JSON.stringify(c.arguments) })) ?? null,
  },
  'qwen-xml': {
    opener: '<tool_call>',
    closer: '</tool_call>',
    parse: (text, newId, tools) => {
      const call = parseXmlCall(text, tools);
      return call && [{ id: newId(), name: call.name, arguments: JSON.stringify(call.arguments) }];
    },
  },
};

/** What a piece of the reply turned into: content to show, and calls that completed. */
export interface ReplyPart {
  content: string;
  calls: ParsedToolCall[];
  /** A thinking model's reasoning (src/chat/reasoning.ts), where some came. */
  reasoning?: string;
}

/**
 * Splits a reply, as it streams, into content and tool calls. Text that may be the start of a call is held
 * back until it is decided; whitespace between calls is dropped. `maxCalls` (1 for parallel_tool_calls:
 * false) ends the parsing: `done` tells the caller to stop the generation.
 */
export class ToolCallSplitter {
  private readonly spec: FormatSpec;
  private held = '';
  /** 'text': a 'llama3' reply that did not open with a call, passed through as it comes. */
  private mode: 'content' | 'call' | 'text' = 'content';
  private callCount = 0;
  /** The content's edges: whitespace held back at its end, and dropped after a call (until content comes). */
  private readonly edges = new EdgeTrimmer(false);

  constructor(format: ToolFormat, private readonly newId: () => string, private readonly maxCalls = Infinity, private readonly tools: readonly ChatTool[] = []) {
    this.spec = FORMATS[format];
  }

  get calls(): number {
    return this.callCount;
  }

  get done(): boolean {
    return this.callCount >= this.maxCalls;
  }

  push(text: string): ReplyPart {
    const out: ReplyPart = { content: '', calls: [] };
    if (this.done) return out;
    if (this.mode === 'text') return { content: text, calls: [] };
    this.held += text;
    const { opener, closer } = this.spec;
    if (opener === null) return this.pushWhole(out);
    for (;;) {
      if (this.mode === 'content') {
        const at = this.held.indexOf(opener);
        const safe = at >= 0 ? at : this.held.length - partialTail(this.held, [opener]);
        this.emitContent(out, this.held.slice(0, safe));
        this.held = this.held.slice(safe);
        if (at < 0) return out;
        this.held = this.held.slice(opener.length);
        this.mode = 'call';
      }
      if (closer === null) return out; // the calls run to the end
      const end = this.held.indexOf(closer);
      if (end < 0) return out;
      this.finishCall(out, this.held.slice(0, end), closer);
      this.held = this.held.slice(end + closer.length);
      this.mode = 'content';
      if (this.done) return out;
    }
  }

  /** The reply has ended: what was held back, as calls where it parses, else as content. */
  end(): ReplyPart {
    const out: ReplyPart = { content: '', calls: [] };
    if (this.done) return out;
    if (this.mode === 'call') this.finishCall(out, this.held, '');
    else this.emitContent(out, this.held);
    const space = this.edges.takeSpace();
    if (this.callCount === 0) out.content += space; // a reply without calls keeps every character
    this.held = '';
    this.mode = 'content';
    return out;
  }

  /** 'llama3': a reply whose first non-space character opens a JSON object (or `<|python_tag|>`) is held whole. */
  private pushWhole(out: ReplyPart): ReplyPart {
    const lead = this.held.trimStart();
    if (this.mode === 'call' || lead === '') return out;
    const tag = '<|python_tag|>';
    if (lead.startsWith('{') || lead.startsWith(tag)) {
      this.mode = 'call';
    } else if (!tag.startsWith(lead)) {
      this.mode = 'text';
      out.content = this.held;
      this.held = '';
    }
    return out;
  }

  /**
   * Content, less the layout around calls: whitespace right before a call, right after one, and at the end of
   * a reply with calls. Trailing whitespace waits until what follows decides, so the content is the same however
   * the text was cut into pieces; a reply without calls keeps every character.
   */
  private emitContent(out: ReplyPart, text: string): void {
    out.content += this.edges.push(text);
  }

  /** A call's text: calls where it parses, else the text back as content, as the model wrote it. */
  private finishCall(out: ReplyPart, body: string, closer: string): void {
    const calls = this.spec.parse(body, this.newId, this.tools);
    if (!calls) {
      out.content += this.edges.takeSpace() + (this.spec.opener ?? '') + body + closer;
      return;
    }
    const room = this.maxCalls - this.callCount;
    this.edges.restart();
    out.calls.push(...calls.slice(0, room));
    this.callCount += Math.min(calls.length, room);
  }
}

import { show } from '../options.ts';
import { EmberError } from '../errors.ts';
import type { ChatMessage, TemplateToolCall } from './types.ts';

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);

type RequestMessage = { role?: unknown; content?: unknown; tool_calls?: unknown; tool_call_id?: unknown; name?: unknown } | null;

/** Text parts joined by newlines (as vLLM joins them for a template). */
function contentText(m: NonNullable<RequestMessage>, i: number, expected: string): string {
  if (typeof m.content === 'string') return m.content;
  if ((m.content === null || m.content === undefined) && m.role === 'assistant' && Array.isArray(m.tool_calls)) return '';
  if (!Array.isArray(m.content)) throw new EmberError('BAD_ARGUMENT', `messages[${i}] must be ${expected}, got ${JSON.stringify(m)}`);
  return m.content.map((part: { type?: unknown; text?: unknown } | null, j) => {
    if (part?.type === 'text' && typeof part.text === 'string') return part.text;
    if (part && typeof part.type === 'string' && part.type !== 'text') {
      throw new EmberError('UNSUPPORTED', `chat completions: messages[${i}].content[${j}] is a part of type ${show(part.type)}; only text parts are supported`);
    }
    throw new EmberError('BAD_ARGUMENT', `messages[${i}].content[${j}] must be { type: 'text', text: string }, got ${JSON.stringify(part)}`);
  }).join('\n');
}

/** An assistant message's calls for the template: arguments as objects, which OpenAI clients send as JSON text. */
function templateCalls(calls: unknown, i: number): TemplateToolCall[] {
  const expected = "[{ id: string, type: 'function', function: { name: string, arguments: JSON object text } }, ...]";
  if (!Array.isArray(calls)) throw new EmberError('BAD_ARGUMENT', `messages[${i}].tool_calls must be ${expected}, got ${show(calls)}`);
  return calls.map((c: { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } } | null, j) => {
    const where = `messages[${i}].tool_calls[${j}]`;
    const f = c?.function;
    if (!c || (c.type !== undefined && c.type !== 'function') || typeof c.id !== 'string' || typeof f?.name !== 'string') {
      throw new EmberError('BAD_ARGUMENT', `${where} must be { id: string, type: 'function', function: { name, arguments } }, got ${JSON.stringify(c)}`);
    }
    let args: unknown = f.arguments ?? {};
    if (typeof args === 'string') {
      try {
        args = args.trim() === '' ? {} : JSON.parse(args);
      } catch {
        throw new EmberError('BAD_ARGUMENT', `${where}.function.arguments is not JSON: ${show(f.arguments)}`);
      }
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new EmberError('BAD_ARGUMENT', `${where}.function.arguments must be a JSON object, got ${show(f.arguments)}`);
    }
    return { id: c.id, type: 'function', function: { name: f.name, arguments: args as Record<string, unknown> } };
  });
}

/**
 * The messages as the template sees them: contents as strings, an assistant's tool_calls with their arguments
 * as objects, and a tool message's `name` filled in from the call it answers (Llama's templates print it).
 * Other fields a message carries (reasoning_content, ...) pass to the template as they are.
 */
export function checkMessages(messages: unknown): readonly ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new EmberError('BAD_ARGUMENT', `messages must be a non-empty array, got ${JSON.stringify(messages)}`);
  const callNames = new Map<string, string>();
  return messages.map((m: RequestMessage, i) => {
    const expected = `{ role: ${[...ROLES].join(' | ')}, content: string or [{ type: 'text', text: string }, ...] }`;
    if (!m || !ROLES.has(m.role as string)) throw new EmberError('BAD_ARGUMENT', `messages[${i}] must be ${expected}, got ${JSON.stringify(m)}`);
    const out: ChatMessage = { ...(m as object), role: m.role as ChatMessage['role'], content: contentText(m, i, expected) };
    if (m.tool_calls !== undefined && m.tool_calls !== null) {
      if (m.role !== 'assistant') throw new EmberError('BAD_ARGUMENT', `messages[${i}] has tool_calls, which only an assistant message may have`);
      out.tool_calls = templateCalls(m.tool_calls, i);
      for (const c of out.tool_calls) callNames.set(c.id, c.function.name);
    } else if (m.tool_calls === null) {
      delete out.tool_calls;
    }
    if (m.role === 'tool' && typeof m.tool_call_id === 'string' && m.name === undefined && callNames.has(m.tool_call_id)) {
      out.name = callNames.get(m.tool_call_id);
    }
    return out;
  });
}

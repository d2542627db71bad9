/**
 * The XML calls of Qwen3-Coder's and Qwen3.5's templates (and NVIDIA Nemotron 3's), between `<tool_call>` tags:
 *   <function=NAME>
 *   <parameter=KEY>
 *   VALUE
 *   </parameter>
 *   </function>
 * A value is text, written as it is (objects and lists as JSON). Where the tool's schema gives the parameter a type
 * other than string, the value is read as JSON (as vLLM's and llama.cpp's Qwen3-Coder parsers read it); text that is
 * not JSON, and a parameter of type string or of no schema, stay text.
 */
import type { ChatTool } from './types.ts';

const FUNCTION = /^\s*<function=([^>\n]+)>([\s\S]*?)<\/function>\s*$/;
const PARAMETER = /<parameter=([^>\n]+)>([\s\S]*?)<\/parameter>/g;

/** One call's name and arguments, or null where the text is not one `<function=...>` block of parameters. */
export function parseXmlCall(text: string, tools: readonly ChatTool[]): { name: string; arguments: Record<string, unknown> } | null {
  const call = FUNCTION.exec(text);
  if (!call) return null;
  const name = call[1].trim();
  const body = call[2];
  const properties = tools.find((t) => t.function.name === name)?.function.parameters?.properties as Record<string, { type?: unknown }> | undefined;
  const args: Record<string, unknown> = {};
  let last = 0;
  for (const p of body.matchAll(PARAMETER)) {
    if (body.slice(last, p.index).trim() !== '') return null; // text between parameters: not this format
    last = p.index + p[0].length;
    const key = p[1].trim();
    args[key] = typed(p[2].replace(/^\n/, '').replace(/\n$/, ''), properties?.[key]?.type); // the template's own line breaks
  }
  return body.slice(last).trim() === '' ? { name, arguments: args } : null;
}

/** A parameter's text as its schema's type: text for strings (and without a schema), else JSON where it parses. */
function typed(value: string, type: unknown): unknown {
  const types = Array.isArray(type) ? type : type === undefined ? [] : [type];
  if (types.length === 0 || types.includes('string')) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

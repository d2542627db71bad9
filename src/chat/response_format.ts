import { show } from '../options.ts';
import { EmberError } from '../errors.ts';
import type { OutputFormat } from '../grammar/constraint.ts';

/**
 * OpenAI's response_format as the output the reply is held to: null for text, any JSON value for 'json_object',
 * JSON its schema accepts for 'json_schema' (`{ type: 'json_schema', json_schema: { name, schema, strict } }`).
 */
export function outputFormatOf(format: unknown): OutputFormat | null {
  if (format === undefined || format === null) return null;
  const type = (format as { type?: unknown }).type;
  if (type === 'text') return null;
  if (type === 'json_object') return { type: 'json' };
  if (type === 'json_schema') {
    const schema = (format as { json_schema?: { schema?: unknown } }).json_schema?.schema;
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
      throw new EmberError('BAD_ARGUMENT', `response_format json_schema needs json_schema.schema, a JSON Schema object; got ${show(schema)}`);
    }
    return { type: 'json_schema', schema: schema as Record<string, unknown> };
  }
  throw new EmberError('BAD_ARGUMENT', `response_format.type must be 'text', 'json_object' or 'json_schema', got ${show(type)}`);
}

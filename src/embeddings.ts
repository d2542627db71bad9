/**
 * The OpenAI-style embeddings surface (`embeddings.create`) over an engine's `embed`, for a local Engine and for one in
 * a worker alike: the request's fields checked, the embeddings as number lists or base64 (little-endian float32, as
 * the OpenAI API sends them).
 */
import type { EmbedOptions, EmbeddingResult } from './embed.ts';
import { EmberError } from './errors.ts';
import { bad } from './options.ts';
import { bytesToBase64 } from './util/base64.ts';

export interface EmbeddingRequest {
  input: string | readonly number[] | readonly (string | readonly number[])[];
  /** Echoed in the response (the engine runs its own model). */
  model?: string;
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
  /** Not OpenAI's: a prompt the model names (EmbeddingGemma's 'query', 'document', ...), as embed's promptName. */
  prompt_name?: string;
  signal?: AbortSignal;
}

export interface EmbeddingResponse {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface Embeddings {
  create(request: EmbeddingRequest): Promise<EmbeddingResponse>;
}

/** What `createEmbeddings` needs of an engine: its embed and its model's name. */
export interface EmbeddingEngine {
  embed(input: EmbeddingRequest['input'], opts?: EmbedOptions): Promise<EmbeddingResult>;
}

const KNOWN = new Set(['input', 'model', 'dimensions', 'encoding_format', 'prompt_name', 'signal', 'user']);

export function createEmbeddings(engine: EmbeddingEngine, model: () => string): Embeddings {
  return {
    async create(req) {
      if (typeof req !== 'object' || req === null) throw new EmberError('BAD_ARGUMENT', `an embeddings request must be an object, got ${String(req)}`);
      const unknown = Object.keys(req).find((k) => !KNOWN.has(k));
      if (unknown) bad(`embeddings request field ${unknown}`, `one of ${[...KNOWN].join(', ')}`, unknown);
      const format = req.encoding_format ?? 'float';
      if (format !== 'float' && format !== 'base64') bad('encoding_format', "'float' or 'base64'", format);
      const r = await engine.embed(req.input, { dimensions: req.dimensions, promptName: req.prompt_name, signal: req.signal });
      return {
        object: 'list',
        data: r.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: format === 'float' ? Array.from(e) : base64(e) })),
        model: req.model ?? model(),
        usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
      };
    },
  };
}

/** The float32 values' little-endian bytes in base64. */
function base64(e: Float32Array): string {
  const bytes = new Uint8Array(e.length * 4);
  const view = new DataView(bytes.buffer);
  e.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return bytesToBase64(bytes);
}

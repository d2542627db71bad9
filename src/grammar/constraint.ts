/**
 * Constrained decoding: before each sampled token the engine asks a TokenConstraint which tokens may come next
 * and the sampler on the GPU chooses among those alone; the chosen token then advances the constraint. Here:
 * JSON, any or of a JSON Schema, by XGrammar's matcher over this model's vocabulary.
 */
import type { CompiledGrammar, GrammarCompiler } from '@mlc-ai/web-xgrammar';
import { EmberError } from '../errors.ts';
import { BYTE_TO_CHAR } from '../tokenizer/byte_level.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { loadXGrammar, type XGrammarApi } from './xgrammar.ts';

/** What the engine needs of a constraint (GenerateOptions.constraint). */
export interface TokenConstraint {
  /** The tokens allowed next, a bit each: bit (id % 32) of word (id / 32); rows past the words are not allowed. */
  allowed(): Promise<Uint32Array>;
  /** The token chosen next (one of the allowed ones). */
  accept(id: number): void;
}

/**
 * Structured output: any JSON object, JSON that a JSON Schema accepts, or an XGrammar structural tag (free text with
 * tool calls held to their schemas). `markers`: control tokens the grammar reads as their text (a tool-call format's
 * `[TOOL_CALLS]`), which would otherwise have no bytes and never be allowed.
 */
export type OutputFormat =
  | { type: 'json' }
  | { type: 'json_schema'; schema: Readonly<Record<string, unknown>> }
  | { type: 'structural_tag'; format: Readonly<Record<string, unknown>>; markers?: readonly string[] };

/**
 * The vocabulary as XGrammar reads a byte-level one: every token's bytes, each byte as its byte-level character, so
 * any tokenizer's tokens (SentencePiece pieces, byte tokens, pieces of a UTF-8 character) are exact. Control tokens
 * have no bytes: XGrammar never allows them, but the stop tokens, which end a finished value.
 */
function byteLevelVocab(tokenizer: Tokenizer, markers: ReadonlySet<string>): string[] {
  const utf8 = new TextEncoder();
  const vocab: string[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    let bytes = tokenizer.tokenBytes(id);
    if (bytes.length === 0 && markers.size > 0) {
      const text = tokenizer.decode([id], { skipSpecial: false });
      if (markers.has(text)) bytes = utf8.encode(text);
    }
    let s = '';
    for (const b of bytes) s += BYTE_TO_CHAR[b];
    vocab.push(s);
  }
  return vocab;
}

/** One compiler per tokenizer, logits size and markers: building its vocabulary's tables is the costly part. */
const compilers = new WeakMap<Tokenizer, Map<string, Promise<GrammarCompiler>>>();

function compilerFor(tokenizer: Tokenizer, rows: number, markers: readonly string[] = []): Promise<GrammarCompiler> {
  let bySize = compilers.get(tokenizer);
  if (!bySize) compilers.set(tokenizer, (bySize = new Map()));
  const key = [rows, ...markers].join('\0');
  let c = bySize.get(key);
  if (!c) {
    c = (async () => {
      const xg = await loadXGrammar();
      const stops: number[] = [];
      for (let id = 0; id < tokenizer.vocabSize; id++) if (tokenizer.isEndOfGeneration(id)) stops.push(id);
      const vocab = byteLevelVocab(tokenizer, new Set(markers));
      const info = await xg.TokenizerInfo.createTokenizerInfo(vocab, 'byte_level', false, rows, stops);
      return xg.GrammarCompiler.createGrammarCompiler(info, true);
    })();
    c.catch(() => bySize!.delete(key));
    bySize.set(key, c);
  }
  return c;
}

/**
 * JSON on one line, a space after ':' and ',' (Python's json.dumps): a grammar that lets the model choose its
 * whitespace lets a small model fill its reply with newlines (stories260K wrote 40 of them inside one object).
 * 'json' is any object (OpenAI's json_object), properties as the model likes; a schema's object has only the
 * properties it names (strict).
 */
/** A structural tag's JSON contents as compact JSON grammars (XGrammar's own json_schema content allows any whitespace). */
async function compactJson(xg: XGrammarApi, node: unknown): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((n) => compactJson(xg, n)));
  if (typeof node !== 'object' || node === null) return node;
  const o = node as Record<string, unknown>;
  if (o.type === 'json_schema') {
    const grammar = await xg.Grammar.fromJSONSchema(JSON.stringify(o.json_schema), false, -1, [', ', ': '], true);
    try {
      return { type: 'grammar', grammar: grammar.toString() };
    } finally {
      grammar.dispose();
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = await compactJson(xg, v);
  return out;
}

async function compile(xg: XGrammarApi, compiler: GrammarCompiler, format: OutputFormat): Promise<CompiledGrammar> {
  if (format.type === 'structural_tag') {
    try {
      return await compiler.compileStructuralTag({ type: 'structural_tag', format: (await compactJson(xg, format.format)) as never });
    } catch (e) {
      throw new EmberError('BAD_ARGUMENT', `the tools' schemas do not compile to a grammar: ${(e as Error).message}`);
    }
  }
  const schema = format.type === 'json' ? { type: 'object' } : format.schema;
  try {
    return await compiler.compileJSONSchema(JSON.stringify(schema), false, -1, [', ', ': '], format.type !== 'json');
  } catch (e) {
    throw new EmberError('BAD_ARGUMENT', `the JSON Schema does not compile to a grammar: ${(e as Error).message}`);
  }
}

/**
 * A constraint for one generation over a model with `rows` logits (its vocabulary, padded). `dispose` frees its
 * matcher (wasm memory) once the generation has ended.
 */
export async function grammarConstraint(tokenizer: Tokenizer, rows: number, format: OutputFormat): Promise<TokenConstraint & { dispose(): void }> {
  const xg = await loadXGrammar();
  const markers = format.type === 'structural_tag' ? format.markers : undefined;
  const compiled = await compile(xg, await compilerFor(tokenizer, rows, markers), format);
  const matcher = await xg.GrammarMatcher.createGrammarMatcher(compiled);
  compiled.dispose();
  return {
    async allowed() {
      const words = await matcher.getNextTokenBitmask();
      return new Uint32Array(words.buffer, words.byteOffset, words.length);
    },
    accept(id) {
      if (!matcher.acceptToken(id)) throw new EmberError('BAD_ARGUMENT', `token ${id} does not continue the output's grammar`);
    },
    dispose: () => matcher.dispose(),
  };
}

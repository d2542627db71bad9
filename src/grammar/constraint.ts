/**
 * Constrained decoding: before each sampled token the engine asks a TokenConstraint which tokens may come next
 * and the sampler on the GPU chooses among those alone; the chosen token then advances the constraint. Here:
 * JSON, any or of a JSON Schema, by XGrammar's matcher over this model's vocabulary.
 */
import type { CompiledGrammar, GrammarCompiler } from '@mlc-ai/web-xgrammar';
import { EmberError } from '../errors.ts';
import { BYTE_TO_CHAR } from '../tokenizer/byte_level.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { loadXGrammar } from './xgrammar.ts';

/** What the engine needs of a constraint (GenerateOptions.constraint). */
export interface TokenConstraint {
  /** The tokens allowed next, a bit each: bit (id % 32) of word (id / 32); rows past the words are not allowed. */
  allowed(): Promise<Uint32Array>;
  /** The token chosen next (one of the allowed ones). */
  accept(id: number): void;
}

/** Structured output: any JSON object, or JSON that a JSON Schema accepts. */
export type OutputFormat = { type: 'json' } | { type: 'json_schema'; schema: Readonly<Record<string, unknown>> };

/**
 * The vocabulary as XGrammar reads a byte-level one: every token's bytes, each byte as its byte-level character, so
 * any tokenizer's tokens (SentencePiece pieces, byte tokens, pieces of a UTF-8 character) are exact. Control tokens
 * have no bytes: XGrammar never allows them, but the stop tokens, which end a finished value.
 */
function byteLevelVocab(tokenizer: Tokenizer): string[] {
  const vocab: string[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    let s = '';
    for (const b of tokenizer.tokenBytes(id)) s += BYTE_TO_CHAR[b];
    vocab.push(s);
  }
  return vocab;
}

/** One compiler per tokenizer and logits size: building its vocabulary's tables is the costly part. */
const compilers = new WeakMap<Tokenizer, Map<number, Promise<GrammarCompiler>>>();

function compilerFor(tokenizer: Tokenizer, rows: number): Promise<GrammarCompiler> {
  let bySize = compilers.get(tokenizer);
  if (!bySize) compilers.set(tokenizer, (bySize = new Map()));
  let c = bySize.get(rows);
  if (!c) {
    c = (async () => {
      const xg = await loadXGrammar();
      const stops: number[] = [];
      for (let id = 0; id < tokenizer.vocabSize; id++) if (tokenizer.isEndOfGeneration(id)) stops.push(id);
      const info = await xg.TokenizerInfo.createTokenizerInfo(byteLevelVocab(tokenizer), 'byte_level', false, rows, stops);
      return xg.GrammarCompiler.createGrammarCompiler(info, true);
    })();
    c.catch(() => bySize!.delete(rows));
    bySize.set(rows, c);
  }
  return c;
}

/**
 * JSON on one line, a space after ':' and ',' (Python's json.dumps): a grammar that lets the model choose its
 * whitespace lets a small model fill its reply with newlines (stories260K wrote 40 of them inside one object).
 * 'json' is any object (OpenAI's json_object), properties as the model likes; a schema's object has only the
 * properties it names (strict).
 */
async function compile(compiler: GrammarCompiler, format: OutputFormat): Promise<CompiledGrammar> {
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
  const compiled = await compile(await compilerFor(tokenizer, rows), format);
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

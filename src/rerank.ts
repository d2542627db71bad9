/**
 * Reranking by a decoder (Qwen3-Reranker's recipe, its model card's): each (query, document) pair is wrapped in a fixed
 * prompt asking whether the document meets the query, and scored by the probability of "yes" against "no" at the last
 * position, softmax([logit_no, logit_yes])[1]. The pass's sampler gives it: only the two tokens allowed (the `allowed`
 * mask), their log-probabilities under that mask come back with the pass. Or by a cross-encoder (a BERT reranker): the
 * pair as one input, its head's logit over [CLS] through a sigmoid. Here: the requests' checks, prompts and pairs; the
 * passes run in src/retrieval.ts, the decoder's sharing the prompt's prefix (instruction and query) between documents
 * through the KV cache.
 */
import { EmberError } from './errors.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import type { TokenLogprobs } from './kernels/sample.ts';
import type { ModelConfig } from './model/config.ts';
import { bad, boolOption, signalOption } from './options.ts';
import { progressOption } from './per_input.ts';
import { applyDense, embeddingOnly } from './embed.ts';
import type { DenseLayer } from './hf/sentence.ts';

export interface RerankOptions {
  /** What a relevant document is (default Qwen3-Reranker's: 'Given a web search query, retrieve relevant passages that answer the query'). */
  instruction?: string;
  signal?: AbortSignal;
  /** Called after each document is scored, or each pass of several (a cross-encoder's: engine.tuning.batchInputs): how many are done, of how many. */
  onProgress?: (done: number, total: number) => void;
  /**
   * A pair longer than the model takes is cut, as sentence-transformers' CrossEncoder cuts it (the longer of the query
   * and the document loses its last token, until the pair fits; a decoder's prompt: the document's end): default
   * false, such a pair is CONTEXT_OVERFLOW.
   */
  truncate?: boolean;
}

export interface RerankResult {
  /** One per document, in document order: the probability (0 to 1) that it meets the query. */
  scores: number[];
  /** Tokens of every pair's prompt together (the part shared through the KV cache included). */
  promptTokens: number;
}

export interface RerankRequest {
  seqs: number[][];
  /** The sampler's mask: only "yes" and "no" may be chosen. */
  allowed: Uint32Array;
  yes: number;
  signal: AbortSignal | undefined;
  onProgress: RerankOptions['onProgress'];
}

const PREFIX = '<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n';
const SUFFIX = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
const INSTRUCTION = 'Given a web search query, retrieve relevant passages that answer the query';

/** Checks the request and makes each pair's tokens: the prefix and suffix with their markers, the pair's text without. */
export function prepareRerank(query: unknown, documents: unknown, o: RerankOptions, target: { tokenizer: Tokenizer; nCtx: number; config: ModelConfig }): RerankRequest {
  embeddingOnly(target.config, 'rerank');
  // llama.cpp's reranker conversion scores with a classifier (cls.output) and may leave out the LM head this recipe reads
  if (target.config.pooling === 'rank') throw new EmberError('UNSUPPORTED', `${target.config.name} is llama.cpp's reranker conversion (pooling_type rank: a classifier head, which emberlm does not read); rerank reads the yes/no logits of the LM head: load the model's Hugging Face folder, or a GGUF converted as a causal LM`);
  checkRequest(query, documents, o);
  if (o.instruction !== undefined && typeof o.instruction !== 'string') bad('instruction', 'a string', o.instruction);
  const signal = signalOption(o.signal);
  const truncate = boolOption('truncate', o.truncate) ?? false;
  const tok = target.tokenizer;
  const [yes, no] = ['yes', 'no'].map((word) => oneToken(tok, word));
  const prefix = tok.encode(PREFIX, { parseSpecial: true });
  const suffix = tok.encode(SUFFIX, { parseSpecial: true });
  const seqs = (documents as string[]).map((doc, i) => {
    const pair = tok.encode(`<Instruct>: ${o.instruction ?? INSTRUCTION}\n<Query>: ${query}\n<Document>: ${doc}`);
    const room = target.nCtx - prefix.length - suffix.length;
    const ids = [...prefix, ...(truncate && pair.length > room ? pair.slice(0, Math.max(0, room)) : pair), ...suffix];
    if (ids.length > target.nCtx) {
      throw new EmberError('CONTEXT_OVERFLOW', `documents[${i}] makes a prompt of ${ids.length} tokens, past the context of ${target.nCtx}`, { document: i, tokens: ids.length, nCtx: target.nCtx });
    }
    return ids;
  });
  const allowed = new Uint32Array(Math.ceil((Math.max(yes, no) + 1) / 32));
  for (const id of [yes, no]) allowed[id >> 5] |= 1 << (id & 31);
  return { seqs, allowed, yes, signal, onProgress: progressOption(o.onProgress) };
}

/** A cross-encoder's request (a BERT reranker: LoadedModel.rankHead): each pair's tokens and where its document starts. */
export interface CrossEncodeRequest {
  seqs: number[][];
  /** Per pair: the position of the document's first token (token type 1 from there on: PassInput.segmentB); none with one type. */
  segmentB: (number | undefined)[];
  signal: AbortSignal | undefined;
  onProgress: RerankOptions['onProgress'];
}

/**
 * Checks the request and makes each pair's tokens as the tokenizer's pair template does (BERT's [CLS] query [SEP]
 * document [SEP], RoBERTa's <s> query </s></s> document </s>; without one: BOS, the query, its end tokens, the document,
 * its end tokens), each in one pass of at most `onePass` tokens. The document is of token type 1 where the model has
 * two types (BERT's); RoBERTa's one type serves both.
 */
export function prepareCrossEncode(query: unknown, documents: unknown, o: RerankOptions, target: { tokenizer: Tokenizer; nCtx: number; onePass: number; config: ModelConfig }): CrossEncodeRequest {
  checkRequest(query, documents, o);
  if (o.instruction !== undefined) bad('instruction', `left out: ${target.config.name} is a cross-encoder, which takes the query and the document alone`, o.instruction);
  const truncate = boolOption('truncate', o.truncate) ?? false;
  const tok = target.tokenizer;
  const wrap = tok.pairWrap ?? { before: tok.addBos && tok.bosId !== null ? [tok.bosId] : [], between: tok.endIds, after: tok.endIds };
  const specials = wrap.before.length + wrap.between.length + wrap.after.length;
  const q = tok.encode(query, { addBos: false });
  const most = Math.min(target.nCtx, target.onePass);
  const pairs = (documents as string[]).map((doc, i) => {
    const [a, b] = cutLongestFirst(q, tok.encode(doc, { addBos: false }), truncate ? most - specials : Infinity);
    const ids = [...wrap.before, ...a, ...wrap.between, ...b, ...wrap.after];
    if (ids.length > most) {
      throw new EmberError('CONTEXT_OVERFLOW', `documents[${i}] makes a pair of ${ids.length} tokens with the query, past the ${most} this model takes in one pass`, { document: i, tokens: ids.length, nCtx: most });
    }
    return { ids, segmentB: target.config.tokenTypes < 2 ? undefined : wrap.before.length + a.length + wrap.between.length };
  });
  return { seqs: pairs.map((p) => p.ids), segmentB: pairs.map((p) => p.segmentB), signal: signalOption(o.signal), onProgress: progressOption(o.onProgress) };
}

/**
 * The two sequences cut to `room` tokens together, the longer one losing its last token first (the first where they are
 * equal): the tokenizers library's longest_first, which leaves the shorter whole where it can and splits `room` in
 * halves, the second's the larger, where both are long.
 */
function cutLongestFirst(a: number[], b: number[], room: number): [number[], number[]] {
  let [na, nb] = [a.length, b.length];
  while (na + nb > room && na + nb > 0) {
    if (na >= nb) na--;
    else nb--;
  }
  return [a.slice(0, na), b.slice(0, nb)];
}

/**
 * A cross-encoder's score of a pair from its pooled row (the [CLS] row, or a ModernBERT head's mean of the rows): the
 * sigmoid of the head's logit (sentence-transformers' CrossEncoder's, one label).
 */
export function crossEncoderScore(pooled: Float32Array, head: readonly DenseLayer[]): number {
  const [logit] = applyDense(pooled, head);
  if (!Number.isFinite(logit)) throw new EmberError('BAD_MODEL', 'the cross-encoder\'s logit is not finite (NaN or infinity): its weights hold NaN or infinity, or its activations overflow');
  return 1 / (1 + Math.exp(-logit));
}

/** The checks every rerank request passes: its options an object, a string query, a non-empty list of string documents. */
function checkRequest(query: unknown, documents: unknown, o: RerankOptions): asserts query is string {
  if (typeof o !== 'object' || o === null) bad('the rerank options', 'an object', o);
  if (typeof query !== 'string') bad('the query', 'a string', query);
  if (!Array.isArray(documents) || documents.length === 0 || !documents.every((d) => typeof d === 'string')) bad('the documents', 'a non-empty array of strings', documents);
}

/** The id of `word` as one token of the vocabulary, or UNSUPPORTED: this tokenizer is not a reranker's. */
function oneToken(tok: Tokenizer, word: string): number {
  const ids = tok.encode(word);
  if (ids.length !== 1) throw new EmberError('UNSUPPORTED', `reranking scores the tokens "yes" and "no", but this tokenizer spells "${word}" with ${ids.length} tokens (a Qwen3-Reranker's has one each)`, { word });
  return ids[0];
}

/** The pair's score from the pass's log-probabilities under the yes/no mask: P(yes). */
export function yesProbability(lp: TokenLogprobs, yes: number): number {
  const hit = lp.top.find((t) => t.id === yes);
  if (!hit) return 0; // "no" alone was left (yes's logit at -inf)
  if (!Number.isFinite(hit.logprob) && hit.logprob !== -Infinity) throw new EmberError('BAD_MODEL', 'the model\'s logits for "yes" and "no" are not finite (NaN): its weights hold NaN or infinity, or its activations overflow');
  return Math.exp(hit.logprob);
}

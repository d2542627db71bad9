/**
 * Engine's embed and rerank: each input takes its turn on the KV cache (src/per_input.ts) and runs through the model's
 * prefill passes; what its last pass reads back becomes an embedding (src/embed.ts) or a score (src/rerank.ts).
 */
import { EmberError } from './errors.ts';
import { samplerOf, type Model } from './model/model.ts';
import type { PrefillPasses } from './prefill.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import type { DenseLayer } from './hf/sentence.ts';
import { embedTarget, meanOf, pool, prepareEmbed, type EmbedOptions, type EmbedRecipe, type EmbeddingResult } from './embed.ts';
import { crossEncoderScore, prepareCrossEncode, prepareRerank, yesProbability, type RerankOptions, type RerankResult } from './rerank.ts';
import { fitting, runInputs, tokenCount, type InputTurns } from './per_input.ts';
import { MAX_PASS_INPUTS } from './model/pass_inputs.ts';
import { writeAllowed } from './kernels/sample.ts';
import { GREEDY } from './sampling.ts';

/** What embed and rerank run on: the engine's model and the turns its requests take. */
export interface Retrieval {
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  readonly turns: InputTurns;
  readonly passes: PrefillPasses;
  /** How embed pools (src/embed.ts), or why it cannot. */
  readonly recipe: EmbedRecipe | EmberError;
  /** A cross-encoder's head, which rerank scores by, or null (a decoder's yes/no recipe). */
  readonly rankHead: readonly DenseLayer[] | null;
}

export async function embedInputs(e: Retrieval, input: unknown, opts: EmbedOptions): Promise<EmbeddingResult> {
  if (e.recipe instanceof EmberError) throw e.recipe;
  const r = prepareEmbed(input, opts, embedTarget(e.model, e.tokenizer, e.recipe));
  const run = async (batch: number[][], stop: () => boolean, from: number) => {
    if (batch.length > 1) return (await batchRows(e, batch, [], stop))?.map((rows, i) => pool(rows, e.model.config.nEmbd, r, r.skipRows[from + i])) ?? null;
    const { step } = await e.passes.advance(e.model, batch[0], { ...GREEDY, head: 'hidden' }, 0, !r.onePass, stop, false, r.onePass);
    await step?.wait();
    return step && [pool(await step.hidden!(), e.model.config.nEmbd, r, r.skipRows[from])];
  };
  const embeddings = await runInputs(e.turns, 'the embedding', r.seqs, r, run, batchSize(e, r.seqs));
  return { embeddings, promptTokens: tokenCount(r.seqs) };
}

export async function rerankPairs(e: Retrieval, query: unknown, documents: unknown, opts: RerankOptions): Promise<RerankResult> {
  if (e.rankHead) return crossEncode(e, e.rankHead, query, documents, opts);
  const m = e.model;
  const r = prepareRerank(query, documents, opts, { tokenizer: e.tokenizer, nCtx: m.nCtx, config: m.config });
  const scores = await runInputs(e.turns, 'the reranking', r.seqs, r, async ([seq], stop) => {
    writeAllowed(m.gpu, samplerOf(m), r.allowed);
    const { step } = await e.passes.advance(m, seq, { ...GREEDY, masked: true, logprobs: 3 }, 0, true, stop, false);
    await step?.wait();
    return step && [yesProbability(await step.logprobs!(), r.yes)];
  });
  return { scores, promptTokens: tokenCount(r.seqs) };
}

/** A cross-encoder's rerank: pairs side by side in a pass (one or several; a pair's document of token type 1), each one's [CLS] row (or rows' mean) through the head. */
async function crossEncode(e: Retrieval, head: readonly DenseLayer[], query: unknown, documents: unknown, opts: RerankOptions): Promise<RerankResult> {
  const m = e.model;
  const r = prepareCrossEncode(query, documents, opts, { tokenizer: e.tokenizer, nCtx: m.nCtx, onePass: m.maxBatch, config: m.config });
  const run = async (batch: number[][], stop: () => boolean, from: number) =>
    (await batchRows(e, batch, r.segmentB.slice(from), stop))?.map((rows) => crossEncoderScore(pooledPair(m, rows), head)) ?? null;
  const scores = await runInputs(e.turns, 'the reranking', r.seqs, r, run, batchSize(e, r.seqs));
  return { scores, promptTokens: tokenCount(r.seqs) };
}

/** A pair's rows as its head reads them: the [CLS] row as read back, or the mean of every row (ModelConfig.classifierPooling). */
const pooledPair = (m: Model, rows: Float32Array) => (m.embedRows === 'all' ? meanOf(rows, rows.length / m.config.nEmbd, m.config.nEmbd) : rows);

/**
 * Where the model runs several inputs a pass (Model.batched), how many from `from` on go in one: as many as fit the
 * tokens a tuned prefill pass takes (so a Stop still waits for about one pass), asked as each batch begins.
 */
const batchSize = (e: Retrieval, seqs: readonly number[][]) =>
  (e.model.batched ? (from: number) => fitting(seqs, from, e.passes.batchTokens(e.model), MAX_PASS_INPUTS) : undefined);

/**
 * Runs `batch` in one pass, its inputs side by side (the second segment of input i from segmentB[i] on): each one's rows
 * to pool (every row where the model pools all, else its one row: the first or the last).
 */
async function batchRows(e: Retrieval, batch: number[][], segmentB: readonly (number | undefined)[], stop: () => boolean): Promise<Float32Array[] | null> {
  const inputs = batch.map((seq, i) => ({ length: seq.length, segmentB: segmentB[i] }));
  const { step } = await e.passes.advance(e.model, batch.flat(), { ...GREEDY, head: 'hidden', inputs }, 0, false, stop, false, true);
  await step?.wait();
  if (!step) return null;
  const rows = await step.hidden!();
  const width = e.model.config.nEmbd;
  let start = 0;
  return batch.map((seq) => rows.subarray(width * start, width * (start += e.model.embedRows === 'all' ? seq.length : 1)));
}

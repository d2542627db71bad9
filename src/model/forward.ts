import { EmberError } from '../errors.ts';
import { readBuffer, writeBuffer } from '../gpu/buffers.ts';
import { STEP, STEP_DEFAULTS, encodeDispatches, type Dispatch, type StepValues } from '../kernels/dispatch.ts';
import { decodeLogprobs, LOGPROBS_WORDS, NONFINITE_LOGITS, resetSampler as resetSamplerState, type Sampler, type TokenLogprobs } from '../kernels/sample.ts';
import type { ResolvedSampling } from '../sampling.ts';
import type { Model } from './model.ts';
import { READBACK_LOGPROBS_AT } from './readback_ring.ts';
import { scoresBiased } from './relative_bias.ts';
import { MAX_PASS_INPUTS, packInputs, type PassInput } from './pass_inputs.ts';

/**
 * A loaded Model's forward passes: each writes the Step uniforms and the token ids, encodes the dispatch lists made at
 * load (src/model/model.ts) and submits once; the sampled id is its one readback.
 */

/**
 * Profiling hook: when given, each dispatch runs in its own compute pass with the timestamp writes
 * the timer returns (the benchmark's per-kernel GPU time); otherwise one pass holds them all.
 */
export interface PassTimer {
  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined;
}

/** What a pass runs after the layers: final norm, LM head and sampler (true), nothing (false), or the final norm alone ('hidden'). */
export type Head = boolean | 'hidden';

/**
 * Records the layers for n tokens, then what `head` says, into `enc`. `chained`: one token, the one the previous pass
 * sampled (read from `result` on the GPU). True when the pass is a pipeline's first dispatch (encodeDispatches).
 */
export function encodeForward(
  m: Model, enc: GPUCommandEncoder, n: number, timer?: PassTimer, chained = false, head: Head = true, logprobs = false, batched = false,
): boolean {
  // (a model that never decodes runs a pass of one token by the prefill's lists: it has no others)
  const layers = batched ? m.batched!.prefill : chained ? m.chained : n === 1 && m.decode.length > 0 ? m.decode : m.prefill;
  const tail = batched ? [m.batched!.finalNorm] : head === 'hidden' ? [m.finalNorm] : head ? [m.head, ...(logprobs ? [[samplerOf(m).logprobs]] : [])] : [];
  const tailTokens = batched || (head === 'hidden' && m.embedRows !== 'last') ? n : 1; // the head's dispatches take one token, a rows norm all
  const lists: (readonly [readonly Dispatch[], number])[] = [[layers, n], ...tail.map((list) => [list, tailTokens] as const)];
  let first = false;
  if (!timer) {
    const pass = enc.beginComputePass({ timestampWrites: m.timing.stepWrites?.() });
    for (const [list, tokens] of lists) first = encodeDispatches(pass, list, tokens) || first;
    pass.end();
    return first;
  }
  for (const [list, tokens] of lists) {
    for (const d of list) {
      const pass = enc.beginComputePass({ label: d.label, timestampWrites: timer.timestampWrites(d.label) });
      first = encodeDispatches(pass, [d], tokens) || first;
      pass.end();
    }
  }
  return first;
}

/**
 * Sampling settings of a forward pass (see src/sampling.ts; what is left out is off). `record`: the chosen id
 * is a generated token, counted for the penalties (default true; false for a prefill pass whose sample is
 * thrown away). `head: false`: a prefill pass before the last one, which only fills the KV cache: no final
 * norm, LM head or sampler (the LM head alone reads 20-40% of a small model's weights), and the id read back
 * means nothing. `head: 'hidden'`: the final norm alone (of the last token, or of every token: m.embedRows), into `buffers.hidden` (an embedding);
 * the id means nothing either.
 */
export type Sampling = Pick<ResolvedSampling, 'temperature' | 'topK' | 'topP'> &
  Partial<Omit<ResolvedSampling, 'seed'>> & { record?: boolean; head?: Head; masked?: boolean; logprobs?: number; inputs?: readonly PassInput[] };

/**
 * Starts a request: token counts cleared, the prompt's ids marked as seen, the logit bias written; a request
 * resumed after another used the sampler passes the tokens it generated so far, counted again.
 */
export function resetSampler(
  m: Model, promptIds: readonly number[], s: Pick<ResolvedSampling, 'logitBias'>, generated: readonly number[] = [],
): void {
  resetSamplerState(m.gpu, samplerOf(m), promptIds, s, generated);
}

/** The model's sampler: a model that never decodes (it attends both ways, an embedding model) has none. */
export function samplerOf(m: Model): Sampler {
  if (!m.sampler) throw new EmberError('UNSUPPORTED', `${m.config.name} attends both ways, as an embedding model: it embeds and does not sample tokens`);
  return m.sampler;
}

/** A forward pass submitted to the GPU. */
export interface PendingStep {
  /** The id it sampled, once read back (its only readback). */
  wait(): Promise<number>;
  /** Where the pass reported logprobs (Sampling.logprobs): the sampled token's, read back with its id. */
  logprobs?(): Promise<TokenLogprobs>;
  /** A pass with `head: 'hidden'`: the final norm's output at the rows m.embedRows names (rows of n_embd), read back after its id. */
  hidden?(): Promise<Float32Array>;
  /** The pass dispatches a pipeline for the first time (a CPU adapter compiles it then): its time says nothing of the next pass's. */
  compiles?: boolean;
}

/**
 * The forward pass: runs `tokens` (at most maxBatch) at positions pos.. through every layer, writing
 * their K and V into the cache, then norm + LM head + sampler on the last token. Resolves to the
 * sampled token id (the only readback). `m.kv.ids` follows: positions from pos on are forgotten
 * before the pass and hold `tokens` once it has run (when the cache held every position before pos).
 */
export async function forward(m: Model, tokens: ArrayLike<number>, pos: number, s: Sampling, uniformRand: number, timer?: PassTimer): Promise<number> {
  return (await submitForward(m, tokens, pos, s, uniformRand, timer)).wait();
}

/**
 * `forward` without waiting for the GPU: resolves once the pass is submitted (one queue.submit), so
 * the next can be encoded while it runs. `tokens` null: one token at `pos`, the one the previous pass
 * sampled, read by the embedding gather from `result` (a pipelined decode step); `m.kv.ids` is then
 * left to the caller, who learns that token only when the previous pass is read back.
 */
export async function submitForward(
  m: Model, tokens: ArrayLike<number> | null, pos: number, s: Sampling, uniformRand: number, timer?: PassTimer,
): Promise<PendingStep> {
  const n = tokens?.length ?? 1;
  if (n < 1 || n > m.maxBatch) throw new EmberError('BAD_ARGUMENT', `forward takes 1 to ${m.maxBatch} tokens, got ${n}`);
  if (pos + n > m.nCtx) throw new EmberError('CONTEXT_OVERFLOW', `positions ${pos}..${pos + n - 1} run past the context of ${m.nCtx} tokens`, { pos, n, nCtx: m.nCtx });
  for (let i = 0; tokens && i < n; i++) {
    const t = tokens[i];
    if (!(Number.isInteger(t) && t >= 0 && t < m.config.vocab)) {
      throw new EmberError('BAD_ARGUMENT', `token id ${t} is outside the vocabulary (integers 0..${m.config.vocab - 1})`);
    }
  }
  const batched = s.inputs !== undefined; // several inputs: the batched lists, each input's rows read back
  // (BERT's embeddings norm and a relative position bias's attention read each token's input from `inputs` in every pass:
  // one input, the whole pass)
  const inputs = s.inputs ?? (m.config.postLayerNorms || scoresBiased(m.config) ? [{ length: n }] : null);
  if (inputs) checkInputs(m, n, pos, s, inputs);
  const slot = await m.readback.take(); // from here to the submit nothing awaits: Step writes and submit stay in order
  const { gpu, buffers: b } = m;
  const cached = m.kv.ids;
  if (tokens) cached.length = Math.min(cached.length, pos); // rewritten from pos on (or lost, if this pass fails)
  m.kv.rings.wrote(pos, n);
  const base: StepValues = {
    ...STEP_DEFAULTS,
    n_tokens: n,
    pos,
    temperature: s.temperature,
    top_k: s.topK,
    top_p: s.topP,
    min_p: s.minP ?? 0,
    repetition_penalty: s.repetitionPenalty ?? 1,
    presence_penalty: s.presencePenalty ?? 0,
    frequency_penalty: s.frequencyPenalty ?? 0,
    n_bias: s.logitBias?.ids.length ?? 0, // the entries resetSampler wrote
    record: s.record === false ? 0 : 1,
    uniform_rand: uniformRand,
    masked: s.masked ? 1 : 0, // the sampler's `allowed` bits, written for this step (writeAllowed)
    logprobs: s.logprobs ?? 0,
  };
  const sampled = s.head === undefined || s.head === true; // the pass runs the LM head and the sampler
  if (sampled) samplerOf(m);
  const logprobs = (s.logprobs ?? 0) > 0 && sampled;
  // What the pass copies after its id into the readback buffer: the sampler's logprobs, or the rows of a pass that embeds.
  const copies = s.head === 'hidden' ? hiddenRows(m, n, s.inputs) : logprobs ? [{ from: samplerOf(m).lp, at: 0, words: LOGPROBS_WORDS }] : [];
  const extraWords = copies.reduce((w, c) => w + c.words, 0);
  if (tokens) writeBuffer(gpu, b.ids, new Uint32Array(Array.from(tokens)));
  // Queue writes land after the passes submitted before them: a pass in flight keeps its own values.
  writeBuffer(gpu, b.step, STEP.pack(base));
  writeBuffer(gpu, b.stepHead, STEP.pack({ ...base, n_tokens: 1 }));
  if (inputs) writeBuffer(gpu, m.batched!.inputs, packInputs(inputs));
  const enc = gpu.device.createCommandEncoder({ label: 'forward' });
  const compiles = encodeForward(m, enc, n, timer, tokens === null, s.head ?? true, logprobs, batched);
  enc.copyBufferToBuffer(b.result, 0, m.readback.buffers[slot], 0, 4);
  let at = READBACK_LOGPROBS_AT;
  for (const c of copies) {
    enc.copyBufferToBuffer(c.from, c.at * 4, m.readback.buffers[slot], at * 4, c.words * 4);
    at += c.words;
  }
  gpu.device.queue.submit([enc.finish()]);
  const words = m.readback.readWords(slot, n, extraWords ? READBACK_LOGPROBS_AT + extraWords : 1, compiles);
  const id = words.then((w) => w[0]);
  const fed = tokens && !batched ? Array.from(tokens) : []; // (the K/V of a batched pass are no prefix of anything)
  const ran = id.then((v) => {
    if (v === NONFINITE_LOGITS && sampled) {
      throw new EmberError('BAD_MODEL', `the model's logits at position ${pos + n - 1} are not finite (NaN or infinity): its weights hold NaN or infinity, or its activations overflow`, { pos: pos + n - 1 });
    }
    if (cached.length === pos) cached.push(...fed); // only when the cache held every position before pos
    return v;
  });
  void ran.catch(() => {}); // a discarded step's failure is nobody's to see
  const wait = () => m.readback.wait(ran);
  if (!extraWords) return { wait, compiles };
  const after = ran.then(() => words).then((w) => w.subarray(READBACK_LOGPROBS_AT)); // the words after the id
  void after.catch(() => {});
  if (s.head === 'hidden') return { wait, compiles, hidden: () => after.then((w) => new Float32Array(w.buffer, w.byteOffset, w.length)) };
  return { wait, compiles, logprobs: () => after.then(decodeLogprobs) };
}

/** A pass of inputs (several, or an encoder's one): an embedding's (head 'hidden') from position 0, of a model that runs them, its tokens theirs. */
function checkInputs(m: Model, n: number, pos: number, s: Sampling, inputs: readonly PassInput[]): void {
  if (!m.batched) throw new EmberError('UNSUPPORTED', `${m.config.name} runs one input a pass: it has recurrent layers`);
  const tokens = inputs.reduce((t, x) => t + x.length, 0);
  if (s.head !== 'hidden' || pos !== 0 || tokens !== n || inputs.length > MAX_PASS_INPUTS) {
    const got = `head ${String(s.head)}, position ${pos}, ${n} tokens, ${inputs.length} inputs`;
    throw new EmberError('BAD_ARGUMENT', `a pass of several inputs embeds from position 0, its inputs' ${tokens} tokens, at most ${MAX_PASS_INPUTS} inputs (got ${got})`);
  }
}

/**
 * The rows a pass that embeds reads back: of one input, those m.embedRows names (every row, or the final norm's one row);
 * of several, every row where all are pooled, else each input's first or last.
 */
function hiddenRows(m: Model, n: number, inputs?: readonly PassInput[]): { from: GPUBuffer; at: number; words: number }[] {
  const width = m.config.nEmbd;
  if (!inputs) return [{ from: m.buffers.hidden, at: 0, words: width * (m.embedRows === 'all' ? n : 1) }];
  const from = m.batched!.hidden;
  if (m.embedRows === 'all') return [{ from, at: 0, words: width * n }];
  let start = 0;
  return inputs.map(({ length }) => {
    const row = m.embedRows === 'first' ? start : start + length - 1;
    start += length;
    return { from, at: row * width, words: width };
  });
}

/** The logits of the last token of the latest forward pass, after logit_bias and penalties (tests, quality measurements). */
export async function readLogits(m: Model): Promise<Float32Array> {
  return new Float32Array(await readBuffer(m.gpu, m.buffers.logits, m.config.vocab * 4));
}

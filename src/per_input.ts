/**
 * Requests that run input by input (embed's inputs, rerank's documents): each input takes its own turn on the engine, so
 * a generation in line goes between two, as between two of a generation's steps.
 */
import { EmberError } from './errors.ts';
import { checkLost, type Gpu } from './gpu/device.ts';
import { requestFailure } from './device_loss.ts';
import type { Scheduler } from './scheduler.ts';
import { bad } from './options.ts';

/** A per-input request's own options: its abort signal, and a call after each input (done, of total). */
export interface InputOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** `onProgress` checked: a function or nothing. */
export function progressOption(v: unknown): InputOptions['onProgress'] {
  if (v !== undefined && typeof v !== 'function') bad('onProgress', 'a function (done, total) => void', v);
  return v as InputOptions['onProgress'];
}

/** What the loop needs of the engine. */
export interface InputTurns {
  readonly scheduler: Scheduler;
  /** The engine's current device (a recovery replaces it). */
  gpu(): Gpu;
  disposed(): boolean;
}

/**
 * Runs `run` on each batch of sequences in its own turn: the batch from sequence `from` is `batchSize(from)` of them
 * (default one; asked as each begins, so it may follow the passes measured so far), and `run` gives a result for each,
 * or null where `stop` ended its passes. An abort or a dispose before or between batches is ABORTED with
 * `details.done`; a lost device or another failure says what was done.
 */
export async function runInputs<T>(
  e: InputTurns, doing: string, seqs: readonly number[][], o: InputOptions,
  run: (batch: number[][], stop: () => boolean, from: number) => Promise<T[] | null>,
  batchSize: (from: number) => number = () => 1,
): Promise<T[]> {
  const { signal, onProgress } = o;
  const me = { contended: () => {} };
  const leave = () => e.scheduler.cancel(me);
  signal?.addEventListener('abort', leave);
  const out: T[] = [];
  const stop = () => !!signal?.aborted || e.disposed();
  const stopped = () => new EmberError('ABORTED', `${doing} was aborted after ${out.length} of ${seqs.length} inputs`, { done: out.length });
  try {
    while (out.length < seqs.length) {
      if (stop() || !(await e.scheduler.acquire(me)) || stop()) throw stopped();
      try {
        checkLost(e.gpu());
        const from = out.length;
        const v = await run(seqs.slice(from, from + batchSize(from)), stop, from);
        if (v === null) throw stopped();
        out.push(...v);
        onProgress?.(out.length, seqs.length);
      } finally {
        e.scheduler.release(me);
      }
    }
  } catch (err) {
    throw await requestFailure(err, e.gpu(), e.disposed(), { doing, after: `after ${out.length} of ${seqs.length} inputs`, details: { done: out.length } });
  } finally {
    signal?.removeEventListener('abort', leave);
  }
  return out;
}

/** How many sequences from `from` on hold at most `cap` tokens together, `most` at most: at least one (a longer one alone). */
export function fitting(seqs: readonly number[][], from: number, cap: number, most = Infinity): number {
  let n = 1;
  let tokens = seqs[from].length;
  while (n < most && from + n < seqs.length && tokens + seqs[from + n].length <= cap) tokens += seqs[from + n++].length;
  return n;
}

/** The tokens of every sequence together (a result's promptTokens). */
export const tokenCount = (seqs: readonly number[][]) => seqs.reduce((n, s) => n + s.length, 0);

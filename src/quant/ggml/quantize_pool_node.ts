/**
 * ggml's reference quantizers (ggmlQuantize) on worker threads, for Node: a tensor's blocks are independent, so its
 * values go out in pieces of whole blocks, one per idle worker, and the pieces' bytes come back in order: the bytes of
 * one ggmlQuantize call. The K-quants' scale search takes 200-400 ns a weight on one core (a Llama-3.2-1B in Q4_K:
 * minutes); the workers divide that by the cores. The workers are kept for the next tensor and do not keep the
 * process alive. Installed by the Node host (src/node/host.ts); the browser quantizes on its one thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ggmlQuantize } from './index.ts';
import { GGML_TYPES } from './types.ts';

/** Values a piece at most: 16 MB of f32 in flight per worker. */
const PIECE_VALUES = 1 << 22;

/**
 * A worker on the bundle's ggml-worker.js in dist/, or under vitest/tsx on the source, which tsx's loader (registered
 * in the worker: a worker does not inherit the parent's `--import tsx`) compiles.
 */
function newWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./ggml-worker.js', import.meta.url));
  const source = JSON.stringify(new URL('./quantize_worker_node.ts', import.meta.url).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${source}); });`, { eval: true });
}

interface Job {
  type: string;
  values: Float32Array;
}

const idle: Worker[] = [];
let started = 0;
let fallbacks = 0;

function startWorker(): Worker {
  const w = newWorker();
  w.unref();
  started++;
  return w;
}

/** One piece on one worker; a worker that fails is dropped (its error rejects the piece). */
async function run(job: Job): Promise<Uint8Array> {
  const w = idle.pop() ?? startWorker();
  try {
    const out = await new Promise<Uint8Array>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      const onExit = (code: number) => reject(new Error(`the ggml worker exited (${code})`));
      w.once('error', onError);
      w.once('exit', onExit);
      w.once('message', (m: Uint8Array) => {
        w.off('error', onError);
        w.off('exit', onExit);
        resolve(m);
      });
      w.ref(); // alive while it works for us
      w.postMessage(job, [job.values.buffer as ArrayBuffer]);
    });
    w.unref();
    idle.push(w);
    return out;
  } catch (e) {
    started--;
    void w.terminate();
    throw e;
  }
}

export interface PoolOptions {
  /** Workers at most (default: one a core, up to 16; this thread only waits for them). */
  workers?: number;
  /** Values a piece at most, rounded down to whole blocks (default 4M; tests pass less to force pieces). */
  pieceValues?: number;
}

/**
 * ggmlQuantize(type, values) on worker threads: the same bytes. Pieces are copies (transferred to the workers), so
 * `values` is left as it is. A worker's failure falls back to ggmlQuantize on this thread for that piece.
 */
export async function ggmlQuantizeParallel(type: string, values: Float32Array, opts: PoolOptions = {}): Promise<Uint8Array> {
  const t = GGML_TYPES[type];
  if (!t || values.length % t.blockElems) return ggmlQuantize(type, values); // its own error for what it refuses
  const workers = opts.workers ?? Math.min(16, availableParallelism());
  const per = Math.max(t.blockElems, Math.floor((opts.pieceValues ?? PIECE_VALUES) / t.blockElems) * t.blockElems);
  const out = new Uint8Array((values.length / t.blockElems) * t.blockBytes);
  let next = 0;
  const lane = async () => {
    while (next < values.length) {
      const start = next;
      const end = (next = Math.min(values.length, start + per)); // `next` moves on with the other lanes
      const bytes = await run({ type, values: values.slice(start, end) }).catch(() => {
        fallbacks++;
        return ggmlQuantize(type, values.subarray(start, end));
      });
      out.set(bytes, (start / t.blockElems) * t.blockBytes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, Math.ceil(values.length / per)) }, lane));
  return out;
}

/** Workers started and not ended, and pieces quantized here after a worker failed (tests). */
export const poolStats = () => ({ workers: started, fallbacks });

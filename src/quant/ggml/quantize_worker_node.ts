/** A worker thread of ggmlQuantizeParallel (quantize_pool_node.ts): each message a piece of whole blocks, answered with its bytes. */
import { parentPort } from 'node:worker_threads';
import { ggmlQuantize } from './index.ts';

parentPort!.on('message', ({ type, values }: { type: string; values: Float32Array }) => {
  const bytes = ggmlQuantize(type, values);
  parentPort!.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
});

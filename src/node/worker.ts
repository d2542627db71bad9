/** emberlm/worker in Node (a worker_threads Worker): the browser's worker entry with the Node host installed. */
import './host.ts';

export * from '../worker/index.ts';

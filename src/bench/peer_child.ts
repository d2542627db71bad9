/**
 * The bench's peer process (forked by peer.ts): takes one PeerJob over IPC, runs it with runLlamaCpp and
 * sends back each PeerEvent, then `{ done: true }`, and exits. llama.cpp runs here rather than in the bench's
 * process so that a phase that does not finish (the first Vulkan run on lavapipe compiles llama.cpp's shaders
 * on the CPU for minutes) can be ended by killing this process, and so that it shares nothing with our WebGPU
 * device or Dawn's polling. Run with argv[2] = a module specifier in place of node-llama-cpp (for tests).
 */
import { runLlamaCpp, type PeerEvent, type PeerJob } from './peer_llama.ts';

const proc = process as NodeJS.Process & { send: NonNullable<NodeJS.Process['send']> };
const send = (m: PeerEvent | { done: true }) => proc.send(m);

process.once('message', (job: PeerJob) => {
  runLlamaCpp(job, send, process.argv[2])
    .catch((e: Error) => send({ error: `llama.cpp ${job.backend}: ${e.message.split('\n')[0]}` }))
    // Exits once the last message is out: node-llama-cpp's handles could keep the process alive otherwise.
    .finally(() => proc.send({ done: true }, undefined, {}, () => process.exit(0)));
});

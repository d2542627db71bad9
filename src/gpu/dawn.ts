import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { EmberError } from '../errors.ts';

// Dawn's Node instance must stay referenced: if it is garbage-collected, pending waits never resolve.
let nodeInstance: GPU | null = null;

/** Dawn's poll: an anonymous native function (a bound function is native too, but named "bound ..."). */
export function isDawnPoll(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === '' && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(fn));
}

/**
 * Dawn's Node binding polls its events while any map or work-done promise is pending by calling the global
 * setImmediate again from each poll: a busy loop on the JS thread. On a CPU adapter (lavapipe) that loop takes
 * a core from the adapter's own threads; a GEMV ran at 395 us with a map pending against 246 us with this
 * (576x3072 Q8_0, same process). Dawn's polls, native functions, go through a 1 ms timer instead. Others'
 * setImmediate calls are untouched.
 */
export function pollDawnByTimer(): void {
  const g = globalThis as { setImmediate: (fn: (...a: unknown[]) => void, ...args: unknown[]) => unknown; emberlmPolls?: true };
  if (g.emberlmPolls) return;
  g.emberlmPolls = true;
  const immediate = g.setImmediate;
  g.setImmediate = (fn, ...args) => (isDawnPoll(fn) ? setTimeout(fn, 1, ...args) : immediate(fn, ...args));
}

/**
 * lavapipe's thread count where the user has not set one: Mesa's LP_NUM_THREADS, read when Dawn creates its Vulkan
 * instance. lavapipe hands every dispatch to a pool of that many threads (default: one per CPU) and waits for them all.
 * On a 2-vCPU VM that wait costs ~13 us per thread per dispatch (bench/small_kernels.ts: an empty dispatch 27 us
 * with 2 threads, 12.5 with 1, 55 with 4; 0.3 with 0, which runs each kernel on the submitting thread), and a decode
 * step is ~245 dispatches. SmolLM2-135M Q8_0, the engine with 0 and 2 threads in turns in one process
 * (bench/lp_threads.ts): decode 29-31 against 20-25 tok/s, prefill 46-65 against 64-92 (its GEMMs use both cores).
 * Measured only on 2 CPUs, so only there: 0, decode first; elsewhere Mesa's default.
 */
export function lavapipeThreads(userValue: string | undefined, cpus: number): string | undefined {
  if (userValue !== undefined) return undefined;
  return cpus <= 2 ? '0' : undefined;
}

/** LP_NUM_THREADS as emberlm set it ('0'), or undefined where the user's value (or Mesa's default) holds. */
export let lavapipeThreadsSet: string | undefined;
let lavapipeThreadsChosen = false;

/**
 * Puts lavapipeThreads' choice in the environment, once, on the main thread (the Node host does, as it is imported):
 * a worker thread's process.env is its own copy, which Mesa (reading the C environment) never sees, so a worker's
 * Dawn follows what the main thread set before starting it.
 */
export function setLavapipeThreads(): void {
  if (lavapipeThreadsChosen || !isMainThread) return;
  lavapipeThreadsChosen = true;
  lavapipeThreadsSet = lavapipeThreads(process.env.LP_NUM_THREADS, availableParallelism());
  if (lavapipeThreadsSet !== undefined) process.env.LP_NUM_THREADS = lavapipeThreadsSet;
}

/**
 * Helper devices for compiling a model's pipelines at load (src/kernels/precompile.ts): one per core beside the one the
 * model's device compiles on, at most 3; none where Mesa's shader cache is off, which is how a helper's work reaches
 * the model's device.
 */
export function precompileHelpers(env: Record<string, string | undefined> = process.env, cpus = availableParallelism()): number {
  const off = /^(1|true|yes)$/i.test(env.MESA_SHADER_CACHE_DISABLE ?? '');
  return off ? 0 : Math.min(3, Math.max(0, cpus - 1));
}

/**
 * Dawn rounds timestamp queries down to 65,536 ns unless told not to (its timestamp_quantization toggle, a guard for
 * pages against timing attacks). A Node process has no such page, and on a GPU a kernel takes a few microseconds: a
 * lent H200's bandwidth probe read two quanta (4,224 GB/s) and its per-kernel profile only quanta.
 */
export const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

/** WebGPU in Node from the `webgpu` package (Dawn), an optional peer dependency loaded on first use. */
export async function dawnGpu(): Promise<GPU> {
  if (nodeInstance) return nodeInstance;
  let mod: { create: (opts: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new EmberError('DEVICE', `WebGPU for Node (npm package "webgpu", an optional peer dependency: npm install webgpu) could not be loaded: ${(e as Error).message}`);
  }
  Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ... as in a browser
  setLavapipeThreads(); // where the host's import did not (Mesa reads it as the instance is created)
  nodeInstance = mod.create(DAWN_FLAGS);
  return nodeInstance;
}

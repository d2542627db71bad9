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
  nodeInstance = mod.create([]);
  return nodeInstance;
}

import { EmberError } from '../errors.ts';

// Dawn's Node instance must stay referenced: if it is garbage-collected, pending waits never resolve.
let nodeInstance: GPU | null = null;

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

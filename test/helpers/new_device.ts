import { Engine } from '../../src/engine.ts';
import { createGpu, type Gpu } from '../../src/gpu/device.ts';
import type { LoadOptions } from '../../src/load.ts';
import { sharedModelPath } from './models.ts';

/**
 * stories260K loaded on a device of its own, where none of its pipelines has been compiled or dispatched yet (what
 * precompiling and the first-dispatch flags are about); the engine and the device are gone after `body`.
 */
export async function storiesOnNewDevice(opts: LoadOptions, body: (engine: Engine, gpu: Gpu) => Promise<void>): Promise<void> {
  const gpu = await createGpu();
  try {
    const engine = await Engine.load(sharedModelPath('stories260K/stories260K.gguf'), { ...opts, gpu });
    try {
      await body(engine, gpu);
    } finally {
      engine.dispose();
    }
  } finally {
    gpu.device.destroy();
  }
}

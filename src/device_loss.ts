/**
 * Device loss as an engine sees it: the `devicelost` event, and the typed error a generation ends with
 * when the device was lost (or destroyed) under it, carrying what it had produced. `engine.recover()`
 * reloads the model on a new device.
 */
import { EmberError } from './errors.ts';
import type { Gpu } from './gpu/device.ts';
import { DeviceLostEvent } from './device_lost.ts';

/**
 * Dispatches a DeviceLostEvent on `target` when `gpu` is lost, if `stillOn(target, gpu)` then. `target` is
 * held weakly: the shared device outlives its engines, and its lost promise must not keep every disposed
 * engine (and its model's objects) alive.
 */
export function reportDeviceLoss<T extends EventTarget>(target: T, gpu: Gpu, stillOn: (target: T, gpu: Gpu) => boolean): void {
  const ref = new WeakRef(target);
  void gpu.lost.then((reason) => {
    const t = ref.deref();
    if (t && stillOn(t, gpu)) t.dispatchEvent(new DeviceLostEvent(reason));
  });
}

/** What a failed generation had produced: its error's details. */
export interface Produced {
  promptIds: number[];
  ids: number[];
  text: string;
}

/** The error a generation on `gpu` ends with after `e`, carrying what it produced. */
export function generationFailure(e: unknown, gpu: Gpu, disposed: boolean, produced: Produced): Promise<EmberError> {
  const details = { ...produced, ids: [...produced.ids] };
  return requestFailure(e, gpu, disposed, { doing: 'the generation', after: `after ${produced.ids.length} generated tokens`, details });
}

/**
 * The error a request on `gpu` (`doing`: 'the generation') ends with after `e`, saying how far it came (`after`) and
 * carrying `details` (what it produced).
 */
export async function requestFailure(
  e: unknown, gpu: Gpu, disposed: boolean, { doing, after, details }: { doing: string; after: string; details: Record<string, unknown> },
): Promise<EmberError> {
  if (disposed) {
    return new EmberError('ABORTED', `the engine was disposed during ${doing}, ${after}`, { ...details, finishReason: 'abort' });
  }
  // A destroyed or lost device fails the pending readback, possibly before `lost` has settled.
  if (!(e instanceof EmberError)) await Promise.race([gpu.lost, new Promise((r) => setTimeout(r, 100))]);
  if (gpu.lostReason) {
    const why = `the GPU device was lost (${gpu.lostReason}) ${after}; engine.recover() reloads the model`;
    return new EmberError('DEVICE', why, details);
  }
  if (e instanceof EmberError) {
    return new EmberError(e.code, e.message.replace(/^\[[A-Z_]+\] /, ''), { ...e.details, ...details });
  }
  return new EmberError('DEVICE', `${doing} failed ${after}: ${(e as Error)?.message ?? String(e)}`, details);
}

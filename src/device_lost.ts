/**
 * Dispatched on an engine (`engine.addEventListener('devicelost', ...)`, the worker engine's too) when
 * its GPU device is lost. Kept apart from the engine so the page side of a worker imports only this.
 */
export class DeviceLostEvent extends Event {
  constructor(readonly reason: string) {
    super('devicelost');
  }
}

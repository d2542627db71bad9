import { transferHandlers, type TransferHandler } from 'comlink';
import { EmberError, fromWire, toWire, type WireError } from '../errors.ts';

interface Thrown { value: unknown }
type SerializedThrown = { ember: WireError } | { ember?: undefined; isError: boolean; value: unknown };

let installed = false;

/**
 * Makes EmberErrors cross comlink with their code and details (comlink's own handler keeps only the
 * message, name and stack of an Error). Both sides must install it; installing twice is a no-op.
 */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const base = transferHandlers.get('throw') as TransferHandler<Thrown, SerializedThrown>;
  const handler: TransferHandler<Thrown, SerializedThrown> = {
    canHandle: (v): v is Thrown => base.canHandle(v),
    serialize: (t) => (t.value instanceof EmberError ? [{ ember: toWire(t.value) }, []] : base.serialize(t)),
    deserialize: (s) => {
      if (s.ember) throw fromWire(s.ember);
      return base.deserialize(s);
    },
  };
  transferHandlers.set('throw', handler);
}

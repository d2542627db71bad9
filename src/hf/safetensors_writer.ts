import { EmberError } from '../errors.ts';

/** One tensor to write: its bytes are already in `dtype` (little-endian, row-major). */
export interface SafeTensorToWrite {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/**
 * A safetensors file: u64 LE header length, the JSON header padded with spaces to a multiple of 8
 * bytes (as the reference writer does), then the tensors back to back in the given order.
 */
export function encodeSafetensors(tensors: readonly SafeTensorToWrite[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name in header) throw new EmberError('BAD_ARGUMENT', `encodeSafetensors: tensor ${t.name} appears twice`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).length) % 8)) % 8);
  const hbytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let o = 8 + hbytes.length;
  for (const t of tensors) {
    out.set(t.bytes, o);
    o += t.bytes.byteLength;
  }
  return out;
}

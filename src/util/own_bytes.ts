/**
 * A copy of `bytes` in an ArrayBuffer of its own (4-byte aligned, so typed arrays of wider elements may view it). Not
 * `bytes.slice()`: on a Node Buffer that is a view of the same memory, whose `.buffer` may be a shared pool.
 */
export function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer;
}

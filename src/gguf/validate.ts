import { EmberError } from '../errors.ts';
import { printable, printableName } from '../util/printable.ts';
import type { ByteSource } from './source.ts';
import { GGML_DEQUANT_TYPES, ggmlTypeById } from '../quant/ggml/index.ts';
import type { TensorInfo } from './reader.ts';

/**
 * The layout of a GGUF file's tensor data, checked once, right after its header is parsed and before
 * any tensor is read: sizes that agree with the types, offsets aligned and laid end to end in header
 * order (as llama.cpp requires: no overlaps, no gaps, so an alignment that lies shows up), data inside
 * the file, names unique and short.
 */

/** What the header says about one tensor, before validation. `rel` is relative to the data section. */
export interface RawTensorInfo {
  readonly name: string;
  readonly ne: readonly number[];
  readonly typeId: number;
  readonly rel: number;
}

/** llama.cpp allows 64 bytes; a longer name is a corrupted length field swallowing what follows it. */
export const MAX_TENSOR_NAME = 256;

/** Bytes of `numel` elements of a ggml type (whole blocks), or null for a type whose geometry we do not know. */
export function ggmlByteSize(typeId: number, ne: readonly number[]): { numel: number; bytes: number; blockSize: number } | null {
  const tt = ggmlTypeById(typeId);
  if (!tt) return null;
  const numel = ne.reduce((a, b) => a * b, 1);
  return { numel, bytes: (numel / tt.blockElems) * tt.blockBytes, blockSize: tt.blockElems };
}

export function validateLayout(src: ByteSource, infos: readonly RawTensorInfo[], alignment: number, dataOffset: number): Map<string, TensorInfo> {
  const file = src.name;
  const tensors = new Map<string, TensorInfo>();
  let expectedRel = 0; // where the next tensor must start: the previous one's end, padded to the alignment
  let prev: string | null = null;
  for (const t of infos) {
    const name = printableName(t.name);
    const bad = (msg: string) => new EmberError('BAD_FILE', `${file}: tensor ${name} ${msg}`, { tensor: t.name.slice(0, 200) });
    if (t.name.length > MAX_TENSOR_NAME) throw bad(`has a name of ${t.name.length} characters (at most ${MAX_TENSOR_NAME}); a length field is corrupt`);
    if (tensors.has(t.name)) throw bad('appears twice in the header');
    let numel = 1;
    for (const d of t.ne) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) throw bad(`has dimensions [${t.ne.join(', ')}], more elements than any file can hold`);
    }
    const size = ggmlByteSize(t.typeId, t.ne);
    const type = ggmlTypeById(t.typeId);
    if (!size || !type || !GGML_DEQUANT_TYPES.includes(type.name)) {
      const msg = `has type ${type?.name ?? `id ${t.typeId}`}, which emberlm does not load (supported: ${GGML_DEQUANT_TYPES.join(', ')})`;
      throw new EmberError('UNSUPPORTED', `${file}: tensor ${name} ${msg}`, { tensor: t.name.slice(0, 200), type: t.typeId });
    }
    if (t.ne[0] % size.blockSize !== 0) {
      throw new EmberError('BAD_MODEL', `${file}: tensor ${name} (${type.name}) has rows of ${t.ne[0]} elements, not a multiple of its block size ${size.blockSize}`, { tensor: t.name.slice(0, 200) });
    }
    if (t.rel % alignment !== 0) throw bad(`offset ${t.rel} is not aligned to ${alignment} (general.alignment)`);
    const offset = dataOffset + t.rel;
    if (offset + size.bytes > src.size) {
      throw new EmberError('BAD_FILE', `${file}: tensor ${name} needs bytes ${offset}..${offset + size.bytes} but the file has ${src.size}; the file is truncated (${type.name} [${t.ne.join(', ')}] is ${size.bytes} bytes)`, { tensor: t.name.slice(0, 200), size: src.size });
    }
    if (t.rel !== expectedRel) {
      throw bad(t.rel < expectedRel
        ? `starts at data offset ${t.rel}, inside tensor ${printableName(prev)} (which ends at ${expectedRel}); tensors overlap or general.alignment is wrong`
        : `starts at data offset ${t.rel}, expected ${expectedRel} (right after ${prev === null ? 'the start of the data' : `tensor ${printableName(prev)}`}); the offsets leave a gap or general.alignment is wrong`);
    }
    tensors.set(t.name, { name: t.name, ne: t.ne, type: type.name, typeId: t.typeId, numel: size.numel, byteLength: size.bytes, offset });
    expectedRel = Math.ceil((t.rel + size.bytes) / alignment) * alignment;
    prev = t.name;
  }
  // After the last tensor comes at most its padding: more means the data section starts elsewhere than
  // general.alignment puts it (every tensor would then be read from the wrong bytes).
  const trailing = src.size - dataOffset - expectedRel;
  if (infos.length > 0 && trailing >= alignment) {
    throw new EmberError('BAD_FILE', `${file}: ${trailing} bytes follow the last tensor's data, expected fewer than the alignment ${alignment}; general.alignment or a tensor offset is wrong`, { size: src.size });
  }
  return tensors;
}

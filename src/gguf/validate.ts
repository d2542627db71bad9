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

/** Bytes of a tensor of shape `ne` (whole blocks, ggml's type table), or null for a type id ggml does not define. */
export function ggmlByteSize(typeId: number, ne: readonly number[]): { numel: number; bytes: number; blockSize: number } | null {
  const tt = ggmlTypeById(typeId);
  if (!tt) return null;
  const numel = ne.reduce((a, b) => a * b, 1);
  return { numel, bytes: (numel / tt.blockElems) * tt.blockBytes, blockSize: tt.blockElems };
}

type Layout = Map<string, TensorInfo>;

export function validateLayout(src: ByteSource, infos: readonly RawTensorInfo[], alignment: number, dataOffset: number): Layout {
  const file = src.name;
  const tensors: Layout = new Map();
  let expectedRel = 0; // where the next tensor must start: the previous one's end, padded to the alignment
  let prev = '';
  for (const t of infos) {
    const name = printableName(t.name);
    const details = { tensor: t.name.slice(0, 200) };
    const fail = (code: 'BAD_FILE' | 'BAD_MODEL' | 'UNSUPPORTED', msg: string) =>
      new EmberError(code, `${file}: tensor ${name} ${msg}`, details);
    if (t.name.length > MAX_TENSOR_NAME) {
      throw fail('BAD_FILE', `has a name of ${t.name.length} characters (at most ${MAX_TENSOR_NAME}); a length field is corrupt`);
    }
    if (tensors.has(t.name)) throw fail('BAD_FILE', 'appears twice in the header');
    let numel = 1;
    for (const d of t.ne) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) throw fail('BAD_FILE', `has dimensions [${t.ne.join(', ')}], more elements than any file holds`);
    }
    const size = ggmlByteSize(t.typeId, t.ne);
    const type = ggmlTypeById(t.typeId);
    if (!size || !type || !GGML_DEQUANT_TYPES.includes(type.name)) {
      const msg = `has type ${type?.name ?? `id ${t.typeId}`}, which emberlm does not load (supported: ${GGML_DEQUANT_TYPES.join(', ')})`;
      throw new EmberError('UNSUPPORTED', `${file}: tensor ${name} ${msg}`, { ...details, type: t.typeId });
    }
    if (t.ne[0] % size.blockSize !== 0) {
      throw fail('BAD_MODEL', `(${type.name}) has rows of ${t.ne[0]} elements, not a multiple of its block size ${size.blockSize}`);
    }
    if (t.rel % alignment !== 0) throw fail('BAD_FILE', `offset ${t.rel} is not aligned to ${alignment} (general.alignment)`);
    const offset = dataOffset + t.rel;
    if (offset + size.bytes > src.size) {
      const need = `needs bytes ${offset}..${offset + size.bytes} but the file has ${src.size}`;
      const e = fail('BAD_FILE', `${need}; the file is truncated (${type.name} [${t.ne.join(', ')}] is ${size.bytes} bytes)`);
      Object.assign(e.details, { size: src.size });
      throw e;
    }
    if (t.rel < expectedRel) {
      const inside = `inside tensor ${printableName(prev)} (which ends at ${expectedRel})`;
      throw fail('BAD_FILE', `starts at data offset ${t.rel}, ${inside}; tensors overlap or general.alignment is wrong`);
    }
    if (t.rel > expectedRel) {
      const after = prev ? `tensor ${printableName(prev)}` : 'the start of the data';
      const msg = `starts at data offset ${t.rel}, expected ${expectedRel} (right after ${after})`;
      throw fail('BAD_FILE', `${msg}; the offsets leave a gap or general.alignment is wrong`);
    }
    tensors.set(t.name, { name: t.name, ne: t.ne, type: type.name, typeId: t.typeId, numel: size.numel, byteLength: size.bytes, offset });
    expectedRel = Math.ceil((t.rel + size.bytes) / alignment) * alignment;
    prev = t.name;
  }
  // After the last tensor comes at most its padding: more means the data section starts elsewhere than
  // general.alignment puts it (every tensor would then be read from the wrong bytes).
  const trailing = src.size - dataOffset - expectedRel;
  if (infos.length > 0 && trailing >= alignment) {
    const msg = `${trailing} bytes follow the last tensor's data, expected fewer than the alignment ${alignment}`;
    throw new EmberError('BAD_FILE', `${file}: ${msg}; general.alignment or a tensor offset is wrong`, { size: src.size });
  }
  return tensors;
}

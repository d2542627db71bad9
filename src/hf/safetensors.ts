import { EmberError } from '../errors.ts';
import type { ByteSource } from '../gguf/source.ts';
import { toF32 } from '../gguf/convert.ts';
import { FP8_E4M3_VALUES, FP8_E5M2_VALUES } from '../quant/fp8.ts';
import { printableJson, printableName } from '../util/printable.ts';

/**
 * Hugging Face safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * (`{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`), then the tensor
 * data, with offsets relative to the end of the header. Row-major, little-endian, unaligned.
 * The header is read with two small reads and each tensor with one ranged read, so a multi-GB file
 * is never held whole.
 */

/** The dtypes emberlm reads. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2';
export const SUPPORTED_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2'];

/** Bytes per element of every dtype the format defines, so that any file's offsets can be checked. */
export const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export interface SafeTensorInfo {
  readonly name: string;
  /** Any safetensors dtype; reading one outside `SUPPORTED_DTYPES` raises UNSUPPORTED. */
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
  readonly source: ByteSource;
}

export interface SafetensorsFile {
  readonly source: ByteSource;
  readonly tensors: ReadonlyMap<string, SafeTensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Headers above this are refused before reading them (the reference implementation's own limit is 100 MB). */
const MAX_HEADER = 100_000_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export async function readSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  const file = src.name;
  if (src.size < 8) throw new EmberError('BAD_FILE', `${file}: ${src.size} bytes is too short for a safetensors file (8-byte header length)`, { file });
  const lenBytes = await src.read(0, 8);
  const len64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (len64 > BigInt(src.size - 8)) {
    throw new EmberError('BAD_FILE', `${file}: header length ${len64} runs past the end of the file (${src.size} bytes); the file is truncated or not safetensors`, { file });
  }
  const n = Number(len64);
  if (n < 2 || n > MAX_HEADER) throw new EmberError('BAD_FILE', `${file}: header length ${n} is outside 2..${MAX_HEADER}; not a safetensors file`, { file });
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, n)));
  } catch (e) {
    throw new EmberError('BAD_FILE', `${file}: the header is not valid UTF-8 JSON (${(e as Error).message})`, { file });
  }
  if (!isObject(header)) throw new EmberError('BAD_FILE', `${file}: the header is not a JSON object`, { file });

  const dataStart = 8 + n;
  const dataSize = src.size - dataStart;
  const tensors = new Map<string, SafeTensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (isObject(v)) metadata = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
      continue;
    }
    const bad = (msg: string) => new EmberError('BAD_FILE', `${file}: tensor ${printableName(name)}: ${msg}`, { file, tensor: name.slice(0, 200) });
    if (!isObject(v)) throw bad('header entry is not an object');
    const { dtype, shape, data_offsets: offs } = v;
    if (typeof dtype !== 'string') throw bad(`dtype ${printableJson(dtype)} is not a string`);
    const elemBytes = DTYPE_BYTES[dtype];
    if (elemBytes === undefined) {
      throw new EmberError('UNSUPPORTED', `${file}: tensor ${printableName(name)} has dtype ${printableName(dtype)}, which safetensors does not define and emberlm cannot read (supported: ${SUPPORTED_DTYPES.join(', ')})`, { file, tensor: name.slice(0, 200), dtype: dtype.slice(0, 200) });
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`shape ${printableJson(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`data_offsets ${printableJson(offs)} is not a pair of non-negative integers`);
    const [begin, end] = offs as [number, number];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(numel * elemBytes)) throw bad(`shape ${printableJson(shape)} has more elements than any file can hold`);
    if (end < begin || end - begin !== numel * elemBytes) {
      throw bad(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${numel * elemBytes}`);
    }
    if (end > dataSize) {
      throw bad(`data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes after the header); the file is truncated`);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], offset: dataStart + begin, byteLength: end - begin, source: src });
  }
  checkNoOverlap(file, dataStart, tensors);
  return { source: src, tensors, metadata };
}

/** Two tensors sharing bytes is a corrupt header (the reference implementation rejects it too). */
function checkNoOverlap(file: string, dataStart: number, tensors: ReadonlyMap<string, SafeTensorInfo>): void {
  const byStart = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const a = byStart[i - 1], b = byStart[i];
    if (b.offset < a.offset + a.byteLength) {
      const range = (t: SafeTensorInfo) => `[${t.offset - dataStart}, ${t.offset - dataStart + t.byteLength}]`;
      throw new EmberError('BAD_FILE', `${file}: tensor ${printableName(b.name)} (data_offsets ${range(b)}) overlaps tensor ${printableName(a.name)} (${range(a)})`, { file, tensor: b.name.slice(0, 200) });
    }
  }
}

/** Raises UNSUPPORTED unless the tensor's dtype is one emberlm reads. */
export function checkDtype(t: SafeTensorInfo): SafetensorsDtype {
  if (!(SUPPORTED_DTYPES as readonly string[]).includes(t.dtype)) {
    throw new EmberError('UNSUPPORTED', `${t.source.name}: tensor ${t.name} has dtype ${t.dtype} (supported: ${SUPPORTED_DTYPES.join(', ')})`, { file: t.source.name, tensor: t.name, dtype: t.dtype });
  }
  return t.dtype as SafetensorsDtype;
}

/** The tensor's bytes, in one ranged read. */
export async function readTensorBytes(t: SafeTensorInfo): Promise<Uint8Array> {
  return t.source.read(t.offset, t.byteLength);
}

/** F32, F16, BF16 or FP8 bytes -> f32 values (FP8 without any scale). */
export function tensorToF32(t: SafeTensorInfo, bytes: Uint8Array): Float32Array {
  const dtype = checkDtype(t);
  const numel = t.byteLength / DTYPE_BYTES[dtype];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(numel);
  switch (dtype) {
    case 'F32':
      if (bytes.byteOffset % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset, numel));
      else for (let i = 0; i < numel; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F16':
    case 'BF16':
      return toF32({ name: t.name, ne: [numel], type: dtype }, bytes, out); // by a table / a shift, not a call per value
    case 'F8_E4M3':
      for (let i = 0; i < numel; i++) out[i] = FP8_E4M3_VALUES[bytes[i]];
      break;
    case 'F8_E5M2':
      for (let i = 0; i < numel; i++) out[i] = FP8_E5M2_VALUES[bytes[i]];
      break;
  }
  return out;
}

/**
 * A model's tensors across one or more safetensors files. `index` is the parsed
 * `model.safetensors.index.json` (`weight_map`: tensor -> shard file); each shard is opened once and
 * every tensor the index names must be in the shard it names.
 */
export interface TensorSet {
  readonly tensors: ReadonlyMap<string, SafeTensorInfo>;
  close(): Promise<void>;
}

export async function openShards(index: unknown, indexName: string, open: (file: string) => Promise<ByteSource>): Promise<TensorSet> {
  const map = isObject(index) ? index.weight_map : undefined;
  if (!isObject(map)) throw new EmberError('BAD_MODEL', `${indexName}: field weight_map is missing or not an object`, { file: indexName, field: 'weight_map' });
  const files = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, SafeTensorInfo>();
  const sources: ByteSource[] = [];
  const close = async () => {
    for (const s of sources) await s.close?.();
  };
  try {
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string' || shard === '' || shard.includes('..') || shard.startsWith('/')) {
        throw new EmberError('BAD_MODEL', `${indexName}: weight_map["${printableName(name)}"] is ${printableJson(shard)}, not a file name in the model folder`, { file: indexName, tensor: name.slice(0, 200) });
      }
      let f = files.get(shard);
      if (!f) {
        const src = await open(shard);
        sources.push(src);
        f = await readSafetensors(src);
        files.set(shard, f);
      }
      const t = f.tensors.get(name);
      if (!t) throw new EmberError('BAD_MODEL', `${indexName}: weight_map puts tensor ${printableName(name)} in ${printableName(shard)}, but ${f.source.name} has no such tensor`, { file: indexName, tensor: name });
      tensors.set(name, t);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { tensors, close };
}

/** A single-file model as a `TensorSet`. */
export async function openSingle(src: ByteSource): Promise<TensorSet> {
  try {
    const f = await readSafetensors(src);
    return { tensors: f.tensors, close: async () => src.close?.() };
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

import { EmberError } from '../errors.ts';
import type { ByteSource } from './source.ts';
import { GGML_TYPES } from '../quant/ggml/index.ts';
import { printable, printableName } from '../util/printable.ts';
import { validateLayout, type RawTensorInfo } from './validate.ts';

/** ggml tensor type ids by name (every type ggml defines; see GGML_TYPES for block sizes). */
export const GGML_TYPE: Readonly<Record<string, number>> = Object.fromEntries(Object.values(GGML_TYPES).map((t) => [t.name, t.id]));
/** A ggml type name, a key of GGML_TYPES ('F32', 'Q4_K', ...). */
export type TensorType = string;

export type GGUFValue = number | bigint | boolean | string | GGUFValue[] | Float32Array | Int32Array | Uint32Array;

export interface TensorInfo {
  readonly name: string;
  /** ggml order: ne[0] is the fastest-varying (row length); a weight [in, out] has `out` rows of `in`. */
  readonly ne: readonly number[];
  readonly type: TensorType;
  readonly typeId: number;
  readonly numel: number;
  readonly byteLength: number;
  /** Absolute offset of the data in the file. */
  readonly offset: number;
}

export interface GGUFFile {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GGUFValue>;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly alignment: number;
  readonly dataOffset: number;
  readonly source: ByteSource;
}

const MAGIC = 0x46554747; // "GGUF" little-endian
const CHUNK = 1 << 20;
const MAX_STRING = 1 << 26;

/** Sequential little-endian reader that pulls the header from the source a chunk at a time. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;
  private readonly dec = new TextDecoder('utf-8', { ignoreBOM: true }); // a token may be U+FEFF itself
  constructor(private readonly src: ByteSource) {}
  get name(): string {
    return this.src.name;
  }

  private async need(n: number): Promise<void> {
    const have = this.bufStart + this.buf.byteLength - this.pos;
    if (have >= n) return;
    if (this.pos + n > this.src.size) {
      throw new EmberError('BAD_FILE', `${this.src.name}: GGUF header is truncated: needs ${n} bytes at offset ${this.pos}, file has ${this.src.size}`, { offset: this.pos, size: this.src.size });
    }
    const len = Math.min(Math.max(n, CHUNK), this.src.size - this.pos);
    this.buf = await this.src.read(this.pos, len);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }
  remaining(): number {
    return this.src.size - this.pos;
  }
  private at(): number {
    return this.pos - this.bufStart;
  }
  async u8() { await this.need(1); const v = this.view.getUint8(this.at()); this.pos += 1; return v; }
  async i8() { await this.need(1); const v = this.view.getInt8(this.at()); this.pos += 1; return v; }
  async u16() { await this.need(2); const v = this.view.getUint16(this.at(), true); this.pos += 2; return v; }
  async i16() { await this.need(2); const v = this.view.getInt16(this.at(), true); this.pos += 2; return v; }
  async u32() { await this.need(4); const v = this.view.getUint32(this.at(), true); this.pos += 4; return v; }
  async i32() { await this.need(4); const v = this.view.getInt32(this.at(), true); this.pos += 4; return v; }
  async f32() { await this.need(4); const v = this.view.getFloat32(this.at(), true); this.pos += 4; return v; }
  async f64() { await this.need(8); const v = this.view.getFloat64(this.at(), true); this.pos += 8; return v; }
  async u64big() { await this.need(8); const v = this.view.getBigUint64(this.at(), true); this.pos += 8; return v; }
  async i64big() { await this.need(8); const v = this.view.getBigInt64(this.at(), true); this.pos += 8; return v; }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  async u64(what: string): Promise<number> {
    const v = await this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new EmberError('BAD_FILE', `${this.src.name}: ${what} is ${v}, which is not a plausible size (at offset ${this.pos - 8}; the file is corrupt)`);
    return Number(v);
  }
  async str(): Promise<string> {
    const n = await this.u64('string length');
    if (n > MAX_STRING) throw new EmberError('BAD_FILE', `${this.src.name}: string of ${n} bytes at offset ${this.pos - 8} is implausible; the file is corrupt`);
    await this.need(n);
    const s = this.dec.decode(this.buf.subarray(this.at(), this.at() + n));
    this.pos += n;
    return s;
  }
}

async function readValue(c: Cursor, type: number, name: string): Promise<GGUFValue> {
  switch (type) {
    case 0: return c.u8();
    case 1: return c.i8();
    case 2: return c.u16();
    case 3: return c.i16();
    case 4: return c.u32();
    case 5: return c.i32();
    case 6: return c.f32();
    case 7: return (await c.u8()) !== 0;
    case 8: return c.str();
    case 10: { const v = await c.u64big(); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case 11: { const v = await c.i64big(); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v; }
    case 12: return c.f64();
    case 9: {
      const et = await c.u32();
      if (et === 9) throw new EmberError('BAD_FILE', `${c.name}: metadata key ${printableName(name)} is an array of arrays, which GGUF does not allow; the file is corrupt`);
      const n = await c.u64(`length of array ${name}`);
      // Every element takes at least one byte (a string at least 8): a longer array cannot fit the file.
      const minBytes = et === 8 ? 8 : et === 10 || et === 11 || et === 12 ? 8 : et === 4 || et === 5 || et === 6 ? 4 : et === 2 || et === 3 ? 2 : 1;
      if (n * minBytes > c.remaining()) {
        throw new EmberError('BAD_FILE', `${c.name}: metadata array ${printableName(name)} claims ${n} elements, more than the ${c.remaining()} bytes left in the file; the file is corrupt`);
      }
      if (et === 6) { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = await c.f32(); return a; }
      if (et === 5) { const a = new Int32Array(n); for (let i = 0; i < n; i++) a[i] = await c.i32(); return a; }
      if (et === 4) { const a = new Uint32Array(n); for (let i = 0; i < n; i++) a[i] = await c.u32(); return a; }
      const a: GGUFValue[] = new Array(n);
      for (let i = 0; i < n; i++) a[i] = await readValue(c, et, name);
      return a;
    }
    default:
      throw new EmberError('BAD_FILE', `${c.name}: metadata key ${printableName(name)} has unknown value type ${type}; the file is corrupt`);
  }
}

/** Parses the GGUF header (v2 and v3): metadata, tensor infos, alignment. Tensor data is not read. */
export async function readGGUF(src: ByteSource): Promise<GGUFFile> {
  const c = new Cursor(src);
  if (src.size < 24) throw new EmberError('BAD_FILE', `${src.name}: ${src.size} bytes is too short to be a GGUF file`);
  const magic = await c.u32();
  if (magic !== MAGIC) {
    const got = [0, 8, 16, 24].map((s) => String.fromCharCode((magic >>> s) & 0xff)).join('');
    throw new EmberError('BAD_FILE', `${src.name}: not a GGUF file (magic ${JSON.stringify(got)}, expected "GGUF")`);
  }
  const version = await c.u32();
  if (version !== 2 && version !== 3) {
    throw new EmberError('UNSUPPORTED', `${src.name}: GGUF version ${version} is not supported (expected 2 or 3)`, { version });
  }
  const nTensors = await c.u64('tensor count');
  const nKV = await c.u64('metadata count');
  // A key-value pair takes at least 12 bytes (key length, type), a tensor info at least 32: bigger counts cannot fit.
  if (nKV * 12 + nTensors * 32 > c.remaining()) {
    throw new EmberError('BAD_FILE', `${src.name}: header claims ${nKV} metadata keys and ${nTensors} tensors, more than its ${c.remaining()} remaining bytes can hold; the header is truncated or corrupt`);
  }
  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKV; i++) {
    const key = await c.str();
    if (metadata.has(key)) throw new EmberError('BAD_FILE', `${src.name}: metadata key ${printableName(key)} appears twice; the file is corrupt`);
    const type = await c.u32();
    metadata.set(key, await readValue(c, type, key));
  }
  const align = metadata.get('general.alignment') ?? 32;
  if (typeof align !== 'number' || align <= 0 || align % 8 !== 0) {
    throw new EmberError('BAD_FILE', `${src.name}: general.alignment is ${printable(String(align))}; expected a positive multiple of 8`);
  }

  const infos: RawTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = await c.str();
    const nd = await c.u32();
    if (nd < 1 || nd > 4) throw new EmberError('BAD_FILE', `${src.name}: tensor ${printableName(name)} has ${nd} dimensions (expected 1 to 4)`);
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(await c.u64(`dimension of tensor ${printableName(name)}`));
    const typeId = await c.u32();
    const rel = await c.u64(`offset of tensor ${printableName(name)}`);
    infos.push({ name, ne, typeId, rel });
  }
  const dataOffset = Math.ceil(c.pos / align) * align;
  const tensors = validateLayout(src, infos, align, dataOffset);
  return { version, metadata, tensors, alignment: align, dataOffset, source: src };
}

export async function readTensorBytes(f: GGUFFile, t: TensorInfo): Promise<Uint8Array> {
  return f.source.read(t.offset, t.byteLength);
}

/** Typed metadata accessors that name the key and file in their errors. */
export function metaNumber(f: GGUFFile, key: string, fallback?: number): number {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${key} is missing`);
  }
  if (typeof v !== 'number') throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${key} should be a number, got ${typeof v} ${printable(String(v), 40)}`);
  return v;
}

export function metaBool(f: GGUFFile, key: string, fallback?: boolean): boolean {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${key} is missing`);
  }
  if (typeof v !== 'boolean') throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${key} should be a bool, got ${typeof v} ${printable(String(v), 40)}`);
  return v;
}

export function metaString(f: GGUFFile, key: string, fallback?: string): string {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${key} is missing`);
  }
  if (typeof v !== 'string') throw new EmberError('BAD_MODEL', `${f.source.name}: metadata key ${key} should be a string, got ${typeof v}`);
  return v;
}

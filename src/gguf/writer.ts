import { EmberError } from '../errors.ts';
import { GGML_QUANT_TYPES, GGML_TYPES, ggmlQuantize } from '../quant/ggml/index.ts';
import type { TensorType } from './reader.ts';

/**
 * A GGUF v3 (or v2) writer, for tests and generated models. Tensors are given as f32 and encoded
 * with ggml's reference quantizers, or as bytes already in the tensor's GGUF encoding.
 */

/** A typed metadata value; `meta.*` below builds them. */
export type MetaValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'bool[]'; value: readonly boolean[] }
  | { type: 'f32[]'; value: ArrayLike<number> }
  | { type: 'i32[]'; value: ArrayLike<number> }
  | { type: 'u32[]'; value: ArrayLike<number> }
  | { type: 'u8[]'; value: ArrayLike<number> };

export const meta = {
  u8: (value: number): MetaValue => ({ type: 'u8', value }),
  i8: (value: number): MetaValue => ({ type: 'i8', value }),
  u16: (value: number): MetaValue => ({ type: 'u16', value }),
  i16: (value: number): MetaValue => ({ type: 'i16', value }),
  u32: (value: number): MetaValue => ({ type: 'u32', value }),
  i32: (value: number): MetaValue => ({ type: 'i32', value }),
  f32: (value: number): MetaValue => ({ type: 'f32', value }),
  f64: (value: number): MetaValue => ({ type: 'f64', value }),
  u64: (value: number | bigint): MetaValue => ({ type: 'u64', value }),
  i64: (value: number | bigint): MetaValue => ({ type: 'i64', value }),
  bool: (value: boolean): MetaValue => ({ type: 'bool', value }),
  str: (value: string): MetaValue => ({ type: 'string', value }),
  strs: (value: readonly string[]): MetaValue => ({ type: 'string[]', value }),
  bools: (value: readonly boolean[]): MetaValue => ({ type: 'bool[]', value }),
  f32s: (value: ArrayLike<number>): MetaValue => ({ type: 'f32[]', value }),
  i32s: (value: ArrayLike<number>): MetaValue => ({ type: 'i32[]', value }),
  u32s: (value: ArrayLike<number>): MetaValue => ({ type: 'u32[]', value }),
  u8s: (value: ArrayLike<number>): MetaValue => ({ type: 'u8[]', value }), // (a Unigram tokenizer's precompiled_charsmap)
};

export type TensorToWrite = {
  readonly name: string;
  /** ggml order: ne[0] is the row length. */
  readonly ne: readonly number[];
  readonly type: TensorType;
} & (
  | { readonly data: Float32Array } // encoded to `type` here
  | { readonly bytes: Uint8Array } // already in `type`'s GGUF encoding
);

export interface GGUFToWrite {
  /** Written in this order. `general.alignment` is added when `alignment` is not 32. */
  readonly metadata: ReadonlyArray<readonly [string, MetaValue]>;
  readonly tensors: readonly TensorToWrite[];
  /** Data alignment in bytes, a positive multiple of 8 (default 32). */
  readonly alignment?: number;
  readonly version?: 2 | 3;
}

/** GGUF value type ids. */
const VT = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `writeGGUF: ${msg}`);

/** Growable little-endian byte buffer. */
class Bytes {
  buf = new Uint8Array(1024);
  view = new DataView(this.buf.buffer);
  len = 0;
  private readonly enc = new TextEncoder();
  /** Reserves n bytes and returns their offset; call it before touching `buf`/`view`, which it may replace. */
  private room(n: number): number {
    if (this.len + n > this.buf.byteLength) {
      const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }
  u8(v: number) { const at = this.room(1); this.view.setUint8(at, v); }
  i8(v: number) { const at = this.room(1); this.view.setInt8(at, v); }
  u16(v: number) { const at = this.room(2); this.view.setUint16(at, v, true); }
  i16(v: number) { const at = this.room(2); this.view.setInt16(at, v, true); }
  u32(v: number) { const at = this.room(4); this.view.setUint32(at, v, true); }
  i32(v: number) { const at = this.room(4); this.view.setInt32(at, v, true); }
  f32(v: number) { const at = this.room(4); this.view.setFloat32(at, v, true); }
  f64(v: number) { const at = this.room(8); this.view.setFloat64(at, v, true); }
  u64(v: number | bigint) { const at = this.room(8); this.view.setBigUint64(at, BigInt(v), true); }
  i64(v: number | bigint) { const at = this.room(8); this.view.setBigInt64(at, BigInt(v), true); }
  str(s: string) {
    const b = this.enc.encode(s);
    this.u64(b.byteLength);
    this.raw(b);
  }
  raw(b: Uint8Array) { const at = this.room(b.byteLength); this.buf.set(b, at); }
  pad(align: number) { this.room((align - (this.len % align)) % align); } // new bytes are zero
  result(): Uint8Array { return this.buf.slice(0, this.len); }
}

function checkInt(key: string, v: number | bigint, lo: number | bigint, hi: number | bigint): void {
  const ok = typeof v === 'bigint' ? v >= BigInt(lo) && v <= BigInt(hi) : Number.isInteger(v) && v >= Number(lo) && v <= Number(hi);
  if (!ok) throw bad(`metadata ${key}: ${String(v)} is not an integer in [${lo}, ${hi}]`);
}

function writeValue(w: Bytes, key: string, m: MetaValue): void {
  switch (m.type) {
    case 'u8': checkInt(key, m.value, 0, 0xff); w.u32(VT.u8); w.u8(m.value); return;
    case 'i8': checkInt(key, m.value, -0x80, 0x7f); w.u32(VT.i8); w.i8(m.value); return;
    case 'u16': checkInt(key, m.value, 0, 0xffff); w.u32(VT.u16); w.u16(m.value); return;
    case 'i16': checkInt(key, m.value, -0x8000, 0x7fff); w.u32(VT.i16); w.i16(m.value); return;
    case 'u32': checkInt(key, m.value, 0, 0xffffffff); w.u32(VT.u32); w.u32(m.value); return;
    case 'i32': checkInt(key, m.value, -0x80000000, 0x7fffffff); w.u32(VT.i32); w.i32(m.value); return;
    case 'u64': checkInt(key, m.value, 0n, 2n ** 64n - 1n); w.u32(VT.u64); w.u64(m.value); return;
    case 'i64': checkInt(key, m.value, -(2n ** 63n), 2n ** 63n - 1n); w.u32(VT.i64); w.i64(m.value); return;
    case 'f32': w.u32(VT.f32); w.f32(m.value); return;
    case 'f64': w.u32(VT.f64); w.f64(m.value); return;
    case 'bool': w.u32(VT.bool); w.u8(m.value ? 1 : 0); return;
    case 'string': w.u32(VT.string); w.str(m.value); return;
    case 'string[]':
      w.u32(VT.array); w.u32(VT.string); w.u64(m.value.length);
      for (const s of m.value) w.str(s);
      return;
    case 'bool[]':
      w.u32(VT.array); w.u32(VT.bool); w.u64(m.value.length);
      for (const b of m.value) w.u8(b ? 1 : 0);
      return;
    case 'f32[]':
      w.u32(VT.array); w.u32(VT.f32); w.u64(m.value.length);
      for (let i = 0; i < m.value.length; i++) w.f32(m.value[i]);
      return;
    case 'i32[]':
      w.u32(VT.array); w.u32(VT.i32); w.u64(m.value.length);
      for (let i = 0; i < m.value.length; i++) { checkInt(`${key}[${i}]`, m.value[i], -0x80000000, 0x7fffffff); w.i32(m.value[i]); }
      return;
    case 'u32[]':
      w.u32(VT.array); w.u32(VT.u32); w.u64(m.value.length);
      for (let i = 0; i < m.value.length; i++) { checkInt(`${key}[${i}]`, m.value[i], 0, 0xffffffff); w.u32(m.value[i]); }
      return;
    case 'u8[]':
      w.u32(VT.array); w.u32(VT.u8); w.u64(m.value.length);
      for (let i = 0; i < m.value.length; i++) { checkInt(`${key}[${i}]`, m.value[i], 0, 0xff); w.u8(m.value[i]); }
      return;
    default:
      throw bad(`metadata ${key}: unknown value type ${(m as { type: string }).type}`);
  }
}

/** ggml's quantize_row_q4_0_ref: d = max/-8 (max = the signed value of largest |x|), q = min(15, trunc(x/d + 8.5)). */
export function encodeQ4_0(x: Float32Array): Uint8Array {
  if (x.length % 32 !== 0) throw bad(`Q4_0 needs a multiple of 32 values, got ${x.length}`);
  return ggmlQuantize('Q4_0', x);
}

/** ggml's quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d); blocks of f16 d + 32 int8. */
export function encodeQ8_0(x: Float32Array): Uint8Array {
  if (x.length % 32 !== 0) throw bad(`Q8_0 needs a multiple of 32 values, got ${x.length}`);
  return ggmlQuantize('Q8_0', x);
}

/** f32 values -> the GGUF bytes of `type`. */
export function encodeTensorData(type: TensorType, x: Float32Array): Uint8Array {
  if (!GGML_QUANT_TYPES.includes(type)) {
    throw new EmberError('UNSUPPORTED', `writeGGUF: tensor type ${String(type)} cannot be encoded from f32 (encodable: ${GGML_QUANT_TYPES.join(', ')}; give bytes for the others)`);
  }
  return ggmlQuantize(type, x);
}

/** Serializes a GGUF file. Tensor data follows the header in the order given, each aligned. */
export function writeGGUF(file: GGUFToWrite): Uint8Array {
  const version = file.version ?? 3;
  if (version !== 2 && version !== 3) throw bad(`version ${String(version)} is not 2 or 3`);
  const given = file.metadata.find(([k]) => k === 'general.alignment')?.[1];
  if (given && given.type !== 'u32') throw bad(`general.alignment must be a u32, got ${given.type}`);
  const alignment = file.alignment ?? (given ? (given.value as number) : 32);
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) throw bad(`alignment ${alignment} is not a positive multiple of 8`);
  if (given && given.value !== alignment) throw bad(`general.alignment ${given.value} disagrees with alignment ${alignment}`);
  const metadata = [...file.metadata];
  if (!given && alignment !== 32) metadata.push(['general.alignment', meta.u32(alignment)]);

  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (keys.has(k)) throw bad(`metadata key ${k} appears twice`);
    keys.add(k);
  }

  const encoded: Uint8Array[] = [];
  const names = new Set<string>();
  for (const t of file.tensors) {
    if (names.has(t.name)) throw bad(`tensor ${t.name} appears twice`);
    names.add(t.name);
    const blk = GGML_TYPES[t.type];
    if (!blk) throw new EmberError('UNSUPPORTED', `writeGGUF: tensor ${t.name} has type ${String(t.type)}, which cannot be written`);
    if (t.ne.length < 1 || t.ne.length > 4 || t.ne.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`tensor ${t.name}: shape [${t.ne.join(', ')}] is not 1 to 4 non-negative integers`);
    if (t.ne[0] % blk.blockElems !== 0) throw bad(`tensor ${t.name} (${t.type}): ne[0] = ${t.ne[0]} is not a multiple of the block size ${blk.blockElems}`);
    const numel = t.ne.reduce((a, b) => a * b, 1);
    let bytes: Uint8Array;
    if ('data' in t) {
      if (t.data.length !== numel) throw bad(`tensor ${t.name}: ne=[${t.ne.join(', ')}] has ${numel} elements, data has ${t.data.length}`);
      bytes = encodeTensorData(t.type, t.data);
    } else {
      const expected = (numel / blk.blockElems) * blk.blockBytes;
      if (t.bytes.byteLength !== expected) throw bad(`tensor ${t.name} (${t.type}, ne=[${t.ne.join(', ')}]): expected ${expected} bytes, got ${t.bytes.byteLength}`);
      bytes = t.bytes;
    }
    encoded.push(bytes);
  }

  const w = new Bytes();
  w.u32(0x46554747); // "GGUF"
  w.u32(version);
  w.u64(file.tensors.length);
  w.u64(metadata.length);
  for (const [k, v] of metadata) {
    w.str(k);
    writeValue(w, k, v);
  }
  let offset = 0;
  file.tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(GGML_TYPES[t.type].id);
    w.u64(offset);
    offset += Math.ceil(encoded[i].byteLength / alignment) * alignment;
  });
  // A file without tensors ends right after the header, as llama.cpp's vocab-only files do.
  if (encoded.length > 0) w.pad(alignment);
  for (const b of encoded) {
    w.raw(b);
    w.pad(alignment);
  }
  return w.result();
}

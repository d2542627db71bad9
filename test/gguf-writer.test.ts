/**
 * The GGUF writer: it reproduces the real fixtures byte for byte, round-trips every metadata type
 * and tensor type through the reader, and rejects bad input.
 */
import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToBF16Bits, f32ToF16Bits, bf16ToF32, toF32 } from '../src/gguf/convert.ts';
import { readGGUF, readTensorBytes, type GGUFFile, type TensorType } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { encodeQ4_0, encodeTensorData, meta, writeGGUF, type MetaValue, type TensorToWrite } from '../src/gguf/writer.ts';
import { expectEmberError } from './helpers/errors.ts';
import { openShared, readSharedBytes } from './helpers/models.ts';
import { readProvenance } from './helpers/provenance.ts';
import { createRng } from './helpers/rng.ts';

const { files: LISTED } = readProvenance();
const read = (b: Uint8Array) => readGGUF(sourceFromBuffer(b, 'written.gguf'));

/** Rebuilds a MetaValue from a value the reader returned and the type PROVENANCE.md lists for it. */
function asMeta(listedType: string, raw: string, v: unknown): MetaValue {
  switch (listedType) {
    case 'UINT32': return meta.u32(v as number);
    case 'INT32': return meta.i32(v as number);
    case 'FLOAT32': return meta.f32(v as number);
    case 'BOOL': return meta.bool(v as boolean);
    case 'STRING': return meta.str(v as string);
    case 'ARRAY':
      if (raw.startsWith('[STRING')) return meta.strs(v as string[]);
      if (raw.startsWith('[FLOAT32')) return meta.f32s(v as Float32Array);
      if (raw.startsWith('[INT32')) return meta.i32s(v as Int32Array);
      break;
  }
  throw new Error(`no MetaValue for listing type ${listedType} ${raw.slice(0, 20)}`);
}

/** Writes `f` again: metadata in file order with the listed types, tensors as their bytes. */
async function rewrite(f: GGUFFile, listing: string): Promise<Uint8Array> {
  const types = new Map(LISTED.get(listing)!.metadata.map((m) => [m.key, m]));
  const metadata = [...f.metadata].map(([k, v]) => {
    const m = types.get(k);
    if (!m) throw new Error(`${k} is not in the listing of ${listing}`);
    return [k, asMeta(m.type, m.raw, v)] as const;
  });
  const tensors: TensorToWrite[] = [];
  for (const t of f.tensors.values()) tensors.push({ name: t.name, ne: t.ne, type: t.type, bytes: await readTensorBytes(f, t) });
  return writeGGUF({ metadata, tensors, alignment: f.alignment, version: f.version as 3 });
}

describe('writeGGUF reproduces real files byte for byte', () => {
  const same = async (name: string) => {
    const original = readSharedBytes(name);
    const mine = await rewrite(await openShared(name), name);
    expect(mine.byteLength).toBe(original.byteLength);
    expect(Buffer.compare(mine, original)).toBe(0);
  };
  it.each(['stories260K/stories260K.gguf'])('%s', same);

  // KNOWN READER BUG (src/gguf/reader.ts): its TextDecoder drops a leading U+FEFF, so the Llama 2
  // vocabulary's token 30143 ("\uFEFF", bytes EF BB BF) is read as "". With that one token
  // restored these files are rewritten byte for byte. Remove `.fails` once the reader decodes with
  // `new TextDecoder('utf-8', { ignoreBOM: true })`.
  it.each(['llama-2-tiny-random/llama-2-tiny-random.gguf', 'vocab/ggml-vocab-llama-spm.gguf'])('%s (a token that is U+FEFF survives)', same);
  it('readGGUF keeps a string that starts with U+FEFF', async () => {
    const f = await read(writeGGUF({ metadata: [['k', meta.str('\uFEFFx')]], tensors: [] }));
    expect(f.metadata.get('k')).toBe('\uFEFFx');
  });

  it('stories260K-F16 from the F32 original: f32 data encoded to F16 gives the derived file', async () => {
    const f32 = await openShared('stories260K/stories260K.gguf');
    const f16 = await openShared('stories260K-derived/stories260K-F16.gguf');
    const types = new Map(LISTED.get('stories260K/stories260K.gguf')!.metadata.map((m) => [m.key, m]));
    const metadata = [...f16.metadata].map(([k, v]) => {
      if (k === 'general.file_type') return [k, meta.u32(v as number)] as const;
      return [k, asMeta(types.get(k)!.type, types.get(k)!.raw, v)] as const;
    });
    const tensors: TensorToWrite[] = [];
    for (const t of f16.tensors.values()) {
      const src = f32.tensors.get(t.name)!;
      tensors.push({ name: t.name, ne: t.ne, type: t.type, data: toF32(src, await readTensorBytes(f32, src)) });
    }
    const mine = writeGGUF({ metadata, tensors });
    expect(Buffer.compare(mine, readSharedBytes('stories260K-derived/stories260K-F16.gguf'))).toBe(0);
  });
});

describe('writeGGUF -> readGGUF round trip', () => {
  const big = 2n ** 53n + 1n;
  const metadata: Array<[string, MetaValue]> = [
    ['general.architecture', meta.str('llama')],
    ['t.u8', meta.u8(255)], ['t.i8', meta.i8(-128)], ['t.u16', meta.u16(65535)], ['t.i16', meta.i16(-32768)],
    ['t.u32', meta.u32(4294967295)], ['t.i32', meta.i32(-2147483648)], ['t.f32', meta.f32(0.1)], ['t.f64', meta.f64(0.1)],
    ['t.bool.true', meta.bool(true)], ['t.bool.false', meta.bool(false)],
    ['t.u64.small', meta.u64(12345)], ['t.u64.big', meta.u64(big)], ['t.i64', meta.i64(-5n)],
    ['t.str', meta.str('héllo ▁wörld 🙂')], ['t.str.empty', meta.str('')],
    ['t.strs', meta.strs(['<unk>', '', '▁a', '🙂'])], ['t.f32s', meta.f32s([1.5, -0, 1e-8])],
    ['t.i32s', meta.i32s([-1, 0, 2147483647])], ['t.u32s', meta.u32s([0, 4294967295])], ['t.strs.empty', meta.strs([])],
  ];
  const expected: Record<string, unknown> = {
    'general.architecture': 'llama', 't.u8': 255, 't.i8': -128, 't.u16': 65535, 't.i16': -32768, 't.u32': 4294967295,
    't.i32': -2147483648, 't.f32': Math.fround(0.1), 't.f64': 0.1, 't.bool.true': true, 't.bool.false': false,
    't.u64.small': 12345, 't.u64.big': big, 't.i64': -5, 't.str': 'héllo ▁wörld 🙂', 't.str.empty': '',
    't.strs': ['<unk>', '', '▁a', '🙂'], 't.f32s': new Float32Array([1.5, -0, 1e-8]), 't.i32s': new Int32Array([-1, 0, 2147483647]),
    't.u32s': new Uint32Array([0, 4294967295]), 't.strs.empty': [],
  };
  const rng = createRng(11);
  const shapes: Array<[TensorType, number[]]> = [
    ['F32', [5]], ['F32', [3, 2, 2, 2]], ['F16', [7, 3]], ['BF16', [6, 5]], ['Q8_0', [32, 3]], ['Q8_0', [96, 5]],
    ['Q4_0', [64, 3]], ['Q4_0', [32, 1, 2]],
  ];
  const tensors = shapes.map(([type, ne], i) => ({ name: `t${i}.${type}`, ne, type, data: rng.normals(ne.reduce((a, b) => a * b, 1), 0.5) }));

  it.each([[3, 32], [2, 64], [3, 8]] as const)('version %i, alignment %i', async (version, alignment) => {
    const f = await read(writeGGUF({ metadata, tensors, alignment, version }));
    expect(f.version).toBe(version);
    expect(f.alignment).toBe(alignment);
    const got = Object.fromEntries(f.metadata);
    if (alignment !== 32) expect(got['general.alignment']).toBe(alignment);
    delete got['general.alignment'];
    expect(got).toEqual(expected);
    expect(Object.is(got['t.f32s'] && (got['t.f32s'] as Float32Array)[1], -0)).toBe(true);
    expect(f.dataOffset % alignment).toBe(0);
    expect([...f.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const info = f.tensors.get(t.name)!;
      expect(info.ne).toEqual(t.ne);
      expect(info.type).toBe(t.type);
      expect(info.offset % alignment).toBe(0);
      const bytes = await readTensorBytes(f, info);
      expect(Buffer.compare(bytes, encodeTensorData(t.type, t.data))).toBe(0);
      const x = toF32(info, bytes);
      for (let i = 0; i < x.length; i++) {
        const want = t.type === 'F32' ? t.data[i] : t.type === 'F16' ? f16ToF32(f32ToF16Bits(t.data[i])) : t.type === 'BF16' ? bf16ToF32(f32ToBF16Bits(t.data[i])) : undefined;
        if (want !== undefined) expect(x[i]).toBe(want);
        else expect(Math.abs(x[i] - t.data[i])).toBeLessThan(0.5 * 3 / (t.type === 'Q8_0' ? 127 : 8)); // |x| < 3 std
      }
    }
  });

  it('a file with no tensors and no metadata', async () => {
    const b = writeGGUF({ metadata: [], tensors: [] });
    expect(b.byteLength).toBe(24); // the header alone: no data section to align
    const f = await read(b);
    expect(f.metadata.size).toBe(0);
    expect(f.tensors.size).toBe(0);
  });

  it('is deterministic', () => {
    expect(Buffer.compare(writeGGUF({ metadata, tensors }), writeGGUF({ metadata, tensors }))).toBe(0);
  });
});

describe('reference quantizers', () => {
  it('Q4_0: d = max/-8 with the signed max, q = min(15, trunc(x/d + 8.5))', () => {
    const x = new Float32Array(32);
    x.set([8, -4, -8, 0, 1, -1, 7.9, 3.25]); // max |x| is 8 (positive) -> d = -1
    const b = encodeQ4_0(x);
    expect(f16ToF32(b[0] | (b[1] << 8))).toBe(-1);
    // x*id + 8.5 with id = -1: 8->0.5->0, -4->12.5->12, -8->16.5->15 (clamped), 0->8, 1->7, -1->9, 7.9->0.6->0, 3.25->5.25->5
    const lo = [...b.slice(2, 10)].map((v) => v & 15);
    expect(lo).toEqual([0, 12, 15, 8, 7, 9, 0, 5]);
    expect([...b.slice(2, 18)].map((v) => v >> 4)).toEqual(new Array(16).fill(8)); // elements 16..31 are zero
    const y = toF32({ name: 'x', ne: [32], type: 'Q4_0' }, b);
    expect([...y.slice(0, 8)].map((v) => v + 0)).toEqual([8, -4, -7, 0, 1, -1, 8, 3]); // (8-8)*-1 is -0
  });

  it('Q4_0 of an all-zero block is d = -0 (0/-8, as in ggml) with codes 8', () => {
    const b = encodeQ4_0(new Float32Array(32));
    expect([b[0], b[1]]).toEqual([0x00, 0x80]);
    expect([...b.slice(2)].every((v) => v === 0x88)).toBe(true);
  });
});

describe('writeGGUF rejects bad input with BAD_ARGUMENT', () => {
  const ok = { name: 'w', ne: [32, 2], type: 'F32' as const, data: new Float32Array(64) };
  it.each<[string, () => unknown, RegExp]>([
    ['duplicate key', () => writeGGUF({ metadata: [['a', meta.u32(1)], ['a', meta.u32(2)]], tensors: [] }), /metadata key a appears twice/],
    ['duplicate tensor', () => writeGGUF({ metadata: [], tensors: [ok, ok] }), /tensor w appears twice/],
    ['data length', () => writeGGUF({ metadata: [], tensors: [{ ...ok, data: new Float32Array(10) }] }), /tensor w: ne=\[32, 2\] has 64 elements, data has 10/],
    ['block size', () => writeGGUF({ metadata: [], tensors: [{ ...ok, ne: [16, 4], type: 'Q8_0' }] }), /tensor w \(Q8_0\): ne\[0\] = 16 is not a multiple of the block size 32/],
    ['byte count', () => writeGGUF({ metadata: [], tensors: [{ name: 'w', ne: [32], type: 'Q4_0', bytes: new Uint8Array(17) }] }), /tensor w \(Q4_0, ne=\[32\]\): expected 18 bytes, got 17/],
    ['5 dims', () => writeGGUF({ metadata: [], tensors: [{ ...ok, ne: [2, 2, 2, 2, 4] }] }), /shape \[2, 2, 2, 2, 4\] is not 1 to 4/],
    ['alignment', () => writeGGUF({ metadata: [], tensors: [], alignment: 12 }), /alignment 12 is not a positive multiple of 8/],
    ['alignment key', () => writeGGUF({ metadata: [['general.alignment', meta.u32(64)]], tensors: [], alignment: 32 }), /general.alignment 64 disagrees with alignment 32/],
    ['version', () => writeGGUF({ metadata: [], tensors: [], version: 1 as never }), /version 1 is not 2 or 3/],
    ['u32 range', () => writeGGUF({ metadata: [['k', meta.u32(-1)]], tensors: [] }), /metadata k: -1 is not an integer in \[0, 4294967295\]/],
    ['i32s integer', () => writeGGUF({ metadata: [['k', meta.i32s([1, 2.5])]], tensors: [] }), /metadata k\[1\]: 2.5 is not an integer/],
    ['u64 range', () => writeGGUF({ metadata: [['k', meta.u64(2n ** 64n)]], tensors: [] }), /metadata k: 18446744073709551616 is not an integer/],
  ])('%s', async (_, fn, msg) => {
    await expectEmberError(fn, 'BAD_ARGUMENT', msg);
  });

  it('an unknown tensor type is UNSUPPORTED', async () => {
    await expectEmberError(() => writeGGUF({ metadata: [], tensors: [{ ...ok, type: 'Q9_K' }] }), 'UNSUPPORTED', /tensor w has type Q9_K/);
  });

  it('a type without an encoder is UNSUPPORTED when given values, and written when given its bytes', async () => {
    const iq = { name: 'w', ne: [256, 1], type: 'IQ2_XXS' };
    await expectEmberError(() => writeGGUF({ metadata: [], tensors: [{ ...iq, data: new Float32Array(256) }] }), 'UNSUPPORTED', /IQ2_XXS cannot be encoded/);
    expect(writeGGUF({ metadata: [], tensors: [{ ...iq, bytes: new Uint8Array(66) }] }).byteLength).toBeGreaterThan(66);
  });
});

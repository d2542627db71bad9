/**
 * The GGUF reader on the real shared fixtures (checked against PROVENANCE.md's independent listing)
 * and on corrupt files made by patching bytes of real and written files.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ggmlByteSize } from '../src/gguf/validate.ts';
import { readGGUF, readTensorBytes, type GGUFFile, type GGUFValue } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { sourceFromPath } from '../src/gguf/source_node.ts';
import { meta, writeGGUF } from '../src/gguf/writer.ts';
import { expectEmberError } from './helpers/errors.ts';
import { openShared, readSharedBytes, sharedModelPath } from './helpers/models.ts';
import { readProvenance, type ListedMeta } from './helpers/provenance.ts';

const STORIES = 'stories260K/stories260K.gguf';
const { files: LISTED, digests: DIGESTS } = readProvenance();
const GGUF_FILES = [...LISTED.keys()];

describe('shared fixtures', () => {
  it('PROVENANCE.md lists the files we expect', () => {
    expect(GGUF_FILES).toEqual(expect.arrayContaining([
      STORIES, 'llama-2-tiny-random/llama-2-tiny-random.gguf', 'stories260K-derived/stories260K-Q8_0.gguf',
      'stories260K-derived/stories260K-Q4_0.gguf', 'stories260K-derived/stories260K-F16.gguf', 'vocab/ggml-vocab-llama-spm.gguf',
    ]));
    expect(LISTED.get(STORIES)!.tensors).toHaveLength(48);
    expect(DIGESTS.length).toBeGreaterThanOrEqual(9);
  });

  it.each(DIGESTS.map((d) => [d.file, d] as const))('%s has the size and sha256 in PROVENANCE.md', (_, d) => {
    const bytes = readSharedBytes(d.file);
    expect(bytes.byteLength).toBe(d.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(d.sha256);
  });
});

/** Compares one metadata value with its PROVENANCE.md listing (type, count, and the values it shows). */
function checkListedMeta(v: GGUFValue | undefined, m: ListedMeta): void {
  const ctx = `${m.key} (${m.type} ${m.raw.slice(0, 60)})`;
  expect(v, ctx).toBeDefined();
  switch (m.type) {
    case 'UINT32':
    case 'INT32':
    case 'FLOAT32':
      expect(v, ctx).toBe(Number(m.raw));
      return;
    case 'BOOL':
      expect(v, ctx).toBe(m.raw === 'True');
      return;
    case 'STRING': {
      const s = m.raw.match(/^'([^'\\]*)'$/);
      if (s) expect(v, ctx).toBe(s[1]);
      else expect(typeof v, ctx).toBe('string'); // a long or escaped string the listing truncates
      return;
    }
    case 'ARRAY': {
      const a = m.raw.match(/^\[(STRING|FLOAT32|INT32|UINT32) x (\d+)\] \[(.*)$/);
      expect(a, ctx).not.toBeNull();
      const [, et, n, rest] = a!;
      // The listing cuts long lines; without the closing ']' the last item shown may be cut too.
      const end = rest.indexOf(']');
      const preview = end >= 0 ? rest.slice(0, end) : rest.slice(0, rest.lastIndexOf(','));
      const arr = v as ArrayLike<unknown>;
      expect(arr.length, ctx).toBe(Number(n));
      if (et === 'STRING') {
        expect(Array.isArray(v), ctx).toBe(true);
        const shown = [...preview.matchAll(/'([^'\\]*)'|"([^"\\]*)"/g)].map((x) => x[1] ?? x[2]);
        expect(shown.length, ctx).toBeGreaterThan(0);
        expect(Array.from(arr).slice(0, shown.length), ctx).toEqual(shown);
      } else {
        expect(v, ctx).toBeInstanceOf({ FLOAT32: Float32Array, INT32: Int32Array, UINT32: Uint32Array }[et]!);
        const shown = preview.split(',').map(Number);
        expect(Array.from(arr).slice(0, shown.length), ctx).toEqual(shown);
      }
      return;
    }
    default:
      throw new Error(`listing type ${m.type} for ${m.key} is not handled by this test`);
  }
}

describe('readGGUF on the shared models matches PROVENANCE.md', () => {
  it.each(GGUF_FILES)('%s', async (name) => {
    const L = LISTED.get(name)!;
    const src = await sourceFromPath(sharedModelPath(name));
    try {
      const f = await readGGUF(src);
      expect(src.size).toBe(L.size);
      expect(f.version).toBe(L.version);
      expect(f.metadata.size).toBe(L.nKV);
      expect(f.tensors.size).toBe(L.nTensors);
      expect(f.alignment).toBe(L.alignment);
      expect(f.dataOffset).toBe(L.dataOffset);
      expect([...f.tensors.values()].reduce((a, t) => a + t.numel, 0)).toBe(L.params);
      for (const m of L.metadata) checkListedMeta(f.metadata.get(m.key), m);
      for (const lt of L.tensors) {
        const t = f.tensors.get(lt.name);
        expect(t, lt.name).toBeDefined();
        expect({ type: t!.type, ne: t!.ne, numel: t!.numel, bytes: t!.byteLength, offset: t!.offset }, lt.name)
          .toEqual({ type: lt.type, ne: lt.ne, numel: lt.numel, bytes: lt.bytes, offset: lt.offset });
      }
      // Complete listings give the file's tensor order too.
      if (L.tensors.length === L.nTensors) expect([...f.tensors.keys()]).toEqual(L.tensors.map((t) => t.name));
      if (L.nTensors > 0) expect(Math.max(...[...f.tensors.values()].map((t) => t.offset + t.byteLength))).toBe(L.size);
    } finally {
      await src.close?.();
    }
  });
});

describe('readGGUF spot checks on stories260K', () => {
  it('hyperparameters, vocabulary and tensors', async () => {
    const f = await openShared(STORIES);
    expect(f.tensors.size).toBe(48);
    expect(f.metadata.get('general.architecture')).toBe('llama');
    expect(f.metadata.get('llama.embedding_length')).toBe(64);
    expect(f.metadata.get('llama.feed_forward_length')).toBe(172);
    expect(f.metadata.get('llama.block_count')).toBe(5);
    expect(f.metadata.get('llama.attention.head_count')).toBe(8);
    expect(f.metadata.get('llama.attention.head_count_kv')).toBe(4);
    expect(f.metadata.get('llama.rope.dimension_count')).toBe(8);
    expect(f.metadata.get('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(f.metadata.get('tokenizer.ggml.seperator_token_id')).toBe(4294967295);
    expect(f.metadata.has('llama.rope.freq_base')).toBe(false);
    const tokens = f.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tokens[258]).toBe('<0xFF>');
    expect(f.dataOffset).toBe(14176);
    const emb = f.tensors.get('token_embd.weight')!;
    expect(emb).toMatchObject({ type: 'F32', ne: [64, 512], numel: 32768, byteLength: 131072, offset: 14176 });
    expect(f.tensors.get('blk.0.ffn_down.weight')).toMatchObject({ ne: [172, 64], offset: 370016 });
    expect(f.tensors.get('blk.4.ffn_norm.weight')).toMatchObject({ ne: [64], offset: 1185120 });
    // output.weight is a copy of token_embd.weight in this conversion.
    const a = await readTensorBytes(f, emb);
    const b = await readTensorBytes(f, f.tensors.get('output.weight')!);
    expect(Buffer.compare(a, b)).toBe(0);
  });
});

// ---- corrupt files --------------------------------------------------------------------------

const patchU32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);
const patchU64 = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);
const open = (b: Uint8Array, name = 'patched.gguf') => readGGUF(sourceFromBuffer(b, name));

/** Offset just past the (u64 length + bytes) string `s` in `b`; the string must occur exactly once. */
function afterString(b: Uint8Array, s: string): number {
  const needle = new Uint8Array(8 + Buffer.byteLength(s));
  patchU64(needle, 0, BigInt(Buffer.byteLength(s)));
  needle.set(Buffer.from(s), 8);
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const at = buf.indexOf(needle);
  expect(at, `string ${s} not found`).toBeGreaterThanOrEqual(0);
  expect(buf.indexOf(needle, at + 1), `string ${s} occurs twice`).toBe(-1);
  return at + needle.byteLength;
}

/** A small valid file to corrupt. Returns fresh bytes each call. */
function smallFile(): Uint8Array {
  return writeGGUF({
    metadata: [
      ['general.architecture', meta.str('llama')],
      ['test.key', meta.u32(7)],
      ['test.values', meta.f32s([1, 2, 3])],
    ],
    tensors: [
      { name: 'blk.0.w', ne: [32, 2], type: 'F32', data: new Float32Array(64).fill(0.5) },
      { name: 'blk.0.q', ne: [32, 2], type: 'Q8_0', data: new Float32Array(64).fill(-1) },
    ],
  });
}

/** Field offsets of a tensor info: n_dims, the dims, type, offset. */
function tensorInfo(b: Uint8Array, name: string) {
  const nDims = afterString(b, name);
  const nd = new DataView(b.buffer, b.byteOffset).getUint32(nDims, true);
  const type = nDims + 4 + 8 * nd;
  return { nDims, type, offset: type + 4 };
}

describe('readGGUF rejects corrupt files with a typed error', () => {
  it('the small test file itself is valid', async () => {
    const f = await open(smallFile());
    expect(f.metadata.get('test.key')).toBe(7);
    expect(f.tensors.get('blk.0.q')).toMatchObject({ type: 'Q8_0', ne: [32, 2], byteLength: 68 });
  });

  const real = readSharedBytes(STORIES);
  // Header is 14152 bytes (metadata, then tensor infos), data starts at 14176.
  it.each([
    [0, /0 bytes is too short/],
    [10, /10 bytes is too short/],
    [24, /header is truncated/], // counts end here; the first key is missing
    [30, /header is truncated/], // inside the first key
    [5000, /header is truncated/], // inside tokenizer.ggml.tokens
    [14100, /header is truncated/], // inside the tensor infos
    [14152, /tensor token_embd\.weight needs bytes 14176\.\.145248 but the file has 14152; the file is truncated/],
    [14177, /tensor token_embd\.weight needs bytes .* the file is truncated/],
    [145504, /tensor output\.weight needs bytes .* the file is truncated/],
    [1185375, /tensor blk\.4\.ffn_norm\.weight needs bytes 1185120\.\.1185376 but the file has 1185375/],
  ])('stories260K cut to %i bytes', async (n, msg) => {
    await expectEmberError(() => open(real.slice(0, n), 'cut.gguf'), 'BAD_FILE', msg);
  });

  it('wrong magic', async () => {
    const b = smallFile();
    b.set(Buffer.from('GGML'), 0);
    await expectEmberError(() => open(b), 'BAD_FILE', /not a GGUF file \(magic "GGML", expected "GGUF"\)/);
  });

  it.each([1, 4, 0xffffffff])('GGUF version %i is UNSUPPORTED', async (v) => {
    const b = smallFile();
    patchU32(b, 4, v);
    await expectEmberError(() => open(b), 'UNSUPPORTED', new RegExp(`GGUF version ${v} is not supported`));
  });

  it('GGUF version 2 reads like 3', async () => {
    const b = smallFile();
    patchU32(b, 4, 2);
    expect((await open(b)).version).toBe(2);
  });

  it('IQ2_XXS (a ggml type emberlm does not decode) is UNSUPPORTED and names the tensor', async () => {
    const b = smallFile();
    patchU32(b, tensorInfo(b, 'blk.0.q').type, 16);
    await expectEmberError(() => open(b), 'UNSUPPORTED', /tensor blk\.0\.q has type IQ2_XXS\b.*supported: F32, F16, BF16, Q4_0, .*Q4_K, Q5_K, Q6_K, IQ4_XS\)/);
  });

  it('a type id ggml does not define is UNSUPPORTED by id', async () => {
    const b = smallFile();
    patchU32(b, tensorInfo(b, 'blk.0.q').type, 4); // Q4_2, removed from ggml
    await expectEmberError(() => open(b), 'UNSUPPORTED', /tensor blk\.0\.q has type id 4\b/);
  });

  it('Q4_K rows must hold whole 256-value blocks', async () => {
    const b = smallFile();
    patchU32(b, tensorInfo(b, 'blk.0.q').type, 12);
    await expectEmberError(() => open(b), 'BAD_MODEL', /tensor blk\.0\.q \(Q4_K\) has rows of 32 elements, not a multiple of its block size 256/);
  });

  it('tensor sizes follow each type\'s blocks: Q4_1 in place of Q8_0 takes 40 bytes, Q8_1 (36-byte blocks) 72', async () => {
    expect(ggmlByteSize(3, [32, 2])!.bytes).toBe(40);
    expect(ggmlByteSize(9, [32, 2])!.bytes).toBe(72);
    // a type that lies about the size of the data the offsets lay out is a corrupt file (src/gguf/validate.ts)
    const b = smallFile();
    patchU32(b, tensorInfo(b, 'blk.0.q').type, 3);
    await expectEmberError(() => open(b), 'BAD_FILE', /expected \d+ \(right after tensor blk\.0\.q\)|follow the last tensor's data/);
    patchU32(b, tensorInfo(b, 'blk.0.q').type, 9);
    await expectEmberError(() => open(b), 'UNSUPPORTED', /has type Q8_1/);
  });

  it('absurd string length', async () => {
    const b = smallFile();
    patchU64(b, 24, 1n << 40n); // length of the first key
    await expectEmberError(() => open(b), 'BAD_FILE', /string of 1099511627776 bytes at offset 24 is implausible/);
    patchU64(b, 24, 1n << 63n);
    await expectEmberError(() => open(b), 'BAD_FILE', /string length is 9223372036854775808, which is not a plausible size/);
  });

  it('string length running past the end of the file', async () => {
    const b = smallFile();
    patchU64(b, 24, 100000n);
    await expectEmberError(() => open(b), 'BAD_FILE', /header is truncated/);
  });

  it('tensor data past the end of the file', async () => {
    const b = smallFile();
    patchU64(b, tensorInfo(b, 'blk.0.q').offset, 1n << 20n);
    await expectEmberError(() => open(b), 'BAD_FILE', /tensor blk\.0\.q needs bytes \d+\.\.\d+ but the file has \d+; the file is truncated/);
  });

  it('misaligned tensor offset', async () => {
    const b = smallFile();
    const at = tensorInfo(b, 'blk.0.q').offset;
    patchU64(b, at, new DataView(b.buffer).getBigUint64(at, true) + 4n);
    await expectEmberError(() => open(b), 'BAD_FILE', /tensor blk\.0\.q offset \d+ is not aligned to 32/);
  });

  it('tensor with 5 dimensions', async () => {
    const b = smallFile();
    patchU32(b, tensorInfo(b, 'blk.0.w').nDims, 5);
    await expectEmberError(() => open(b), 'BAD_FILE', /tensor blk\.0\.w has 5 dimensions/);
  });

  it('unknown metadata value type', async () => {
    const b = smallFile();
    patchU32(b, afterString(b, 'test.key'), 99);
    await expectEmberError(() => open(b), 'BAD_FILE', /metadata key test\.key has unknown value type 99/);
  });

  it('a valid file read through a path source gives the same result as from memory', async () => {
    const f1: GGUFFile = await openShared(STORIES);
    const src = await sourceFromPath(sharedModelPath(STORIES));
    const f2 = await readGGUF(src);
    await src.close?.();
    expect([...f2.tensors.values()]).toEqual([...f1.tensors.values()]);
  });
});

/**
 * Bad input through the public Engine: each gets a typed EmberError naming the problem, leaves no
 * GPU memory behind, and the engine (or the device) stays usable afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { EmberError, type ErrorCode } from '../src/errors.ts';
import { writeGGUF, meta, type GGUFToWrite } from '../src/gguf/writer.ts';
import { randomModelFile } from '../models/generate.ts';
import { readSharedBytes } from './helpers/models.ts';
import { testGpu } from './helpers/gpu.ts';
import { gpuBytesInUse } from '../src/gpu/buffers.ts';
import { createGpu } from '../src/gpu/device.ts';
import type { LoadProgress, ProgressCallback } from '../src/loader/progress.ts';

const OPTS = { nEmbd: 64, nLayer: 1, nFf: 96, vocab: 300, seed: 11 };
const GREEDY = { temperature: 0, topK: 0, topP: 1 };

async function expectError(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, 'expected an EmberError').toBeInstanceOf(EmberError);
  expect((e as EmberError).code).toBe(code);
  expect((e as EmberError).message).toMatch(pattern);
}

function edit(f: GGUFToWrite, change: { metadata?: (m: GGUFToWrite['metadata']) => GGUFToWrite['metadata']; tensors?: (t: GGUFToWrite['tensors']) => GGUFToWrite['tensors'] }): Uint8Array {
  return writeGGUF({ ...f, metadata: change.metadata?.(f.metadata) ?? f.metadata, tensors: change.tensors?.(f.tensors) ?? f.tensors });
}

/** Rewrites the ggml type id in a tensor's info record (name, n_dims, dims, type, offset). */
function patchTensorType(file: Uint8Array, name: string, type: number): Uint8Array {
  const b = file.slice();
  const key = new TextEncoder().encode(name);
  for (let i = 8; i < b.length - key.length; i++) {
    if (key.every((c, j) => b[i + j] === c) && new DataView(b.buffer).getUint32(i - 8, true) === key.length) {
      const dv = new DataView(b.buffer);
      const nd = dv.getUint32(i + key.length, true);
      dv.setUint32(i + key.length + 4 + 8 * nd, type, true);
      return b;
    }
  }
  throw new Error(`tensor ${name} not found`);
}

describe('bad input gets a typed error and leaves the engine usable', () => {
  const good = randomModelFile(OPTS);
  const goodBytes = writeGGUF(good);
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(goodBytes, { gpu: await testGpu(), contextLength: 32 });
  });
  afterAll(() => engine?.dispose());

  const load = async (bytes: Uint8Array) => Engine.load(bytes, { gpu: await testGpu(), contextLength: 32 });

  it.each([
    ['truncated in the header', () => goodBytes.subarray(0, 200), 'BAD_FILE', /truncated/],
    ['truncated in the tensor data', () => goodBytes.subarray(0, goodBytes.length - 100), 'BAD_FILE', /truncated/],
    ['wrong magic', () => Uint8Array.from(goodBytes, (b, i) => (i < 4 ? 0x41 : b)), 'BAD_FILE', /not a GGUF file/],
    ['GGUF version 1', () => { const b = goodBytes.slice(); new DataView(b.buffer).setUint32(4, 1, true); return b; }, 'UNSUPPORTED', /version 1/],
    ['unsupported tensor type (IQ2_XXS)', () => patchTensorType(goodBytes, 'blk.0.attn_q.weight', 16), 'UNSUPPORTED', /blk\.0\.attn_q\.weight has type IQ2_XXS/],
    ['missing tensor', () => edit(good, { tensors: (t) => t.filter((x) => x.name !== 'blk.0.ffn_up.weight') }), 'BAD_MODEL', /blk\.0\.ffn_up\.weight is missing/],
    ['mis-shaped tensor', () => edit(good, { tensors: (t) => t.map((x) => (x.name === 'blk.0.attn_k.weight' ? { name: x.name, ne: [64, 16], type: 'F32' as const, data: new Float32Array(64 * 16) } : x)) }), 'BAD_MODEL', /attn_k\.weight has shape \[64, 16\], expected \[64, 32\]/],
    ['unsupported architecture', () => edit(good, { metadata: (m) => m.map(([k, v]) => [k, k === 'general.architecture' ? meta.str('mamba') : v] as const) }), 'UNSUPPORTED', /architecture "mamba"/],
  ] as const)('%s', async (_name, make, code, pattern) => {
    await expectError(load(make()), code, pattern);
    const res = await engine.complete('hello', { ...GREEDY, maxTokens: 4 });
    expect(res.ids.length).toBe(4);
  });

  it('a prompt longer than the context is CONTEXT_OVERFLOW, and the next prompt works', async () => {
    const before = await engine.complete('the cat', { ...GREEDY, maxTokens: 5 });
    const long = Array.from({ length: 40 }, () => 5);
    await expectError(engine.complete(long, GREEDY), 'CONTEXT_OVERFLOW', /40 tokens but the context holds 32/);
    const after = await engine.complete('the cat', { ...GREEDY, maxTokens: 5 });
    expect(after.ids).toEqual(before.ids);
  });

  it('generation stops at the end of the context with finishReason "length"', async () => {
    const res = await engine.complete(Array.from({ length: 30 }, () => 7), { ...GREEDY, maxTokens: 100, stopAtEos: false });
    expect(res.ids.length).toBe(2 + 1); // positions 30 and 31 are filled by the first two generated tokens, plus the last sampled one
    expect(res.finishReason).toBe('length');
  });

  it('bad sampling options are BAD_ARGUMENT', async () => {
    await expectError(engine.complete('x', { topP: 0 }), 'BAD_ARGUMENT', /topP/);
    await expectError(engine.complete([1, 99999], GREEDY), 'BAD_ARGUMENT', /prompt\[1\] must be inside the vocabulary \(an integer token id in 0\.\.299\), got 99999/);
  });

  it('an aborted signal stops generation with finishReason "abort"', async () => {
    const ac = new AbortController();
    const it = engine.generate('once', { ...GREEDY, maxTokens: 50, signal: ac.signal });
    let n = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        expect(r.value.finishReason).toBe('abort');
        break;
      }
      if (++n === 3) ac.abort();
    }
    expect(n).toBe(3);
  });

  it('a load that fails half way frees every GPU buffer it made', async () => {
    const twoLayers = randomModelFile({ ...OPTS, nLayer: 2 });
    const bytes = edit(twoLayers, { tensors: (t) => t.filter((x) => x.name !== 'blk.1.ffn_up.weight') });
    const before = gpuBytesInUse();
    await expectError(load(bytes), 'BAD_MODEL', /blk\.1\.ffn_up\.weight is missing/);
    expect(gpuBytesInUse()).toBe(before);
  });

  it('a load aborted by its signal, before or between layers, is ABORTED naming the input and frees what it made', async () => {
    const bytes = writeGGUF(randomModelFile({ ...OPTS, nLayer: 3 }));
    const gpu = await testGpu();
    const before = gpuBytesInUse();
    await expectError(Engine.load(bytes, { gpu, signal: AbortSignal.abort() }), 'ABORTED', /the load of a model of \d+ bytes was aborted/);
    const ac = new AbortController();
    const layers: string[] = [];
    const onProgress = (_f: number, what: string, e: LoadProgress) => {
      if (e.phase !== 'upload') return;
      layers.push(what);
      if (what === 'layer 1') ac.abort();
    };
    await expectError(Engine.load(bytes, { gpu, contextLength: 32, signal: ac.signal, onProgress }), 'ABORTED', /was aborted/);
    expect(layers.at(-1)).toBe('layer 1'); // nothing was built after the abort
    expect(gpuBytesInUse()).toBe(before);
    const e = await Engine.load(bytes, { gpu, contextLength: 32, signal: new AbortController().signal });
    expect((await e.complete([1, 2, 3], { ...GREEDY, maxTokens: 2 })).ids).toHaveLength(2);
    e.dispose();
  });

  it('a device lost during the load is a DEVICE error naming the input, frees what it made, and a new device loads', async () => {
    const bytes = writeGGUF(randomModelFile({ ...OPTS, nLayer: 3 }));
    const before = gpuBytesInUse();
    // auto: uploads only; int8: converted on the GPU; fp8-e4m3: converted, its flags read back (a readback on a lost
    // device); q4_0: ggml's blocks made on the GPU and read back (shaders/quantize_ggml.wgsl)
    for (const quant of ['auto', 'int8', 'fp8-e4m3', 'q4_0'] as const) {
      for (const at of [1, 4]) {
        const gpu = await createGpu();
        let events = 0;
        const onProgress = () => void (++events === at && gpu.device.destroy());
        await expectError(Engine.load(bytes, { gpu, quant, contextLength: 32, onProgress }), 'DEVICE', /device was lost \(destroyed.*\) while loading a model of \d+ bytes; load again on a new device/);
        expect(gpuBytesInUse(), `${quant} at ${at}`).toBe(before);
      }
      const gpu = await createGpu();
      const e = await Engine.load(bytes, { gpu, quant, contextLength: 32 });
      expect((await e.complete([1, 2, 3], { ...GREEDY, maxTokens: 2 })).ids).toHaveLength(2);
      await e.dispose();
      gpu.device.destroy();
    }
  });

  it('a device lost or an abort while a load precompiles (the end of a load on a CPU adapter) ends it as at any other step', async () => {
    const bytes = writeGGUF(randomModelFile({ ...OPTS, nLayer: 2 }));
    const before = gpuBytesInUse();
    const compiling = (e: LoadProgress) => e.phase === 'compile' && e.total !== null;
    const gpu = await createGpu();
    const lost: ProgressCallback = (_f, _w, e) => void (compiling(e) && e.loaded === 1 && gpu.device.destroy());
    await expectError(Engine.load(bytes, { gpu, contextLength: 32, precompile: true, onProgress: lost }), 'DEVICE', /device was lost \(destroyed.*\) while loading/);
    expect(gpuBytesInUse()).toBe(before);
    const fresh = await createGpu();
    const ac = new AbortController();
    let compiled = 0;
    const abort: ProgressCallback = (_f, _w, e) => void (compiling(e) && ++compiled === 1 && ac.abort());
    await expectError(Engine.load(bytes, { gpu: fresh, contextLength: 32, precompile: true, signal: ac.signal, onProgress: abort }), 'ABORTED', /was aborted/);
    expect(compiled).toBe(1); // no pipeline was taken after the abort
    expect(gpuBytesInUse()).toBe(before);
    const e = await Engine.load(bytes, { gpu: fresh, contextLength: 32, precompile: true });
    expect((await e.complete([1, 2, 3], { ...GREEDY, maxTokens: 2 })).ids).toHaveLength(2);
    await e.dispose();
    fresh.device.destroy();
  });

  it("non-finite logits end the request with BAD_MODEL naming the position, keeping the tokens produced; the engine serves on", async () => {
    const file = randomModelFile({ ...OPTS, nLayer: 2 });
    const prompt = [1, 2, 3];
    const clean = await Engine.load(writeGGUF(file), { gpu: await testGpu(), contextLength: 32 });
    const ids = (await clean.complete(prompt, { ...GREEDY, maxTokens: 6, stopAtEos: false })).ids;
    await clean.dispose();
    // The third generated token's embedding row poisoned: the logits go NaN once that token is read back in.
    const poisoned = ids[2];
    expect([...prompt, ids[0], ids[1]]).not.toContain(poisoned);
    const tensors = file.tensors.map((t) => {
      if (t.name !== 'token_embd.weight' || !('data' in t)) return t;
      const data = Float32Array.from(t.data as Float32Array);
      data[poisoned * OPTS.nEmbd + 7] = NaN;
      return { ...t, data };
    });
    const e = await Engine.load(writeGGUF({ ...file, tensors }), { gpu: await testGpu(), contextLength: 32 });
    try {
      for (const decodeAhead of [1, 3]) {
        e.tuning.decodeAhead = decodeAhead;
        const err = await e.complete(prompt, { ...GREEDY, maxTokens: 6, stopAtEos: false }).catch((x: unknown) => x);
        expect(err, `decodeAhead ${decodeAhead}`).toBeInstanceOf(EmberError);
        expect((err as EmberError).code).toBe('BAD_MODEL');
        expect((err as EmberError).message).toMatch(/the model's logits at position 5 are not finite \(NaN or infinity\)/);
        expect((err as EmberError).details.ids).toEqual(ids.slice(0, 3));
        expect((await e.complete(prompt, { ...GREEDY, maxTokens: 2, stopAtEos: false })).ids).toEqual(ids.slice(0, 2));
      }
    } finally {
      await e.dispose();
    }
  });

  it("progress reports each pipeline compiled ('compile'), and none when the device has them already", async () => {
    const gpu = await createGpu();
    try {
      const bytes = writeGGUF(randomModelFile(OPTS));
      const phases = async () => {
        const events: LoadProgress[] = [];
        (await Engine.load(bytes, { gpu, contextLength: 32, onProgress: (_f, _w, e) => events.push(e) })).dispose();
        return events;
      };
      const compiles = (await phases()).filter((e) => e.phase === 'compile');
      expect(compiles.length).toBeGreaterThan(3);
      expect(compiles.map((e) => e.loaded)).toEqual(compiles.map((_, i) => i + 1));
      expect(compiles.map((e) => e.what)).toEqual(expect.arrayContaining([expect.stringMatching(/^attention/), expect.stringMatching(/^sample/)]));
      expect((await phases()).filter((e) => e.phase === 'compile')).toEqual([]);
    } finally {
      gpu.device.destroy();
    }
  });

  it('dispose frees every GPU buffer of a model', async () => {
    const before = gpuBytesInUse();
    const e = await Engine.load(readSharedBytes('stories260K/stories260K.gguf'), { gpu: await testGpu(), contextLength: 64 });
    expect(gpuBytesInUse()).toBeGreaterThan(before + 1_000_000);
    await e.dispose(); // resolves once the buffers are freed (at once here: nothing runs)
    expect(gpuBytesInUse()).toBe(before);
  });
});

/**
 * Files that lie: each is rejected at load by the one validator of its kind (src/model/validate.ts for
 * hyper-parameters from GGUF or config.json, src/gguf/validate.ts for the GGUF layout, the safetensors
 * reader for its header) with a typed error naming the field, what was expected and what was found.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { meta, writeGGUF, type GGUFToWrite, type MetaValue } from '../src/gguf/writer.ts';
import { configFromHF } from '../src/hf/config.ts';
import { readSafetensors } from '../src/hf/safetensors.ts';
import { encodeSafetensors } from '../src/hf/safetensors_writer.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { readGGUF } from '../src/gguf/reader.ts';
import { configFromGGUF } from '../src/model/config.ts';
import { gpuBytesInUse } from '../src/gpu/buffers.ts';
import { printable } from '../src/util/printable.ts';
import { randomModelFile } from '../models/generate.ts';
import { randomHFModel, writeHFModel } from '../models/generate_hf.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';

const good = randomModelFile({ nEmbd: 64, nLayer: 1, nFf: 96, vocab: 300, seed: 5 });
const load = async (bytes: Uint8Array) => Engine.load(bytes, { gpu: await testGpu(), contextLength: 32 });

/** The model with metadata key `key` set to `value` (added when missing). */
function withMeta(key: string, value: MetaValue, f: GGUFToWrite = good): Uint8Array {
  const has = f.metadata.some(([k]) => k === key);
  const metadata = has ? f.metadata.map(([k, v]) => [k, k === key ? value : v] as const) : [...f.metadata, [key, value] as const];
  return writeGGUF({ ...f, metadata });
}

describe('GGUF hyper-parameters', () => {
  it.each([
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(-1), /layer_norm_rms_epsilon is -1; expected a finite number above 0/],
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(Infinity), /layer_norm_rms_epsilon is Infinity; expected a finite number above 0/],
    ['llama.attention.layer_norm_rms_epsilon', meta.f32(NaN), /layer_norm_rms_epsilon is NaN; expected a finite number above 0/],
    ['llama.rope.freq_base', meta.f32(0), /rope\.freq_base is 0; expected a finite number above 0/],
    ['llama.rope.freq_base', meta.f32(-1), /rope\.freq_base is -1;/],
    ['llama.rope.freq_base', meta.f32(NaN), /rope\.freq_base is NaN;/],
    ['llama.block_count', meta.u32(100_000_000), /block_count is 100000000; expected an integer from 1 to 1024/],
    ['llama.attention.head_count_kv', meta.u32(3), /head_count_kv is 3; expected a divisor of the 4 attention heads/],
    ['llama.rope.dimension_count', meta.u32(17), /rope\.dimension_count is 17; expected an integer from 1 to 16/],
  ] as const)('%s = %o', async (key, value, pattern) => {
    const e = await expectEmberError(() => load(withMeta(key, value)), 'BAD_MODEL', pattern);
    expect(e.message).toContain(`metadata key ${key}`);
  });

  // No GPU: configFromGGUF alone. Before the range check came first, the per-layer window list was
  // built from these counts and Node died of heap exhaustion instead of raising BAD_MODEL.
  it.each([2 ** 30, 2 ** 31, 2 ** 32 - 1])('llama.block_count = %d is refused before anything per layer is built', async (n) => {
    const f = await readGGUF(sourceFromBuffer(withMeta('llama.block_count', meta.u32(n)), 'huge.gguf'));
    await expectEmberError(() => configFromGGUF(f), 'BAD_MODEL', new RegExp(`huge\\.gguf: metadata key llama\\.block_count is ${n}; expected an integer from 1 to 1024`));
  });

  it.each([0, NaN, -1, Infinity])('linear RoPE factor %s', async (factor) => {
    const f = { ...good, metadata: [...good.metadata, ['llama.rope.scaling.type', meta.str('linear')] as const] };
    await expectEmberError(() => load(withMeta('llama.rope.scaling.factor', meta.f32(factor), f)), 'BAD_MODEL', new RegExp(`rope\\.scaling\\.factor is ${factor}; expected a finite number above 0`));
  });

  it('YaRN from GGUF as llama.cpp reads it: betas 32 and 1, cos and sin times attn_factor and 1 + 0.1 ln(factor)', async () => {
    const yarn = { ...good, metadata: [...good.metadata, ['llama.rope.scaling.type', meta.str('yarn')] as const, ['llama.rope.scaling.factor', meta.f32(4)] as const] };
    const read = async (f: GGUFToWrite) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(f), 'yarn.gguf'))).ropeScaling;
    const plain = await read(yarn);
    expect(plain).toMatchObject({ type: 'yarn', factor: 4, originalContext: configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(good)))).contextTrain, betaFast: 32, betaSlow: 1, truncate: true });
    expect(plain.attnFactor).toBeCloseTo(1 + 0.1 * Math.log(4), 6);
    const given = await read({ ...yarn, metadata: [...yarn.metadata, ['llama.rope.scaling.original_context_length', meta.u32(2048)] as const, ['llama.rope.scaling.attn_factor', meta.f32(0.5)] as const] });
    expect(given).toMatchObject({ originalContext: 2048 });
    expect(given.attnFactor).toBeCloseTo(0.5 * (1 + 0.1 * Math.log(4)), 6);
    await expectEmberError(() => load(withMeta('llama.rope.scaling.original_context_length', meta.f32(-1), yarn)), 'BAD_MODEL', /rope\.scaling\.original_context_length is -1; expected a finite number above 0/);
    await expectEmberError(() => load(withMeta('llama.rope.scaling.attn_factor', meta.f32(NaN), yarn)), 'BAD_MODEL', /rope\.scaling\.attn_factor is NaN; expected a finite number above 0/);
  });

  it('granite from GGUF as llama.cpp reads it: logit_scale required, a scale of 0 or none is 1', async () => {
    const granite = { ...good, metadata: good.metadata.map(([k, v]) => [k.replace(/^llama\./, 'granite.'), k === 'general.architecture' ? meta.str('granite') : v] as const) };
    const read = async (f: GGUFToWrite) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(f), 'granite.gguf')));
    await expectEmberError(() => read(granite), 'BAD_MODEL', /granite\.gguf: metadata key granite\.logit_scale is missing/);
    const scaled = { ...granite, metadata: [...granite.metadata, ['granite.logit_scale', meta.f32(8)] as const, ['granite.residual_scale', meta.f32(0.25)] as const, ['granite.embedding_scale', meta.f32(0)] as const] };
    expect(await read(scaled)).toMatchObject({ arch: 'granite', logitScale: 8, residualScale: 0.25, embedScale: 1, ropeNeox: false });
    await expectEmberError(() => load(withMeta('granite.residual_scale', meta.f32(-2), scaled)), 'BAD_MODEL', /metadata key granite\.residual_scale is -2; expected a finite number above 0/);
  });

  it('olmo2 from GGUF as llama.cpp reads it: no pre-norms, q/k norms over all heads; with a window, 3 of 4 layers rotated unscaled', async () => {
    const olmo = { ...good, metadata: good.metadata.map(([k, v]) => [k.replace(/^llama\./, 'olmo2.'), k === 'general.architecture' ? meta.str('olmo2') : v] as const) };
    const read = async (f: GGUFToWrite) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(f), 'olmo2.gguf')));
    const plain = await read(olmo);
    expect(plain).toMatchObject({ arch: 'olmo2', preNorms: false, qkNormAllHeads: true, ropeNeox: true, ropeBaseLocal: null });
    expect(plain.layerWindow.every((w) => w === 0)).toBe(true);
    const fourLayers = olmo.metadata.map(([k, v]) => [k, k === 'olmo2.block_count' ? meta.u32(4) : v] as const); // the config alone: no tensors read
    const swa = await read({ ...olmo, metadata: [...fourLayers, ['olmo2.attention.sliding_window', meta.u32(64)] as const] });
    expect(swa.layerWindow).toEqual([64, 64, 64, 0]);
    expect(swa.ropeBaseLocal).toBe(plain.ropeBase);
  });

  it('head_count_kv one a layer (llama.cpp\'s converter writes Granite 4.0\'s dense models so): the same count everywhere', async () => {
    const nLayer = configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(good)))).nLayer;
    const perLayer = (kv: number[]) => ({ ...good, metadata: [...good.metadata.filter(([k]) => k !== 'llama.attention.head_count_kv'), ['llama.attention.head_count_kv', meta.u32s(kv)] as const] });
    const nKv = configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(good)))).nKv;
    expect(configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(perLayer(Array(nLayer).fill(nKv))))))).toMatchObject({ nKv, layerConv: [] });
    await expectEmberError(async () => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(perLayer([...Array(nLayer).fill(nKv), nKv])), 'kv.gguf'))), 'BAD_MODEL', /head_count_kv has \d+ entries; expected \d+ \(one per layer\)/);
  });

  it('mistral3 from GGUF as llama.cpp reads it: temperature_scale over the YaRN original context, its betas and log multiplier', async () => {
    const m3 = { ...good, metadata: good.metadata.map(([k, v]) => [k.replace(/^llama\./, 'mistral3.'), k === 'general.architecture' ? meta.str('mistral3') : v] as const) };
    const read = async (extra: (readonly [string, MetaValue])[]) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF({ ...m3, metadata: [...m3.metadata, ...extra] }), 'm3.gguf')));
    const yarn = [['mistral3.rope.scaling.type', meta.str('yarn')], ['mistral3.rope.scaling.factor', meta.f32(16)], ['mistral3.rope.scaling.original_context_length', meta.u32(16384)]] as const;
    expect(await read([])).toMatchObject({ arch: 'mistral3', ropeNeox: false, attnTemperature: null });
    const c = await read([...yarn, ['mistral3.attention.temperature_scale', meta.f32(0.5)], ['mistral3.rope.scaling.yarn_log_multiplier', meta.f32(1)], ['mistral3.rope.scaling.yarn_beta_fast', meta.f32(16)]]);
    expect(c.attnTemperature).toEqual({ beta: 0.5, floor: 16384 });
    expect(c.ropeScaling).toMatchObject({ type: 'yarn', factor: 16, betaFast: 16, betaSlow: 1, attnFactor: 1 }); // mscale(16) / mscale(16, 1)
    expect((await read([...yarn])).ropeScaling.attnFactor).toBeCloseTo(1 + 0.1 * Math.log(16), 6); // no multiplier: llama.cpp's 1 + 0.1 ln(factor)
    await expectEmberError(() => read([['mistral3.attention.temperature_scale', meta.f32(NaN)]]), 'BAD_MODEL', /temperature_scale is NaN; expected a finite number/);
  });

  it('lfm2 from GGUF as llama.cpp reads it: a head_count_kv of 0 marks a short-convolution layer; shortconv.l_cache required', async () => {
    const lfm2 = { ...good, metadata: good.metadata.map(([k, v]) => [k.replace(/^llama\./, 'lfm2.'), k === 'general.architecture' ? meta.str('lfm2') : v] as const) };
    const read = async (f: GGUFToWrite) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(f), 'lfm2.gguf')));
    const withKv = (kv: number[], extra: (readonly [string, MetaValue])[] = [['lfm2.shortconv.l_cache', meta.u32(3)]]) => ({
      ...lfm2, metadata: [...lfm2.metadata.filter(([k]) => k !== 'lfm2.attention.head_count_kv' && k !== 'lfm2.block_count'), ['lfm2.block_count', meta.u32(kv.length)] as const, ['lfm2.attention.head_count_kv', meta.u32s(kv)] as const, ...extra],
    });
    const nKv = configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(good)))).nKv;
    expect(await read(withKv([0, nKv, 0]))).toMatchObject({ arch: 'lfm2', layerConv: [true, false, true], convKernel: 3, nKv, ropeNeox: true });
    await expectEmberError(() => read(withKv([0, nKv], [])), 'BAD_MODEL', /metadata key lfm2\.shortconv\.l_cache is missing/);
    await expectEmberError(() => read(withKv([0, nKv], [['lfm2.shortconv.l_cache', meta.u32(0)]])), 'BAD_MODEL', /lfm2\.shortconv\.l_cache is 0; expected an integer from 1 to 8/);
    await expectEmberError(() => read(withKv([nKv, 2 * nKv])), 'UNSUPPORTED', /head_count_kv differs between attention layers/);
  });

  it('granitehybrid from GGUF as llama.cpp reads it: Granite with Mamba-2 layers where head_count_kv is 0, their ssm.* keys, RoPE by rope.scaling.finetuned', async () => {
    const gh = { ...good, metadata: good.metadata.map(([k, v]) => [k.replace(/^llama\./, 'granitehybrid.'), k === 'general.architecture' ? meta.str('granitehybrid') : v] as const) };
    const nKv = configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF(good)))).nKv;
    const ssm = (patch: Record<string, number> = {}) => Object.entries({ conv_kernel: 4, inner_size: 96, state_size: 16, time_step_rank: 6, group_count: 1, ...patch })
      .map(([k, v]) => [`granitehybrid.ssm.${k}`, meta.u32(v)] as const);
    const read = async (extra: (readonly [string, MetaValue])[]) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF({
      ...gh, metadata: [...gh.metadata.filter(([k]) => k !== 'granitehybrid.attention.head_count_kv' && k !== 'granitehybrid.block_count'),
        ['granitehybrid.block_count', meta.u32(3)] as const, ['granitehybrid.attention.head_count_kv', meta.u32s([0, nKv, 0])] as const, ...extra],
    }), 'gh.gguf')));
    expect(await read(ssm())).toMatchObject({
      arch: 'granite', layerSsm: [true, false, true], layerConv: [], layerRope: [true, true, true], ropeNeox: false,
      ssm: { nHead: 6, headDim: 16, dState: 16, nGroup: 1, convKernel: 4, dtMin: 0, dtMax: Infinity },
    });
    expect((await read([...ssm(), ['granitehybrid.rope.scaling.finetuned', meta.bool(false)]])).layerRope).toEqual([false, false, false]);
    await expectEmberError(() => read(ssm({ inner_size: 100 })), 'BAD_MODEL', /granitehybrid\.ssm\.inner_size over granitehybrid\.ssm\.time_step_rank is 16\.6+\d*; expected an integer/);
    await expectEmberError(() => read(ssm({ group_count: 2 })), 'UNSUPPORTED', /granitehybrid\.ssm\.group_count is 2; emberlm runs Mamba-2 mixers of one group/);
    // (Granite 4.0-H-Tiny's experts are read, test/moe_models.test.ts; their keys must be whole)
    await expectEmberError(() => read([...ssm(), ['granitehybrid.expert_count', meta.u32(64)]]), 'BAD_MODEL', /granitehybrid\.expert_used_count is missing/);
    await expectEmberError(() => read([...ssm(), ['granitehybrid.expert_count', meta.u32(64)], ['granitehybrid.expert_used_count', meta.u32(6)], ['granitehybrid.expert_shared_feed_forward_length', meta.i32(-1)]]), 'BAD_MODEL', /expert_shared_feed_forward_length is -1/);
    await expectEmberError(() => read(ssm({ state_size: 1024 })), 'BAD_MODEL', /granitehybrid\.ssm\.state_size is 1024; expected an integer from 1 to 256/);
    await expectEmberError(() => read(ssm().filter(([k]) => !k.endsWith('conv_kernel'))), 'BAD_MODEL', /metadata key granitehybrid\.ssm\.conv_kernel is missing/);
    await expectEmberError(() => read([...ssm(), ['granitehybrid.rope.scaling.finetuned', meta.u32(1)]]), 'BAD_MODEL', /rope\.scaling\.finetuned should be a bool, got number "1"/);
  });

  it('falcon-h1 from GGUF as llama.cpp reads it: attention and a Mamba-2 mixer in every layer, its multipliers in the weights, the gated norm where ssm_norm is', async () => {
    const fh = { ...good, metadata: good.metadata.map(([k, v]) => [k.replace(/^llama\./, 'falcon-h1.'), k === 'general.architecture' ? meta.str('falcon-h1') : v] as const) };
    const ssm = Object.entries({ conv_kernel: 4, inner_size: 64, state_size: 16, time_step_rank: 4, group_count: 1 }).map(([k, v]) => [`falcon-h1.ssm.${k}`, meta.u32(v)] as const);
    const read = async (extra: (readonly [string, MetaValue])[], tensors = fh.tensors) => configFromGGUF(await readGGUF(sourceFromBuffer(writeGGUF({ ...fh, metadata: [...fh.metadata, ...extra], tensors }), 'fh1.gguf')));
    const c = await read(ssm);
    expect(c).toMatchObject({ arch: 'falcon-h1', ssmBesideAttention: true, mup: null, ropeNeox: true, ssm: { nHead: 4, headDim: 16, gatedNorm: false, inScales: [1, 1, 1, 1, 1] } });
    expect(c.layerSsm.every(Boolean)).toBe(true);
    const norm = { name: 'blk.0.ssm_norm.weight', ne: [64, 1], type: 'F32' as const, data: new Float32Array(64).fill(1) };
    expect((await read(ssm, [...fh.tensors, norm])).ssm).toMatchObject({ gatedNorm: true });
    await expectEmberError(() => read(ssm.filter(([k]) => !k.endsWith('state_size'))), 'BAD_MODEL', /metadata key falcon-h1\.ssm\.state_size is missing/);
  });

  it.each([NaN, Infinity, 0])('a rope_freqs tensor holding %s', async (v) => {
    const freqs = new Float32Array(8).fill(1);
    freqs[3] = v;
    const f = { ...good, tensors: [...good.tensors, { name: 'rope_freqs.weight', ne: [8], type: 'F32' as const, data: freqs }] };
    const before = gpuBytesInUse();
    await expectEmberError(() => load(writeGGUF(f)), 'BAD_MODEL', new RegExp(`rope_freqs\\.weight element 3 is ${v}; expected a finite number above 0`));
    expect(gpuBytesInUse()).toBe(before);
  });

  it('an architecture name with control bytes is printed escaped', async () => {
    await expectEmberError(() => load(withMeta('general.architecture', meta.str('llama\0'))), 'UNSUPPORTED', /architecture "llama\\x00" is not supported/);
  });
});

/** The byte offsets of one tensor info record (name, n_dims, dims, type, offset) in a GGUF file. */
function tensorInfo(b: Uint8Array, name: string): { type: number; offset: number } {
  const key = new TextEncoder().encode(name);
  const dv = new DataView(b.buffer, b.byteOffset);
  for (let i = 8; i < b.length - key.length; i++) {
    if (key.every((c, j) => b[i + j] === c) && dv.getUint32(i - 8, true) === key.length && b[i + key.length + 4] !== 0x2e) {
      const nd = dv.getUint32(i + key.length, true);
      if (nd < 1 || nd > 4) continue;
      const type = i + key.length + 4 + 8 * nd;
      return { type, offset: type + 4 };
    }
  }
  throw new Error(`tensor ${name} not found`);
}

describe('GGUF layout', () => {
  const bytes = writeGGUF(good);
  const names = good.tensors.map((t) => t.name);

  it('a tensor whose type lies about its size (F32 said to be F16)', async () => {
    const b = bytes.slice();
    new DataView(b.buffer).setUint32(tensorInfo(b, names[1]).type, 1, true);
    await expectEmberError(() => load(b), 'BAD_FILE', new RegExp(`tensor ${names[2].replace(/\./g, '\\.')} starts at data offset \\d+, expected \\d+ .*gap`));
  });

  it('overlapping tensor offsets', async () => {
    const b = bytes.slice();
    const dv = new DataView(b.buffer);
    dv.setBigUint64(tensorInfo(b, names[2]).offset, dv.getBigUint64(tensorInfo(b, names[1]).offset, true), true);
    await expectEmberError(() => load(b), 'BAD_FILE', new RegExp(`tensor ${names[2].replace(/\./g, '\\.')} starts at data offset \\d+, inside tensor ${names[1].replace(/\./g, '\\.')}.*overlap`));
  });

  it('a general.alignment that lies (8 where the data is aligned to 32)', async () => {
    // With 8, the data section would start up to 24 bytes before where it is: every tensor read from the
    // wrong bytes. Header lengths vary with a padding key; where 8 and 32 agree the file is still honest.
    let caught = 0;
    for (let pad = 0; pad < 4; pad++) {
      const honest = writeGGUF({ ...good, metadata: [...good.metadata, ['general.pad', meta.str('x'.repeat(8 * pad + 1))], ['general.alignment', meta.u32(32)]] });
      const lie = honest.slice();
      new DataView(lie.buffer).setUint32(findKey(lie, 'general.alignment') + 4, 8, true);
      const r = await load(lie).then((e) => (e.dispose(), null), (e: unknown) => e);
      if (r === null) continue;
      expect((r as Error).message).toMatch(/bytes follow the last tensor's data, expected fewer than the alignment 8; general\.alignment or a tensor offset is wrong/);
      caught++;
    }
    expect(caught).toBeGreaterThanOrEqual(3);
  });

  it('tensor data past the end of the file', async () => {
    await expectEmberError(() => load(bytes.subarray(0, bytes.length - 64)), 'BAD_FILE', /needs bytes \d+\.\.\d+ but the file has \d+; the file is truncated/);
  });

  it('a corrupted name length quotes at most a short, escaped piece of the name', async () => {
    const b = bytes.slice();
    const at = tensorInfo(b, names[0]).type - 4 - 8 * 2 - names[0].length - 8; // the name's u64 length
    new DataView(b.buffer).setBigUint64(at, 5000n, true);
    const e = await load(b).then(() => null, (err: Error) => err);
    expect(e).not.toBeNull();
    expect(e!.message.length).toBeLessThan(700);
    expect(e!.message).not.toMatch(/[\x00-\x08\x0e-\x1f]/);
  });
});

function findKey(b: Uint8Array, key: string): number {
  const k = new TextEncoder().encode(key);
  for (let i = 0; i < b.length - k.length; i++) if (k.every((c, j) => b[i + j] === c)) return i + k.length;
  throw new Error(`key ${key} not found`);
}

describe('config.json hyper-parameters (the same validator)', () => {
  const base = () => ({ ...randomHFModel().config });
  it.each([
    [{ num_hidden_layers: 1e8 }, /field num_hidden_layers is 100000000; expected an integer from 1 to 1024/],
    [{ rms_norm_eps: -1 }, /field rms_norm_eps is -1; expected a finite number above 0/],
    [{ rope_theta: 0 }, /field rope_theta is 0; expected a finite number above 0/],
    [{ rope_theta: Infinity }, /field rope_theta is Infinity; expected a finite number above 0/],
    [{ rope_scaling: { rope_type: 'linear', factor: -1 } }, /field rope_scaling\.factor is -1; expected a finite number above 0/],
    [{ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, /high_freq_factor is 4; expected a number above/],
  ] as const)('%o', async (patch, pattern) => {
    await expectEmberError(() => configFromHF({ ...base(), ...patch }, 'config.json'), 'BAD_MODEL', pattern);
  });

  it('num_hidden_layers 1e8 through Engine.load fails before anything is built', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emberlm-val-'));
    try {
      const m = await writeHFModel(dir);
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...m.config, num_hidden_layers: 1e8 }));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'BAD_MODEL', /num_hidden_layers is 100000000/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('safetensors', () => {
  const t = (name: string, n: number) => ({ name, dtype: 'F32', shape: [n], bytes: new Uint8Array(4 * n) });
  it('overlapping data_offsets', async () => {
    const file = encodeSafetensors([t('a', 8), t('b', 8)]);
    const hlen = Number(new DataView(file.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(file.subarray(8, 8 + hlen)).replace('"data_offsets":[32,64]', '"data_offsets":[16,48]');
    const b = file.slice();
    b.set(new TextEncoder().encode(header), 8);
    await expectEmberError(() => readSafetensors(sourceFromBuffer(b, 'm.safetensors')), 'BAD_FILE', /tensor b \(data_offsets \[16, 48\]\) overlaps tensor a \(\[0, 32\]\)/);
  });

  it('a model.safetensors that is a directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emberlm-val-'));
    try {
      await writeHFModel(dir);
      await rm(join(dir, 'model.safetensors'));
      await mkdir(join(dir, 'model.safetensors'));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'BAD_FILE', /model\.safetensors.*is a directory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('printable', () => {
  it('escapes control bytes and truncates', () => {
    expect(printable('llama\0')).toBe('"llama\\x00"');
    expect(printable('x'.repeat(1000)).length).toBeLessThan(120);
  });
});

describe('load options', () => {
  it.each(['autotune', 'fuseDecode', 'wideAttention'])('%s that is not a boolean is BAD_ARGUMENT, before anything is built', async (name) => {
    const gpu = await testGpu();
    const before = gpuBytesInUse();
    await expectEmberError(() => Engine.load(writeGGUF(good), { gpu, contextLength: 32, [name]: 'yes' }), 'BAD_ARGUMENT', new RegExp(`${name} must be true or false, got "yes"`));
    expect(gpuBytesInUse()).toBe(before);
  });
});

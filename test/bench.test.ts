/**
 * The benchmark harness: its arithmetic against hand-computed cases, the synthetic GGUF writer,
 * the bandwidth probe, and a whole (tiny) bench run on stories260K with every field checked for
 * type and sanity. No timing thresholds: speeds only have to be positive and finite.
 */
import { describe, expect, it } from 'vitest';
import { latency, median, percentile, sig, spread } from '../src/bench/stats.ts';
import { formatBench, formatEmbedSpeed, roundDeep } from '../src/bench/report.ts';
import { runEmbedSpeed } from '../src/bench/embed_speed.ts';
import { PROBE_PARAMS, PROBE_SOURCE, probeBandwidth } from '../src/bench/probe.ts';
import { SYNTHETIC_MODELS, syntheticGGUF, type SyntheticShape } from '../src/bench/synthetic.ts';
import { ggmlDequantize } from '../src/quant/ggml/index.ts';
import { benchPrompt, weightBytesPerToken } from '../src/bench/harness.ts';
import { benchLlamaCpp, loadNodeLlamaCpp } from '../src/bench/peer.ts';
import { watchCompiles } from '../src/gpu/pipelines.ts';
import { parseAttention, parseConvert, parseFuse, parsePeer, parseQuant, parseScales, runBench, type BenchCommand } from '../src/cli/bench.ts';
import { parseWgslStruct } from '../src/gpu/uniforms.ts';
import { waitSpins, type Gpu } from '../src/gpu/device.ts';
import { readGGUF, readTensorBytes } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { toF32 } from '../src/gguf/convert.ts';
import { Engine } from '../src/engine.ts';
import { embeddingGemmaFolder, sharedModelPath } from './helpers/models.ts';
import { testGpu } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';

describe('percentiles (linear interpolation between closest ranks, numpy default)', () => {
  const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5]; // 1..10, unsorted
  it('hand-computed cases', () => {
    // rank h = (n-1)p/100: p50 -> 4.5 -> 5.5; p90 -> 8.1 -> 9.1; p99 -> 8.91 -> 9.91
    expect(percentile(ten, 50)).toBeCloseTo(5.5, 12);
    expect(percentile(ten, 90)).toBeCloseTo(9.1, 12);
    expect(percentile(ten, 99)).toBeCloseTo(9.91, 12);
    expect(percentile(ten, 0)).toBe(1);
    expect(percentile(ten, 100)).toBe(10);
    expect(percentile([4, 1, 3], 50)).toBe(3); // odd count: the middle value
    expect(percentile([2, 4], 25)).toBe(2.5);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });
  it('spread, latency and the input left unsorted', () => {
    const xs = [3, 1, 2];
    expect(spread(xs)).toEqual({ median: 2, min: 1, max: 3 });
    expect(xs).toEqual([3, 1, 2]);
    const l = latency(ten);
    expect([l.p50, l.p90, l.p99].map((x) => +x.toFixed(9))).toEqual([5.5, 9.1, 9.91]);
  });
  it('rejects a percentile outside [0, 100]', async () => {
    await expectEmberError(() => percentile([1], 101), 'BAD_ARGUMENT', /101/);
  });
  it('rounding for the report', () => {
    expect(sig(123456, 3)).toBe(123000);
    expect(sig(0.000123456, 2)).toBe(0.00012);
    expect(roundDeep({ a: 1.23456, b: [2.34567, 7], c: 'x' }, 3)).toEqual({ a: 1.23, b: [2.35, 7], c: 'x' });
  });
});

describe('synthetic models', () => {
  it('have the parameter counts of the real models', () => {
    // SmolLM2-135M, Qwen2.5-0.5B and Llama-3.2-1B as published (tied embeddings).
    expect(syntheticGGUF('smollm2-135m', 'Q8_0').params).toBe(134_515_008);
    expect(syntheticGGUF('qwen2.5-0.5b', 'Q8_0').params).toBe(494_032_768);
    expect(syntheticGGUF('llama-3.2-1b', 'Q8_0').params).toBe(1_235_814_400);
    expect(syntheticGGUF('qwen3-0.6b', 'Q8_0').params).toBe(596_049_920); // 0.44B without the embedding, as Qwen3-0.6B's card says
  });

  const tiny: SyntheticShape = { ...SYNTHETIC_MODELS['qwen2.5-0.5b'], nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 128 };
  /** A synthetic file's chunks, joined. */
  const joined = (g: ReturnType<typeof syntheticGGUF>) => {
    const parts = [...g.chunks()];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  };
  const bytesOf = (type: string) => {
    const g = syntheticGGUF(tiny, type, 3);
    return { g, out: joined(g) };
  };

  it.each(['F32', 'F16', 'Q8_0', 'Q4_0'])('%s: a valid GGUF of the announced size, same bytes every time, loads and generates', async (type) => {
    const { g, out } = bytesOf(type);
    expect(out.byteLength).toBe(g.size);
    expect(bytesOf(type).out).toEqual(out);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    expect(f.metadata.get('general.architecture')).toBe('qwen2');
    expect(f.metadata.get('qwen2.block_count')).toBe(2);
    expect(f.tensors.get('blk.1.attn_k.bias')?.ne).toEqual([32]);
    expect(f.tensors.has('output.weight')).toBe(false); // tied
    expect(f.tensors.get('blk.0.ffn_down.weight')).toMatchObject({ ne: [96, 64], type });
    expect(f.tensors.get('blk.0.ffn_norm.weight')?.type).toBe('F32');
    // Values have the intended scale: |w| <= sqrt(3)/sqrt(96) for ffn_down (plus quantization), norms near 1.
    const down = f.tensors.get('blk.0.ffn_down.weight')!;
    const w = toF32(down, await readTensorBytes(f, down));
    const half = Math.sqrt(3) / Math.sqrt(96);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(half * 1.01);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(half * 0.8);
    const norm = f.tensors.get('blk.0.attn_norm.weight')!;
    const nw = toF32(norm, await readTensorBytes(f, norm));
    expect(nw.every((x) => Math.abs(x - 1) < 0.18)).toBe(true);

    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      const r = await engine.complete([1, 5, 9], { maxTokens: 4, temperature: 0, stopAtEos: false });
      expect(r.ids).toHaveLength(4);
      expect(r.ids.every((id) => id >= 0 && id < 300)).toBe(true);
    } finally {
      engine.dispose();
    }
  });

  it('lfm2-350m: LFM2-350M\'s tensors (10 short-convolution layers, 354,483,968 weights); a small one loads and generates', async () => {
    expect(syntheticGGUF('lfm2-350m', 'Q8_0').params).toBe(354_483_968);
    const small: SyntheticShape = { ...SYNTHETIC_MODELS['lfm2-350m'], nEmbd: 64, nLayer: 3, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 64, attentionLayers: [1] };
    const g = syntheticGGUF(small, 'Q4_K_M', 2);
    const out = joined(g);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    expect(Array.from(f.metadata.get('lfm2.attention.head_count_kv') as ArrayLike<number>)).toEqual([0, 2, 0]);
    expect(f.tensors.get('blk.0.shortconv.conv.weight')).toMatchObject({ ne: [3, 64], type: 'F32' });
    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      expect(engine.config).toMatchObject({ arch: 'lfm2', layerConv: [true, false, true], convKernel: 3 });
      const r = await engine.complete([1, 5, 9], { maxTokens: 6, temperature: 0, stopAtEos: false });
      expect(r.ids).toHaveLength(6);
    } finally {
      engine.dispose();
    }
  });

  it('qwen3-0.6b: heads wider than nEmbd / nHead and per-head q/k norms; a small one loads as qwen3 and generates', async () => {
    const small: SyntheticShape = { ...SYNTHETIC_MODELS['qwen3-0.6b'], nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 96, vocab: 300, contextLength: 64 };
    const g = syntheticGGUF(small, 'Q8_0', 4);
    const out = joined(g);
    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      expect(engine.config).toMatchObject({ arch: 'qwen3', headDim: 32, qkNorm: true });
      expect((await engine.complete([1, 5, 9], { maxTokens: 4, temperature: 0, stopAtEos: false })).ids).toHaveLength(4);
    } finally {
      engine.dispose();
    }
  });

  it('granite-4.0-h-350m: 28 Mamba-2 layers (granitehybrid as llama.cpp names it); a small one loads and generates', async () => {
    expect(syntheticGGUF('granite-4.0-h-350m', 'Q8_0').params).toBe(340_332_224); // "340M" on its model card
    const small: SyntheticShape = { ...SYNTHETIC_MODELS['granite-4.0-h-350m'], nEmbd: 64, nLayer: 3, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 64, attentionLayers: [1], ssm: { nHead: 8, dState: 16, taps: 4 } };
    const g = syntheticGGUF(small, 'Q8_0', 3);
    const out = joined(g);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    expect(f.tensors.get('blk.0.ssm_in.weight')).toMatchObject({ ne: [64, 128 + 160 + 8], type: 'Q8_0' });
    expect(f.tensors.get('blk.0.ssm_a')).toMatchObject({ ne: [1, 8], type: 'F32' });
    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      expect(engine.config).toMatchObject({ arch: 'granite', layerSsm: [true, false, true], layerRope: [false, false, false], ssm: { nHead: 8, headDim: 16, dState: 16 } });
      const r = await engine.complete([1, 5, 9], { maxTokens: 6, temperature: 0, stopAtEos: false });
      expect(r.ids).toHaveLength(6);
    } finally {
      engine.dispose();
    }
  });

  it('qwen3.5-0.8b: 18 Gated DeltaNet layers (qwen35 as llama.cpp names it, the fixture\'s keys and tensors); a small one loads and generates', async () => {
    expect(syntheticGGUF('qwen3.5-0.8b', 'Q8_0').params).toBe(752_393_024); // the text model, without the multi-token-prediction block
    const small: SyntheticShape = {
      ...SYNTHETIC_MODELS['qwen3.5-0.8b'], nEmbd: 64, nLayer: 4, nHead: 4, nHeadKv: 2, headDim: 16, ropeDims: 8, nFf: 96, vocab: 300, contextLength: 64,
      attentionLayers: [3], delta: { nKHead: 2, nVHead: 4, headKDim: 32, headVDim: 16, taps: 4 },
    };
    const g = syntheticGGUF(small, 'Q4_K_M', 3);
    const out = joined(g);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    expect(Array.from(f.metadata.get('qwen35.attention.recurrent_layers') as ArrayLike<boolean>)).toEqual([true, true, true, false]);
    expect(f.metadata.get('qwen35.attention.head_count_kv')).toBe(2);
    expect(f.tensors.get('blk.3.attn_q.weight')?.ne).toEqual([64, 2 * 4 * 16]); // q and its gate, per head
    expect(f.tensors.get('blk.0.attn_qkv.weight')?.ne).toEqual([64, 2 * 64 + 64]);
    expect(f.tensors.get('blk.0.ssm_conv1d.weight')).toMatchObject({ ne: [4, 192], type: 'F32' });
    const a = f.tensors.get('blk.0.ssm_a')!;
    expect(a.ne).toEqual([4]);
    expect(toF32(a, await readTensorBytes(f, a)).every((x) => x < 0)).toBe(true);
    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      expect(engine.config).toMatchObject({ arch: 'qwen35', layerDelta: [true, true, true, false], headDim: 16, nRot: 8, attnGate: true, delta: { nKHead: 2, nVHead: 4, headVDim: 16 } });
      const r = await engine.complete([1, 5, 9], { maxTokens: 6, temperature: 0, stopAtEos: false });
      expect(r.ids).toHaveLength(6);
    } finally {
      engine.dispose();
    }
  });

  /** LFM2-8B-A1B's 8.3B parameters (its card), of which a token takes ~1.5B. */
  const LFM2_8B_A1B_PARAMS = 8_339_930_560;

  it('granite-3.0-1b-a400m: granitemoe, every FFN 32 experts stacked in ffn_*_exps, routers F32; runs', async () => {
    expect(syntheticGGUF('granite-3.0-1b-a400m', 'Q8_0').params).toBe(1_334_628_352); // 1.3B in all (its card), ~400M a token
    const small: SyntheticShape = { ...SYNTHETIC_MODELS['granite-3.0-1b-a400m'], nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 32, vocab: 300, contextLength: 64, moe: { experts: 6, used: 2 } };
    const g = syntheticGGUF(small, 'Q8_0', 3);
    const out = joined(g);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    expect(f.metadata.get('general.architecture')).toBe('granitemoe');
    expect(f.tensors.get('blk.1.ffn_gate_exps.weight')).toMatchObject({ ne: [64, 32, 6], type: 'Q8_0' });
    expect(f.tensors.get('blk.1.ffn_down_exps.weight')).toMatchObject({ ne: [32, 64, 6], type: 'Q8_0' });
    expect(f.tensors.get('blk.0.ffn_gate_inp.weight')).toMatchObject({ ne: [64, 6], type: 'F32' });
    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      expect(engine.config).toMatchObject({ arch: 'granite', layerMoe: [true, true], moe: { experts: 6, used: 2, nFf: 32, normTopk: true }, residualScale: Math.fround(0.22), logitScale: 6 });
      const r = await engine.complete([1, 5, 9], { maxTokens: 6, temperature: 0, stopAtEos: false });
      expect(r.ids).toHaveLength(6);
      // a token reads its 2 of 6 experts: the harness's roofline counts those
      const all = engine.model.weightBytes, experts = engine.model.expertBytes;
      expect(experts).toBeGreaterThan(0);
      expect(weightBytesPerToken(engine.model, 'auto')).toBeCloseTo(weightBytesPerToken({ ...engine.model, expertBytes: 0 }, 'auto') - (experts * 4) / 6, 6);
      expect(all).toBeGreaterThan(experts);
    } finally {
      engine.dispose();
    }
  });

  it('lfm2-8b-a1b: lfm2moe, experts from layer 2 on with a selection bias, as llama.cpp\'s converter writes them; runs', async () => {
    expect(syntheticGGUF('lfm2-8b-a1b', 'Q8_0').params).toBe(LFM2_8B_A1B_PARAMS);
    const small: SyntheticShape = {
      ...SYNTHETIC_MODELS['lfm2-8b-a1b'], nEmbd: 64, nLayer: 4, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 64, attentionLayers: [2],
      moe: { experts: 6, used: 2, nFf: 32, denseLayers: 1, sigmoid: true },
    };
    const g = syntheticGGUF(small, 'Q8_0', 3);
    const out = joined(g);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    expect(f.metadata.get('general.architecture')).toBe('lfm2moe');
    expect([f.metadata.get('lfm2moe.expert_feed_forward_length'), f.metadata.get('lfm2moe.leading_dense_block_count'), f.metadata.get('lfm2moe.expert_gating_func')]).toEqual([32, 1, 2]);
    expect(f.tensors.has('blk.0.ffn_gate_inp.weight')).toBe(false);
    expect(f.tensors.get('blk.0.ffn_gate.weight')).toMatchObject({ ne: [64, 96], type: 'Q8_0' });
    expect(f.tensors.get('blk.1.exp_probs_b.bias')).toMatchObject({ ne: [6], type: 'F32' });
    expect(f.tensors.get('blk.3.ffn_down_exps.weight')).toMatchObject({ ne: [32, 64, 6], type: 'Q8_0' });
    const engine = await Engine.load(out, { gpu: await testGpu(), contextLength: 32 });
    try {
      expect(engine.config).toMatchObject({ arch: 'lfm2', nFf: 96, layerMoe: [false, true, true, true], layerConv: [true, true, false, true], moe: { experts: 6, used: 2, nFf: 32, gating: 'sigmoid', selectionBias: true } });
      const r = await engine.complete([1, 5, 9], { maxTokens: 6, temperature: 0, stopAtEos: false });
      expect(r.ids).toHaveLength(6);
    } finally {
      engine.dispose();
    }
  });

  it('rejects unknown names and types', async () => {
    await expectEmberError(() => syntheticGGUF('gpt-5'), 'BAD_ARGUMENT', /unknown synthetic model "gpt-5".*smollm2-135m/);
    await expectEmberError(() => syntheticGGUF('smollm2-135m', 'Q9_K'), 'BAD_ARGUMENT', /unknown weight type "Q9_K"/);
  });

  // A llama shape whose rows fit 256-blocks except ffn_down's (n_ff 352), so the mixture has fallbacks.
  const kshape: SyntheticShape = { ...SYNTHETIC_MODELS['llama-3.2-1b'], nEmbd: 256, nLayer: 3, nHead: 4, nHeadKv: 2, nFf: 352, vocab: 300, contextLength: 64 };
  it.each([
    ['Q4_K_M', { 'token_embd.weight': 'Q6_K', 'blk.0.attn_q.weight': 'Q4_K', 'blk.2.attn_v.weight': 'Q6_K', 'blk.1.attn_v.weight': 'Q4_K', 'blk.1.ffn_down.weight': 'Q5_0', 'blk.2.ffn_down.weight': 'Q8_0' }],
    ['Q6_K', { 'token_embd.weight': 'Q6_K', 'blk.0.ffn_up.weight': 'Q6_K', 'blk.0.ffn_down.weight': 'Q8_0' }],
    ['IQ4_XS', { 'token_embd.weight': 'IQ4_XS', 'blk.0.ffn_down.weight': 'IQ4_NL' }],
  ] as const)('%s: llama.cpp\'s tensor types, valid random blocks of the intended scale, same bytes every time', async (type, types) => {
    const g = syntheticGGUF(kshape, type, 5);
    const out = new Uint8Array(g.size);
    let at = 0;
    for (const p of g.chunks()) [out.set(p, at), (at += p.byteLength)];
    expect(at).toBe(g.size);
    const f = await readGGUF(sourceFromBuffer(out, g.fileName));
    for (const [name, t] of Object.entries(types)) expect([name, f.tensors.get(name)?.type]).toEqual([name, t]);
    const up = f.tensors.get('blk.1.ffn_up.weight')!;
    const w = ggmlDequantize(up.type, await readTensorBytes(f, up), up.numel);
    const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
    expect(std / (1 / Math.sqrt(256))).toBeGreaterThan(0.8); // uniform draws of std 1/sqrt(in)
    expect(std / (1 / Math.sqrt(256))).toBeLessThan(1.25);
    expect([...syntheticGGUF(kshape, type, 5).chunks()].at(-2)).toEqual([...g.chunks()].at(-2));
  });
});

describe('bandwidth probe', () => {
  it('ProbeParams agrees with the WGSL struct', () => {
    expect(parseWgslStruct(PROBE_SOURCE, PROBE_PARAMS.structName)).toEqual(PROBE_PARAMS.fields.map(([n, t]) => [n, t]));
  });
  it('validates its reduction and reports a positive bandwidth for each layout', async () => {
    const p = await probeBandwidth(await testGpu(), { bytes: 4 * 2 ** 20, repeats: 2, dispatches: 1 });
    expect(p.bytes).toBe(4 * 2 ** 20);
    expect(p.layouts.map((l) => l.name)).toEqual(['coalesced', 'contiguous']);
    for (const l of p.layouts) expect(l.samples_gb_s.every((x) => x > 0 && Number.isFinite(x))).toBe(true);
    expect(p.gb_s).toBe(Math.max(...p.layouts.map((l) => l.gb_s)));
  });
});

/** A short bench of stories260K's Q8_0 file with `runs` (one option's values, each run side by side). */
const sideBySide = (gpu: Gpu, runs: Partial<BenchCommand>) => runBench({
  model: sharedModelPath('stories260K-derived/stories260K-Q8_0.gguf'),
  quant: ['auto'],
  config: { promptTokens: [16], genTokens: 4, repeats: 1 },
  probe: { bytes: 4 * 2 ** 20, repeats: 2, dispatches: 1 },
  gpu,
  ...runs,
});

describe('bench end to end (stories260K, tiny settings)', () => {
  it('returns every field with a sane type', async () => {
    const gpu = await testGpu();
    const report = await runBench({
      model: sharedModelPath('stories260K/stories260K.gguf'),
      quant: ['auto', 'int8-g32'],
      config: { promptTokens: [16], genTokens: 8, repeats: 1 },
      peer: 'llama.cpp:cpu-t1',
      probe: { bytes: 4 * 2 ** 20, repeats: 2, dispatches: 1 },
      gpu,
    });
    expect(report.device.adapter).toBe(gpu.caps.adapterName);
    expect(report.device.features).toEqual([...gpu.device.features].sort());
    expect(report.probe_gb_s).toBeGreaterThan(0);
    expect(report.results).toHaveLength(2);
    const pos = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
    for (const r of report.results) {
      expect(r.model).toBe('stories260K.gguf');
      expect(r.prompt_tokens).toBe(16);
      expect(r.device.adapter).toBe(gpu.caps.adapterName);
      expect(r.kv_bytes).toBe(5 * (16 + 8) * 2 * 4 * 8 * 2); // stories260K: no window; layers x context x (K, V) x kv heads x head_dim x f16
      expect(r.kv_bytes_full).toBe(r.kv_bytes);
      for (const k of ['load_ms', 'weight_bytes', 'weight_bytes_per_token', 'kv_bytes', 'prefill_tok_s', 'decode_tok_s', 'ttft_ms', 'weight_gb_s', 'roofline_pct', 'js_ms_per_token', 'gpu_wait_ms_per_token'] as const) {
        expect(pos(r[k]), `${k} = ${r[k]}`).toBe(true);
      }
      expect(r.submit_ms_per_token >= 0 && r.submit_ms_per_token <= r.js_ms_per_token).toBe(true);
      expect(r.latency_ms.p50).toBeLessThanOrEqual(r.latency_ms.p90);
      expect(r.latency_ms.p90).toBeLessThanOrEqual(r.latency_ms.p99);
      expect(r.range.decode_tok_s.min).toBeLessThanOrEqual(r.decode_tok_s);
      expect(r.range.decode_tok_s.max).toBeGreaterThanOrEqual(r.decode_tok_s);
      expect(r.weight_gb_s).toBeCloseTo((r.weight_bytes_per_token * r.decode_tok_s) / 1e9, 9);
      expect(r.roofline_pct).toBeCloseTo((100 * r.weight_gb_s) / report.probe_gb_s, 9);
      expect(r.submits_per_token).toBe(1); // forward submits once per token, steps submitted ahead counted in
      expect(r.decode_ahead).toBe(waitSpins(gpu) ? 3 : 2); // the engine's default for the device
      expect(r.gpu_idle_source).toBe(gpu.caps.timestamps ? 'timestamps' : 'estimate');
      expect(Number.isFinite(r.gpu_idle_ms_per_token) && r.gpu_idle_ms_per_token >= 0, `idle ${r.gpu_idle_ms_per_token}`).toBe(true);
      expect(Number.isInteger(r.dispatches_per_token) && r.dispatches_per_token > 10).toBe(true);
      if (gpu.caps.timestamps) {
        expect(r.kernels.map((k) => k.name)).toEqual(expect.arrayContaining(['attention', 'rmsnorm', 'sample']));
        for (const k of r.kernels) expect(k.ms_per_token >= 0 && k.calls_per_token > 0).toBe(true);
      }
      const peer = r.peer?.['llama.cpp/cpu-t1'];
      expect(peer && 'decode_tok_s' in peer ? pos(peer.decode_tok_s) && pos(peer.prefill_tok_s) && pos(peer.ttft_ms) : peer).toBe(true);
    }
    // stories260K has an untied LM head: a decode step reads the output matrix, not the whole embedding table.
    const [auto, int8] = report.results;
    expect(auto.weight_bytes_per_token).toBe(auto.weight_bytes - 512 * 64 * 4 + 64 * 4);
    expect(int8.weight_bytes).toBeLessThan(auto.weight_bytes);
    const table = formatBench(report, 'markdown');
    expect(table).toContain(gpu.caps.adapterName);
    expect(table).toMatch(/\| stories260K.gguf \| int8-g32 \| 16 \|/);
  });

  it('--scales runs a Q8_0 file with its scales as f16 pairs and as f32, side by side, and names each run', async () => {
    const gpu = await testGpu();
    const report = await sideBySide(gpu, { scales: ['f16', 'f32'] });
    const [pairs, f32] = report.results;
    expect([pairs.scales, f32.scales]).toEqual(['f16', 'f32']);
    // Rows of 64 weights: two f32 scales (8 bytes) against one word of two f16 scales (4), on every row.
    expect(f32.weight_bytes - pairs.weight_bytes).toBeGreaterThan(0);
    expect(report.config).toMatchObject({ scales: ['f16', 'f32'] });
    const table = formatBench(report, 'markdown');
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| auto, f16 scales \| 16 \|/);
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| auto, f32 scales \| 16 \|/);
    await expectEmberError(() => parseScales('f8'), 'BAD_ARGUMENT', /--scales takes f16 or f32, got "f8"/);
  }, 300_000);

  it('--fuse runs decode with the GEMVs taking in their norms and without, side by side, and names each run', async () => {
    const gpu = await testGpu();
    const report = await sideBySide(gpu, { fuse: [true, false] });
    const [on, off] = report.results;
    expect([on.fuse_decode, off.fuse_decode]).toEqual([true, false]);
    // Unfused, each pre-norm is a dispatch of its own: two a layer more.
    expect(off.dispatches_per_token).toBeGreaterThan(on.dispatches_per_token);
    expect(report.config).toMatchObject({ fuse: [true, false] });
    const table = formatBench(report, 'markdown');
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| auto, fuse on \| 16 \|/);
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| auto, fuse off \| 16 \|/);
    expect(parseFuse('on,off')).toEqual([true, false]);
    await expectEmberError(() => parseFuse('yes'), 'BAD_ARGUMENT', /--fuse takes on or off, got "yes"/);
  }, 300_000);

  it('--attention runs decode with decode_wide and with the device\'s own kernel, side by side, and names each run', async () => {
    const gpu = await testGpu();
    const compiled: string[] = [];
    const unwatch = watchCompiles(gpu, (label) => compiled.push(label));
    const report = await sideBySide(gpu, { attention: [true, false] }).finally(unwatch);
    const [wide, plain] = report.results;
    expect([wide.wide_attention, plain.wide_attention]).toEqual([true, false]);
    expect(compiled.filter((l) => /^attention\/decode_wide/.test(l))).toHaveLength(1); // the option reached the model
    expect(report.config).toMatchObject({ attention: ['wide', 'default'] });
    const table = formatBench(report, 'markdown');
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| auto, attention wide \| 16 \|/);
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| auto, attention default \| 16 \|/);
    expect(parseAttention('wide,default')).toEqual([true, false]);
    await expectEmberError(() => parseAttention('tiles'), 'BAD_ARGUMENT', /--attention takes wide or default, got "tiles"/);
  }, 300_000);

  it('--convert loads with the conversions on the GPU and on the CPU, side by side, and names each run', async () => {
    const gpu = await testGpu();
    const compiled: string[] = [];
    const unwatch = watchCompiles(gpu, (label) => compiled.push(label));
    const report = await sideBySide(gpu, { quant: ['q4_0'], convert: [true, false] }).finally(unwatch);
    const [onGpu, onCpu] = report.results;
    expect([onGpu.gpu_quantize, onCpu.gpu_quantize]).toEqual([true, false]);
    expect(compiled.filter((l) => l === 'quantize_ggml')).toHaveLength(1); // the option reached the load
    expect(report.config).toMatchObject({ convert: ['gpu', 'cpu'] });
    const table = formatBench(report, 'markdown');
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| q4_0, converted on the GPU \| 16 \|/);
    expect(table).toMatch(/\| stories260K-Q8_0.gguf \| q4_0, converted on the CPU \| 16 \|/);
    expect(parseConvert('gpu,cpu')).toEqual([true, false]);
    await expectEmberError(() => parseConvert('wasm'), 'BAD_ARGUMENT', /--convert takes gpu or cpu, got "wasm"/);
  }, 300_000);

  it('fails with a clear message when node-llama-cpp is missing, and on bad flags', async () => {
    await expectEmberError(() => loadNodeLlamaCpp('node-llama-cpp-not-installed'), 'UNSUPPORTED', /node-llama-cpp-not-installed.*NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install -D node-llama-cpp/);
    await expectEmberError(() => parsePeer('ollama'), 'BAD_ARGUMENT', /unknown peer "ollama"/);
    await expectEmberError(() => parsePeer('llama.cpp:metal'), 'BAD_ARGUMENT', /backend "metal"/);
    expect(parsePeer('llama.cpp')).toEqual(['cpu-t1', 'cpu-t2', 'vulkan']);
    await expectEmberError(() => parseQuant('int3'), 'BAD_ARGUMENT', /quant "int3" is not one of auto/);
    await expectEmberError(() => runBench({ quant: ['auto'], config: { promptTokens: [16], genTokens: 8, repeats: 1 } }), 'BAD_ARGUMENT', /--model.*--synthetic/);
  });

  it('a peer that cannot finish or cannot start comes back as an error, in its own process', async () => {
    const path = sharedModelPath('stories260K/stories260K.gguf');
    const config = { promptTokens: [16], genTokens: 8, repeats: 1 };
    const phases: string[] = [];
    // Starting a process and loading node-llama-cpp takes far longer than 1 ms: the first phase runs out.
    const slow = await benchLlamaCpp(path, 'cpu-t1', config, 512, (m) => phases.push(m), { timeoutS: 0.001 });
    expect(slow).toEqual({ error: 'llama.cpp cpu-t1: starting timed out after 0.001 s' });
    expect(phases).toEqual([]);
    const missing = await benchLlamaCpp(path, 'cpu-t1', config, 512, undefined, { specifier: 'node-llama-cpp-not-installed' });
    expect(missing.results).toBeUndefined();
    expect(missing.error).toMatch(/^llama\.cpp cpu-t1: \[UNSUPPORTED\] --peer llama\.cpp needs the npm package node-llama-cpp-not-installed/);
  });

  it('prompt ids are deterministic and inside the vocabulary', () => {
    const a = benchPrompt(512, 100, 1);
    expect(benchPrompt(512, 100, 1)).toEqual(a);
    expect(a.every((id) => id >= 3 && id < 512)).toBe(true);
  });
});

describe('bench --embed', () => {
  it('times embed for a list of inputs of each length on an embedding model, batched and one a pass, and tabulates it', async () => {
    const gpu = await testGpu();
    const r = await runEmbedSpeed(embeddingGemmaFolder(), { model: 'embeddinggemma-tiny', gpu, quant: 'int8', promptTokens: [8, 32], inputs: 3, batch: [true, false], repeats: 2 });
    expect(r).toMatchObject({ bidirectional: true, pooling: 'mean', width: 96, quant: 'int8' });
    expect(r.max_batch).toBeGreaterThan(32); // a list loads the model's own context (room for several inputs a pass)
    expect(r.rows.map((x) => [x.prompt_tokens, x.inputs, x.batched])).toEqual([[8, 3, true], [8, 3, false], [32, 3, true], [32, 3, false]]);
    for (const x of r.rows) {
      expect(x.ms.min).toBeLessThanOrEqual(x.ms.median);
      expect(x.ms.median).toBeLessThanOrEqual(x.ms.max);
      expect(x.tok_s).toBeCloseTo((3 * x.prompt_tokens) / (x.ms.median / 1000), 6);
    }
    const table = formatEmbedSpeed([r], 'text');
    expect(table).toMatch(new RegExp(`bidirectional, mean pooling, 96 values, one pass of up to ${r.max_batch} tokens`));
    expect(table.split('\n').filter((l) => l.startsWith('embeddinggemma-tiny'))).toHaveLength(4);
    expect(table).toMatch(/embeddinggemma-tiny +int8 +8 +3 +one +3 /); // one a pass: a pass an input
    expect(r.rows.filter((x) => !x.batched).map((x) => x.passes)).toEqual([3, 3]);
    expect(r.rows.filter((x) => x.batched).every((x) => x.passes >= 1 && x.passes <= 3)).toBe(true);
  });
});

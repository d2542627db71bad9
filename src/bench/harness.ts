/**
 * The benchmark harness: load a model, warm up, time prefill and decode through the public
 * `Engine.generate` path, then profile GPU time per kernel family in a separate run. Environment
 * neutral (Node and the browser); the CLI (src/cli/bench.ts) and bench/main.ts drive it.
 *
 * Definitions (per prompt length; medians over repeats, with min/max under `range`):
 * - prefill_tok_s: prompt tokens / prefill time (Engine stats: the prefill passes up to the first
 *   sampled token id being read back). ttft_ms: the same span from the call.
 * - decode_tok_s: decode steps / their summed time (Engine stats). latency_ms: p50/p90/p99 of the
 *   per-token decode times of all repeats together (percentile definition in stats.ts).
 * - weight_gb_s: weight bytes read per decoded token × decode_tok_s; every weight matrix and norm
 *   is read once per token, plus one row of the embedding table (the KV cache is not counted).
 *   roofline_pct: weight_gb_s / the bandwidth probe's GB/s × 100.
 * - decode_ahead: the Engine's tuning.decodeAhead for these runs (decode steps in flight; 1 waits for
 *   each sampled id before submitting the next step).
 * - js_ms_per_token: decode wall time (as the caller of generate sees it) minus the time the engine
 *   spent awaiting sampled ids (the readback ring's wait), per decode step: everything on the CPU side
 *   (uniform writes, encoding, submit, sampling bookkeeping, detokenization, the async generator)
 *   that did not overlap the GPU. On Dawn/Node that wait includes Dawn's polling. submit_ms_per_token
 *   is the part of it spent inside queue.submit (the rest is mostly encoding).
 * - submits_per_token: queue.submit calls per decode step, counted, not assumed (the steps submitted
 *   before the first token came back, with decode ahead, are counted in).
 * - gpu_idle_ms_per_token: the GPU's idle time between consecutive decode steps: with timestamp
 *   queries, the mean gap from one step's end to the next one's start (each step's one compute pass
 *   timed in the timed runs themselves, src/bench/idle.ts); without them, decode ms per token minus
 *   an estimate of one step's GPU time (gpu_idle_source says which).
 * - dispatches_per_token: non-empty dispatches of one decode step (layers, final norm, LM head,
 *   sampler). kernels: GPU ms per decode step by kernel family, from timestamp queries in a
 *   separate profiled run where every dispatch has its own pass (see profile.ts).
 */
import { Engine, type ModelInput } from '../engine.ts';
import { runLabel } from './report.ts';
import { kvCacheBytes, type KvCacheType } from '../kernels/kv_layout.ts';
import { EmberError } from '../errors.ts';
import type { Gpu } from '../gpu/device.ts';
import { gpuRowWords, WEIGHT_FORMATS, widensCodes, type WeightFormat } from '../kernels/matmul.ts';
import { forward, type Model } from '../model/model.ts';
import { READBACK_RING } from '../model/readback_ring.ts';
import { QUANT_INFO, type QuantScheme } from '../model/weight_source.ts';
import { mulberry32 } from '../util/rng.ts';
import { autotuneChoices, autotuneDefault, type AutotuneChoice } from '../kernels/autotune.ts';
import { TimestampProfiler, type KernelTime } from './profile.ts';
import { StepTimeline, stepBusyMs } from './idle.ts';
import { latency, spread, type Latency } from './stats.ts';

export interface BenchConfig {
  promptTokens: readonly number[];
  genTokens: number; // tokens generated per run, the first from the prefill (so genTokens - 1 decode steps)
  repeats: number;
  /** Decode steps in the profiled run (default min(genTokens - 1, 16)); 0 skips profiling. */
  profileTokens?: number;
  /** Prompt tokens per prefill pass (the Engine's maxBatch; default the Engine's, 256). */
  maxBatch?: number;
  /** Engine tuning.decodeAhead values to run, each a result of its own (default: the engine's own for the device). */
  decodeAhead?: readonly number[];
  /** K/V cache storage (default the Engine's, f16). */
  kvCache?: KvCacheType;
  seed?: number;
}

export interface DeviceInfo {
  adapter: string;
  features: string[];
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  dot4I8: boolean;
  /** Where it ran and anything the caller adds (CPU, LP_NUM_THREADS, load average, ...). */
  [more: string]: unknown;
}

export function describeDevice(gpu: Gpu, extra: Record<string, unknown> = {}): DeviceInfo {
  const c = gpu.caps;
  return {
    adapter: c.adapterName,
    features: [...gpu.device.features].sort(),
    f16: c.f16,
    subgroups: c.subgroups,
    timestamps: c.timestamps,
    dot4I8: c.dot4I8,
    ...extra,
  };
}

/** Speed of one configuration (ours or a peer's) at one prompt length. */
export interface SpeedResult {
  load_ms: number;
  warmup_ms: number; // the untimed warm-up run (includes any pipeline compilation done lazily)
  prefill_tok_s: number;
  decode_tok_s: number;
  ttft_ms: number;
  latency_ms: Latency;
  range: Record<'prefill_tok_s' | 'decode_tok_s' | 'ttft_ms', { min: number; max: number }>;
}

export interface BenchResult extends SpeedResult {
  model: string;
  quant: QuantScheme;
  /** q8/q4 block scales as asked for (BenchModelOptions.scales); absent: the Engine's default for the device. */
  scales?: BenchScales;
  /** Decode fusion as asked for (BenchModelOptions.fuseDecode); absent: the Engine's default for the device. */
  fuse_decode?: boolean;
  /** Decode attention as asked for (BenchModelOptions.wideAttention); absent: the Engine's default. */
  wide_attention?: boolean;
  /** Conversions at load on the GPU or the CPU as asked for (BenchModelOptions.gpuQuantize); absent: the GPU. */
  gpu_quantize?: boolean;
  prompt_tokens: number;
  gen_tokens: number;
  repeats: number;
  device: { adapter: string; features: string[] };
  weight_bytes: number; // on the GPU
  weight_bytes_per_token: number; // read per decoded token
  kv_cache: KvCacheType; // how the K/V cache stores its values
  kv_bytes: number; // K/V cache on the GPU (windowed layers: a ring of window - 1 + max batch rows)
  kv_bytes_full: number; // what it would be with every layer holding the whole context
  weight_gb_s: number;
  roofline_pct: number;
  dispatches_per_token: number;
  submits_per_token: number;
  js_ms_per_token: number;
  submit_ms_per_token: number; // the part of js_ms_per_token spent inside queue.submit
  gpu_wait_ms_per_token: number;
  decode_ahead: number; // decode steps in flight (Engine tuning.decodeAhead)
  gpu_idle_ms_per_token: number; // GPU idle between consecutive decode steps
  gpu_idle_source: 'timestamps' | 'estimate';
  kernels: KernelTime[];
  kernels_note?: string;
  /** The matmul launch variants, and decode attention's entry point, autotuning chose on this adapter so far (empty when it was off). */
  matmul_variants: AutotuneChoice[];
  peer?: Record<string, SpeedResult | { error: string }>;
}

export interface BenchModelOptions {
  model: string; // the name printed
  quant: QuantScheme;
  gpu: Gpu;
  probeGbS: number;
  config: BenchConfig;
  onProgress?: (message: string) => void;
  /** Time the matmul launch variants at load (default: the Engine's). */
  autotune?: boolean;
  /** The Engine's fuseDecode load option (default: the Engine's, by device). */
  fuseDecode?: boolean;
  /** The Engine's wideAttention load option (default: the Engine's). */
  wideAttention?: boolean;
  /**
   * q8/q4 block scales on the GPU (the Engine's halfScales load option): 'f16', pairs where every scale is an f16
   * value (GGUF Q8_0 and Q4_0: the default on GPUs), or 'f32' (the default on CPU adapters). Default: the Engine's.
   */
  scales?: BenchScales;
  /** Engine tuning to set after load (e.g. minPassTokens, the prefill passes' floor). */
  tuning?: Partial<Engine['tuning']>;
  /** The Engine's gpuQuantize load option: conversions at load on the GPU (default) or the CPU. */
  gpuQuantize?: boolean;
}

export type BenchScales = 'f16' | 'f32';
export const BENCH_SCALES: readonly BenchScales[] = ['f16', 'f32'];

/**
 * GPU bytes of one embedding row: its codes (padded as uploadWeights pads them) and its scales
 * (one per row for the per-row schemes, else one per 32; a native FP8 checkpoint's 128-wide blocks
 * are counted as 32-wide, which overstates them by 3 floats per row).
 */
function embedRowBytes(format: WeightFormat, D: number, quant: QuantScheme, wideCodes: boolean): number {
  const codes = gpuRowWords(format, D, wideCodes) * 4;
  if (format === 'f32' || format === 'f16' || format === 'bf16') return codes;
  const perRow = QUANT_INFO[quant]?.rowBytes ?? 0;
  return codes + (perRow > 0 ? perRow : Math.ceil(D / 32) * 4);
}

/**
 * Weight bytes one decode step reads: every weight once, and one embedding row; the whole table
 * only when it is also the LM head (tied embeddings); of a mixture's experts, the share a token takes.
 */
export function weightBytesPerToken(m: Model, quant: QuantScheme): number {
  const c = m.config;
  const unread = c.moe ? m.expertBytes * (1 - c.moe.used / c.moe.experts) : 0;
  return denseBytesPerToken(m, quant) - unread;
}

function denseBytesPerToken(m: Model, quant: QuantScheme): number {
  const c = m.config;
  const embed = m.decode.find((d) => d.label.startsWith('embedding/'));
  const format = embed?.label.split('/')[1] as WeightFormat | undefined;
  if (!format || !WEIGHT_FORMATS.includes(format)) return m.weightBytes;
  const row = embedRowBytes(format, c.nEmbd, quant, widensCodes(m.gpu.caps, format));
  return c.tiedEmbeddings ? m.weightBytes + row : m.weightBytes - c.vocab * row + row;
}

/** Dispatches one decode step encodes (empty grids are skipped by encodeDispatches). */
export function dispatchesPerToken(m: Model): number {
  return [...m.decode, ...m.head].filter((d) => d.grid(1).every((v) => v === undefined || v > 0)).length;
}

/**
 * Counts queue.submit calls (wrapping the model's queue's submit until `restore()`), and reads the time
 * the engine spent awaiting sampled ids from the model's readback ring.
 */
class Instrument {
  submits = 0;
  submitMs = 0;
  private readonly restoreFns: (() => void)[] = [];
  constructor(m: Model) {
    const queue = m.gpu.device.queue as GPUQueue & { submit: GPUQueue['submit'] };
    const submit = queue.submit;
    queue.submit = (buffers) => {
      this.submits++;
      const t0 = performance.now();
      submit.call(queue, buffers);
      this.submitMs += performance.now() - t0;
    };
    this.restoreFns.push(() => delete (queue as { submit?: unknown }).submit);
    this.ring = m.readback;
  }
  private readonly ring: Model['readback'];
  snapshot() {
    const r = this.ring;
    const inFlight = r.reads - r.waits; // passes submitted whose id nobody has awaited yet
    return { t: performance.now(), submits: this.submits, submitMs: this.submitMs, waitMs: r.waitMs, inFlight };
  }
  restore(): void {
    for (const f of this.restoreFns) f();
  }
}

/** Deterministic prompt ids spread over the vocabulary (special ids 0..2 of SPM vocabularies avoided). */
export function benchPrompt(vocab: number, n: number, seed = 1): number[] {
  const rand = mulberry32(seed);
  const lo = Math.min(3, vocab - 1);
  return Array.from({ length: n }, () => lo + Math.floor(rand() * (vocab - lo)));
}

interface RunOutcome {
  prefillTokS: number;
  decodeTokS: number;
  ttftMs: number;
  tokenMs: number[];
  jsMs: number;
  submitMs: number;
  waitMs: number;
  submits: number;
  steps: number;
  idleMs: number; // mean GPU gap between consecutive decode steps (NaN without a timeline)
}

async function timedRun(engine: Engine, ids: number[], gen: number, timeline?: StepTimeline): Promise<RunOutcome> {
  const inst = new Instrument(engine.model);
  try {
    const it = engine.generate(ids, { maxTokens: gen, temperature: 0, topK: 0, topP: 1, stopAtEos: false, reuseKv: false }); // every run prefills the whole prompt
    let r = await it.next(); // the prefill and the first token
    const a = inst.snapshot();
    timeline?.attach(engine.model); // decode steps submitted from here on (those already in flight are not timed)
    while (!r.done) r = await it.next();
    const b = inst.snapshot();
    timeline?.detach(engine.model);
    const gaps = timeline ? await timeline.gaps() : [];
    const s = r.value.stats;
    const steps = s.tokenMs.length;
    return {
      prefillTokS: s.prefillTokS,
      decodeTokS: s.decodeTokS,
      ttftMs: s.ttftMs,
      tokenMs: s.tokenMs,
      waitMs: b.waitMs - a.waitMs,
      jsMs: b.t - a.t - (b.waitMs - a.waitMs),
      submitMs: b.submitMs - a.submitMs,
      submits: b.submits - a.submits + a.inFlight - b.inFlight, // steps submitted before a are this run's too
      steps,
      idleMs: gaps.length ? gaps.reduce((x, y) => x + y, 0) / gaps.length : NaN,
    };
  } finally {
    inst.restore();
  }
}

async function profileRun(m: Model, ids: number[], steps: number): Promise<KernelTime[]> {
  const greedy = { temperature: 0, topK: 0, topP: 1 };
  for (let i = 0; i < ids.length; i += m.maxBatch) await forward(m, ids.slice(i, i + m.maxBatch), i, greedy, 0);
  const prof = new TimestampProfiler(m.gpu, m.decode.length + m.head.length);
  try {
    let next = ids[ids.length - 1];
    for (let s = 0; s < steps; s++) {
      next = await forward(m, [next], ids.length + s, greedy, 0, prof);
      await prof.collect();
    }
    return prof.families(steps);
  } finally {
    prof.destroy();
  }
}

function checkConfig(c: BenchConfig): void {
  const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `bench: ${msg}`);
  if (c.promptTokens.length === 0 || c.promptTokens.some((p) => !Number.isInteger(p) || p < 1)) throw bad(`prompt tokens must be positive integers, got ${c.promptTokens.join(',')}`);
  if (!Number.isInteger(c.genTokens) || c.genTokens < 2) throw bad(`gen tokens must be an integer >= 2 (one from the prefill, at least one decode step), got ${c.genTokens}`);
  if (!Number.isInteger(c.repeats) || c.repeats < 1) throw bad(`repeats must be a positive integer, got ${c.repeats}`);
  const ahead = c.decodeAhead;
  if (ahead && (ahead.length === 0 || ahead.some((d) => !Number.isInteger(d) || d < 1 || d > READBACK_RING))) {
    throw bad(`decode ahead must be integers in 1..${READBACK_RING}, got ${ahead.join(',')}`);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Loads `input` with `quant`, benchmarks every prompt length, and frees the model. */
export async function benchModel(input: ModelInput, o: BenchModelOptions): Promise<BenchResult[]> {
  const c = o.config;
  checkConfig(c);
  const say = o.onProgress ?? (() => {});
  const maxPrompt = Math.max(...c.promptTokens);
  const label = runLabel(o);
  say(`${o.model} (${label}): loading`);
  const t0 = performance.now();
  const autotune = o.autotune ?? autotuneDefault(o.gpu.caps);
  const engine = await Engine.load(input, { quant: o.quant, gpu: o.gpu, contextLength: maxPrompt + c.genTokens, maxBatch: c.maxBatch, autotune, kvCache: c.kvCache, fuseDecode: o.fuseDecode, wideAttention: o.wideAttention, gpuQuantize: o.gpuQuantize, ...(o.scales ? { halfScales: o.scales === 'f16' } : {}) });
  const loadMs = performance.now() - t0;
  Object.assign(engine.tuning, o.tuning);
  const variants = autotune ? await autotuneChoices(o.gpu.caps.adapterName) : [];
  try {
    const m = engine.model;
    const bytesPerToken = weightBytesPerToken(m, o.quant);
    const device = { adapter: o.gpu.caps.adapterName, features: [...o.gpu.device.features].sort() };
    const results: BenchResult[] = [];
    for (const p of c.promptTokens) {
      const ids = benchPrompt(m.config.vocab, p, c.seed ?? 1);
      // Kernel times do not depend on decode ahead: profiled once per prompt length.
      const profSteps = c.profileTokens ?? Math.min(c.genTokens - 1, 16);
      let kernels: KernelTime[] = [];
      let kernelsNote: string | undefined;
      let busyMs = NaN; // without timestamps: one decode step's GPU time, estimated
      let profiled = false;
      for (const ahead of c.decodeAhead ?? [engine.tuning.decodeAhead]) {
        engine.tuning.decodeAhead = ahead;
        const runName = `${o.model} (${label}): prompt ${p}, decode ahead ${ahead}`;
        say(`${runName}: warm-up`);
        const w0 = performance.now();
        await timedRun(engine, ids, Math.min(c.genTokens, 4));
        const warmupMs = performance.now() - w0;
        // After the first warm-up, which compiled what a lazily compiling device (lavapipe) compiles at first use.
        if (!profiled) {
          profiled = true;
          if (!o.gpu.caps.timestamps) {
            kernelsNote = 'the device has no timestamp-query feature';
            busyMs = await stepBusyMs(m, ids, Math.min(c.genTokens - 1, 8));
          } else if (profSteps > 0) {
            say(`${o.model} (${label}): prompt ${p}: profiling ${profSteps} decode steps`);
            kernels = await profileRun(m, ids, profSteps);
          }
        }
        const runs: RunOutcome[] = [];
        for (let r = 0; r < c.repeats; r++) {
          say(`${runName}: run ${r + 1}/${c.repeats}`);
          const timeline = o.gpu.caps.timestamps ? new StepTimeline(o.gpu, c.genTokens) : undefined;
          try {
            runs.push(await timedRun(engine, ids, c.genTokens, timeline));
          } finally {
            timeline?.destroy();
          }
        }
        const per = (f: (r: RunOutcome) => number) => runs.map(f);
        const pre = spread(per((r) => r.prefillTokS));
        const dec = spread(per((r) => r.decodeTokS));
        const ttft = spread(per((r) => r.ttftMs));
        const js = spread(per((r) => r.jsMs / r.steps));
        const idle = o.gpu.caps.timestamps
          ? spread(per((r) => r.idleMs)).median
          : Math.max(0, 1000 / dec.median - busyMs);
        const weightGbS = (bytesPerToken * dec.median) / 1e9;
        results.push({
          model: o.model,
          quant: o.quant,
          ...(o.scales ? { scales: o.scales } : {}),
          ...(o.fuseDecode === undefined ? {} : { fuse_decode: o.fuseDecode }),
          ...(o.wideAttention === undefined ? {} : { wide_attention: o.wideAttention }),
          ...(o.gpuQuantize === undefined ? {} : { gpu_quantize: o.gpuQuantize }),
          prompt_tokens: p,
          gen_tokens: c.genTokens,
          repeats: c.repeats,
          device,
          load_ms: loadMs,
          warmup_ms: warmupMs,
          weight_bytes: m.weightBytes,
          weight_bytes_per_token: bytesPerToken,
          kv_cache: m.kvCache,
          kv_bytes: m.kvBytes,
          kv_bytes_full: m.config.nLayer * kvCacheBytes(m.kvCache, m.nCtx, m.config.nKv, m.config.headDim),
          prefill_tok_s: pre.median,
          decode_tok_s: dec.median,
          ttft_ms: ttft.median,
          latency_ms: latency(runs.flatMap((r) => r.tokenMs)),
          weight_gb_s: weightGbS,
          roofline_pct: (100 * weightGbS) / o.probeGbS,
          dispatches_per_token: dispatchesPerToken(m),
          submits_per_token: mean(per((r) => r.submits / r.steps)),
          js_ms_per_token: js.median,
          submit_ms_per_token: spread(per((r) => r.submitMs / r.steps)).median,
          gpu_wait_ms_per_token: spread(per((r) => r.waitMs / r.steps)).median,
          decode_ahead: ahead,
          gpu_idle_ms_per_token: idle,
          gpu_idle_source: o.gpu.caps.timestamps ? 'timestamps' : 'estimate',
          kernels,
          ...(kernelsNote ? { kernels_note: kernelsNote } : {}),
          matmul_variants: variants,
          range: {
            prefill_tok_s: { min: pre.min, max: pre.max },
            decode_tok_s: { min: dec.min, max: dec.max },
            ttft_ms: { min: ttft.min, max: ttft.max },
          },
        });
      }
    }
    return results;
  } finally {
    engine.dispose();
  }
}

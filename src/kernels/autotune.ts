import type { Gpu, GpuCaps } from '../gpu/device.ts';
import { Allocator, readBuffer } from '../gpu/buffers.ts';
import { encodeDispatches, STEP, STEP_DEFAULTS, type Dispatch } from './dispatch.ts';
import type { MatmulTuning } from './matmul.ts';
import { underTestRunner } from '../util/test_runner.ts';

/**
 * Matmul launch variants picked per device by a short timed trial at load. The candidates are both
 * kinds of layout everywhere: the GPU-style ones (K-split GEMV, tiled GEMM) and the CPU-SIMD ones
 * (a row block per invocation), so a device gets what is fastest on it, not what its name suggests.
 * Each candidate runs the real weights on private scratch (its own Step and y), a few times; the
 * least disturbed run counts. Choices are cached per adapter and matmul shape (format, K, N, scale
 * group, path) for the life of the page or process, so a shape is timed once; a trial budget bounds
 * the time spent per adapter, after which shapes take the static default (matmulTuning). Decode attention's entry
 * point is picked the same way, by name (chooseByTrial; src/kernels/attention.ts's chooseDecodeWide).
 */

/** One launch variant of one list: MatmulTuning's 'gemv...' or 'gemm...' fields. */
export type Variant = Partial<MatmulTuning>;

/** What a trial picks: a matmul's GEMV or GEMM variant, or decode attention's entry point (src/kernels/attention.ts). */
export type TrialPath = 'gemv' | 'gemm' | 'attention';

export interface AutotuneChoice {
  key: string; // adapter-free: "<format>[ f16-scales] K=<K> N=<N> g=<group> <path>", GEMVs also " in=<x input>" and " glu"
  path: TrialPath;
  chosen: string; // the winner, as `variantName` writes it
  /** Microseconds per run of each candidate ("variant name": us), Infinity where it was not timed. */
  us: Record<string, number>;
}

/**
 * Trial time allowed per adapter (all shapes together), in ms. Compiling the candidates, and the first
 * run of each (where a CPU adapter compiles), are not counted.
 */
export const AUTOTUNE_BUDGET_MS = 400;
/**
 * Tokens of a GEMM trial: the size of a short prefill pass on a CPU adapter (the engine's passes aim at ~100 ms there);
 * on a GPU, whose passes reach maxBatch (256) after the first few, 64, where tiles that share a weight load among many
 * tokens can show what they save (a lent H200 timed the tiled GEMM at 16 tokens only: 399 against 295 us by rows for
 * Llama-3.2-1B's 2048x3072; not yet timed at 64).
 */
export const gemmTrialTokens = (caps: Pick<GpuCaps, 'cpu'>) => (caps.cpu ? 16 : 64);

const choices = new Map<string, Promise<AutotuneChoice>>(); // "<adapter>|<key>"
const spentMs = new Map<string, number>(); // per adapter
const lastTrialAt = new Map<string, number>(); // per adapter: performance.now() when its last trial ended

/**
 * Wall-clock ms to keep a GPU busy before timing, after `idleMs` without trials: a GPU left idle drops its clocks, and a
 * lent H200 ran a 296 MB GEMV in 193 us through a whole first process (~20 ms of such GEMVs) against 69 us in the next
 * one, started ~1 s later (bench/gemv_lab, the same code): a load's first shapes were timed at a third of the speed
 * decode sees. So 100 ms of work after a second idle (a guess from that one pair of runs: the ramp took more than 20
 * ms, and the clocks held across ~1 s). Not on CPU adapters, which have no such states to wake.
 */
export function gpuWarmupMs(caps: Pick<GpuCaps, 'cpu'>, idleMs: number): number {
  return !caps.cpu && idleMs > 1000 ? 100 : 0;
}

/** "rows WG=64 R=4 TT=4 float", "rows WG=64 R=2 X_VEC=4", "rows8 WG=16 R=4", "split WG=64 R=4", "flat WG=16", "tiled". */
export function variantName(v: Variant): string {
  const xVec = (n?: number) => (n && n !== 1 ? ` X_VEC=${n}` : '');
  if (v.gemv === 'flat') return `flat WG=${v.gemvWG}${v.gemvFloat ? ' float' : ''}`;
  const lanes = (v.gemvLanes !== undefined && v.gemvLanes !== v.gemvWG ? ` LANES=${v.gemvLanes}` : '') + (v.gemvIters && v.gemvIters > 1 ? ` ITERS=${v.gemvIters}` : '');
  if (v.gemv) return v.gemv === 'split' ? `split WG=${v.gemvWG} R=${v.gemvR}${lanes}` : `rows WG=${v.gemvWG} R=${v.gemvR}${v.gemvFloat ? ' float' : ''}${xVec(v.gemvXVec)}`;
  if (v.gemm === 'flat') return `flat WG=${v.gemmWG}${v.gemmFloat ? ' float' : ''}`;
  if (v.gemm === 'rows8') return `rows8 WG=${v.gemmWG} R=${v.gemmR}`;
  return v.gemm === 'tiled' ? 'tiled' : `rows WG=${v.gemmWG} R=${v.gemmR} TT=${v.gemmTT}${v.gemmFloat ? ' float' : ''}${xVec(v.gemmXVec)}`;
}

/**
 * The candidates of each list, the static default (matmulTuning's) first. Without `floatDot` (a format whose
 * kernels FLOAT_DOT does not change) the float variants are the plain ones, and are not timed twice.
 */
export function candidates(defaults: MatmulTuning, path: 'gemv' | 'gemm', floatDot = true, splitLanes = 32): Variant[] {
  const pick = (t: MatmulTuning): Variant =>
    path === 'gemv'
      ? { gemv: t.gemv, gemvWG: t.gemvWG, gemvR: t.gemvR, gemvFloat: t.gemvFloat, gemvXVec: t.gemvXVec, gemvLanes: t.gemvLanes, gemvIters: t.gemvIters }
      : { gemm: t.gemm, gemmWG: t.gemmWG, gemmR: t.gemmR, gemmTT: t.gemmTT, gemmFloat: t.gemmFloat, gemmXVec: t.gemmXVec };
  // A split candidate names all of its shape, lanes and turns too: a run merges it over the defaults (GPUs' have lanes).
  const split = (gemvWG: number, gemvR: number, gemvLanes: number, gemvIters: number): Variant =>
    ({ gemv: 'split', gemvWG, gemvR, gemvFloat: false, gemvXVec: 1, gemvLanes, gemvIters });
  // The vector width of x loads (X_VEC) is a candidate of the per-row GEMV; the GEMM's rows keep 1.
  const all: Variant[] = path === 'gemv'
    ? [
        pick(defaults),
        { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvFloat: false, gemvXVec: 4 },
        { gemv: 'rows', gemvWG: 64, gemvR: 2, gemvFloat: false, gemvXVec: 1 },
        split(64, 4, 64, 1), // one group of 4 rows a workgroup
        // Groups of a subgroup's lanes, several a workgroup (8 and 4 of 32 lanes): its prologue (RMSNorm, Q8_0 of x)
        // serves them all. Within WebGPU's default 256 invocations and 16 KiB of workgroup memory.
        split(256, 4, Math.min(256, splitLanes), 1),
        split(128, 2, Math.min(128, splitLanes), 1),
        // And 4 groups of rows in turn: long matrices (a vocabulary) in a quarter of the workgroups, each prologue
        // serving 128 rows. A lent H200 ran Llama-3.2-1B's 128,256-row head in 403 us so, 577 in one turn, 716 by rows.
        split(256, 4, Math.min(256, splitLanes), 4),
      ]
    : [
        pick(defaults),
        { gemm: 'rows', gemmWG: 64, gemmR: 4, gemmTT: 4, gemmFloat: true, gemmXVec: 1 },
        { gemm: 'rows', gemmWG: 64, gemmR: 4, gemmTT: 4, gemmFloat: false, gemmXVec: 1 },
        { gemm: 'tiled', gemmWG: 64, gemmR: 4, gemmTT: 4, gemmFloat: false, gemmXVec: 1 },
      ];
  const plain = floatDot ? all : all.map((v) => ('gemv' in v ? { ...v, gemvFloat: false } : { ...v, gemmFloat: false }));
  return plain.filter((v, i) => plain.findIndex((u) => variantName(u) === variantName(v)) === i);
}

/** The choices made so far on this adapter (for `emberlm bench`), in the order they were made. */
export async function autotuneChoices(adapterName: string): Promise<AutotuneChoice[]> {
  const mine = [...choices.entries()].filter(([k]) => k.startsWith(`${adapterName}|`)).map(([, c]) => c);
  return Promise.all(mine);
}

/**
 * Whether a load autotunes when not told: not under vitest or a browser driven by automation (tests),
 * and not on CPU adapters (lavapipe, SwiftShader), where compiling the GPU-style candidates costs tens
 * of seconds (26 s for SmolLM2-135M on lavapipe) and the per-row layouts are the known best.
 */
export function autotuneDefault(caps: GpuCaps): boolean {
  return !underTestRunner() && !caps.cpu;
}

/** Forgets every choice and the spent budget (tests). */
export function resetAutotune(): void {
  choices.clear();
  spentMs.clear();
  lastTrialAt.clear();
}

/** Each pass's begin and end timestamps, where the device has timestamp queries: pass i writes 2i and 2i + 1. */
interface Stamps {
  querySet: GPUQuerySet;
  resolved: GPUBuffer;
}

function createStamps(gpu: Gpu, passes: number): Stamps | null {
  if (!gpu.caps.timestamps) return null;
  const querySet = gpu.device.createQuerySet({ label: 'autotune', type: 'timestamp', count: 2 * passes });
  const resolved = gpu.device.createBuffer({ label: 'autotune.stamps', size: 16 * passes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  return { querySet, resolved };
}

/**
 * Runs each list its `iters` times in a pass of its own, all in one submit; ms of each pass by its timestamps. A GPU
 * runs a small GEMV in microseconds, less than a submit and its wait take, so every candidate is timed in one.
 */
async function timePasses(gpu: Gpu, lists: readonly (readonly Dispatch[])[], nTokens: number, iters: readonly number[], stamps: Stamps): Promise<number[]> {
  const enc = gpu.device.createCommandEncoder({ label: 'autotune' });
  lists.forEach((list, i) => {
    const pass = enc.beginComputePass({ timestampWrites: { querySet: stamps.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    for (let k = 0; k < iters[i]; k++) encodeDispatches(pass, list, nTokens);
    pass.end();
  });
  enc.resolveQuerySet(stamps.querySet, 0, 2 * lists.length, stamps.resolved, 0);
  gpu.device.queue.submit([enc.finish()]);
  const t = new BigUint64Array(await readBuffer(gpu, stamps.resolved, 16 * lists.length));
  return lists.map((_, i) => Number(t[2 * i + 1] - t[2 * i]) / 1e6);
}

/** Runs `list` `iters` times in one submit; ms of the whole submit by the wall clock (every device has it). */
async function timeOnce(gpu: Gpu, list: readonly Dispatch[], nTokens: number, iters: number): Promise<number> {
  const enc = gpu.device.createCommandEncoder({ label: 'autotune' });
  const pass = enc.beginComputePass();
  for (let i = 0; i < iters; i++) encodeDispatches(pass, list, nTokens);
  pass.end();
  const t0 = performance.now();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** ms of each list run its `iters` times: by timestamps, all in one submit, where the device has them; else a submit each. */
async function timeLists(gpu: Gpu, lists: readonly (readonly Dispatch[])[], nTokens: number, iters: readonly number[], stamps: Stamps | null): Promise<number[]> {
  if (stamps) return timePasses(gpu, lists, nTokens, iters, stamps);
  const ms: number[] = [];
  for (let i = 0; i < lists.length; i++) ms.push(await timeOnce(gpu, lists[i], nTokens, iters[i]));
  return ms;
}

/**
 * Microseconds per run of each list (each run once before): the least of 3 rounds. A list runs enough times for a
 * timed pass of ~0.25 ms by timestamps, or a submit of ~2 ms by the wall clock, so that neither the clock's grain nor a
 * submit and its wait decide small matrices.
 */
async function timeTrials(gpu: Gpu, lists: readonly (readonly Dispatch[])[], nTokens: number, stamps: Stamps | null): Promise<number[]> {
  const target = stamps ? 0.25 : 2;
  const first = await timeLists(gpu, lists, nTokens, lists.map(() => 1), stamps);
  const iters = first.map((ms) => Math.max(1, Math.min(32, Math.round(target / Math.max(ms, 1e-3)))));
  const best = lists.map(() => Infinity);
  for (let r = 0; r < 3; r++) {
    const ms = await timeLists(gpu, lists, nTokens, iters, stamps);
    ms.forEach((t, i) => (best[i] = Math.min(best[i], (1e3 * t) / iters[i])));
  }
  return best;
}

/** A candidate of a trial: its name (variantName for a matmul's) and the list it runs. */
export interface NamedTrial {
  name: string;
  list: readonly Dispatch[];
}

/**
 * The name of the candidate to run for `key` on this adapter: the cached choice, or one made now by timing the lists
 * `trials` builds (each already checked by the correctness tests; called only then, on scratch from its own Allocator,
 * freed after) for `nTokens` tokens. The first candidate is the default, kept when the budget is spent or no other is
 * 10% faster.
 */
export async function chooseByTrial(
  gpu: Gpu, key: string, path: TrialPath, nTokens: number, trials: (scratch: Allocator) => Promise<readonly NamedTrial[]>,
): Promise<string> {
  const full = `${gpu.caps.adapterName}|${key}`;
  let choice = choices.get(full);
  if (!choice) {
    const scratch = new Allocator(gpu);
    try {
      choice = runTrials(gpu, gpu.caps.adapterName, key, path, nTokens, await trials(scratch));
      choices.set(full, choice);
      await choice;
    } finally {
      await scratch.destroyAll();
    }
  }
  return (await choice).chosen;
}

/** The scratch a trial's lists bind instead of the model's Step and y. */
export interface TrialBuffers {
  step: GPUBuffer;
  y: GPUBuffer;
}

/**
 * The variant of `cands` (the default first) to run for this key on this adapter: the cached choice, or
 * one made now by timing each candidate's list (built by `listFor` on private Step and y of `yBytes`)
 * for `nTokens` tokens.
 */
export async function chooseVariant(
  gpu: Gpu, key: string, path: 'gemv' | 'gemm', nTokens: number, yBytes: number, cands: readonly Variant[],
  listFor: (v: Variant, trial: TrialBuffers) => Promise<readonly Dispatch[]>,
): Promise<Variant> {
  const chosen = await chooseByTrial(gpu, key, path, nTokens, (scratch) => {
    const step = scratch.uniform('autotune.step', STEP.size);
    const y = scratch.storage('autotune.y', yBytes);
    gpu.device.queue.writeBuffer(step, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: nTokens }));
    return Promise.all(cands.map(async (v) => ({ name: variantName(v), list: await listFor(v, { step, y }) })));
  });
  return cands.find((v) => variantName(v) === chosen) ?? cands[0];
}

// Trials run one at a time per process: two timed at once would slow each other.
let queue: Promise<unknown> = Promise.resolve();

function runTrials(gpu: Gpu, adapter: string, key: string, path: TrialPath, nTokens: number, trials: readonly NamedTrial[]): Promise<AutotuneChoice> {
  const run = async (): Promise<AutotuneChoice> => {
    const names = trials.map((t) => t.name);
    const us: Record<string, number> = Object.fromEntries(names.map((n) => [n, Infinity]));
    const stamps = createStamps(gpu, trials.length);
    try {
      if ((spentMs.get(adapter) ?? 0) < AUTOTUNE_BUDGET_MS) {
        const lists = trials.map((t) => t.list);
        await timeLists(gpu, lists, nTokens, lists.map(() => 1), stamps); // warm-up, not counted: a CPU adapter compiles here
        const warm = gpuWarmupMs(gpu.caps, performance.now() - (lastTrialAt.get(adapter) ?? -Infinity));
        for (const w0 = performance.now(); performance.now() - w0 < warm;) await timeLists(gpu, lists, nTokens, lists.map(() => 4), stamps);
        const t0 = performance.now();
        (await timeTrials(gpu, lists, nTokens, stamps)).forEach((t, i) => (us[names[i]] = t));
        spentMs.set(adapter, (spentMs.get(adapter) ?? 0) + performance.now() - t0);
        lastTrialAt.set(adapter, performance.now());
      }
    } finally {
      stamps?.querySet.destroy();
      stamps?.resolved.destroy();
    }
    let best = 0; // a clear win only (10%): timings are noisy
    names.forEach((n, i) => { if (us[n] < us[names[best]] * 0.9) best = i; });
    return { key, path, chosen: names[best], us };
  };
  const p = queue.then(run, run);
  queue = p.catch(() => {});
  return p;
}

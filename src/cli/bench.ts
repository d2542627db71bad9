/**
 * `emberlm bench`: the harness of src/bench/ driven from Node, with what only Node has: files
 * (synthetic models written to a cache folder, results written with --out), host details for the
 * report, and llama.cpp as a peer.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { EmberError } from '../errors.ts';
import { createGpu, type Gpu } from '../gpu/device.ts';
import { lavapipeThreadsSet } from '../gpu/dawn.ts';
import { openSource } from '../gguf/source.ts';
import { readGGUF } from '../gguf/reader.ts';
import { checkQuantScheme, type QuantScheme } from '../model/weight_source.ts';
import type { KvCacheType } from '../kernels/kv_layout.ts';
import { kvCacheOption } from '../options.ts';
import { BENCH_SCALES, benchModel, describeDevice, type BenchConfig, type BenchResult, type BenchScales } from '../bench/harness.ts';
import { benchLlamaCpp, loadNodeLlamaCpp, PEER_BACKENDS, type PeerBackend, type PeerInfo } from '../bench/peer.ts';
import { probeBandwidth, type ProbeOptions } from '../bench/probe.ts';
import { formatBench, formatEmbedSpeed, roundDeep, type BenchReport } from '../bench/report.ts';
import { runEmbedSpeed, type EmbedSpeedReport } from '../bench/embed_speed.ts';
import { syntheticGGUF, SYNTHETIC_MODELS } from '../bench/synthetic.ts';
import { hubEnv, strFlag, type Flags } from './args.ts';
import { openOut, printThenSave } from './files.ts';

export interface BenchCommand {
  model?: string; // a GGUF path
  synthetic?: string[]; // "name" or "name:type", e.g. "smollm2-135m:q8_0"
  quant: QuantScheme[];
  config: BenchConfig;
  /** "llama.cpp" (every backend) or "llama.cpp:cpu-t1,vulkan" */
  peer?: string;
  /** Seconds one phase of a peer (loading, a warm-up, a timed run) may take before it is ended (default 600). */
  peerTimeoutS?: number;
  probe?: ProbeOptions;
  gpu?: Gpu;
  log?: (line: string) => void;
  /** Where synthetic files are cached (default $EMBERLM_CACHE or <tmp>/emberlm-bench). */
  cacheDir?: string;
  /** Matmul launch variants timed at load (default: the Engine's, on outside tests). */
  autotune?: boolean;
  /** q8/q4 block scales to run, each side by side (default: the Engine's for the device). */
  scales?: BenchScales[];
  /** Decode fusion (the Engine's fuseDecode) to run, each side by side (default: the Engine's for the device). */
  fuse?: boolean[];
  /** Decode attention kernels (the Engine's wideAttention) to run, each side by side (default: the Engine's). */
  attention?: boolean[];
  /** Where conversions at load run (the Engine's gpuQuantize: true on the GPU), each side by side (default: the GPU). */
  convert?: boolean[];
}

export function parseList(v: string | undefined, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (xs.length === 0) throw new EmberError('BAD_ARGUMENT', `--${what} is empty`);
  return xs;
}

export function parseInts(v: string | undefined, what: string): number[] | undefined {
  return parseList(v, what)?.map((s) => {
    const n = /^\d+$/.test(s) ? Number(s) : NaN; // decimal digits only: Number() takes "0x10" as 16
    if (!Number.isInteger(n) || n < 1) throw new EmberError('BAD_ARGUMENT', `--${what} expects positive integers, got ${JSON.stringify(s)}`);
    return n;
  });
}

export function parseQuant(v: string | undefined): QuantScheme[] {
  return (parseList(v, 'quant') ?? ['auto']).map(checkQuantScheme);
}

/** --kv: one K/V cache type (checked as the engine checks kvCache). */
export function kvCacheFlag(v: string | undefined): KvCacheType | undefined {
  return v === undefined ? undefined : kvCacheOption(v);
}

/** --autotune / --no-autotune as a load option; neither: the engine's default (spread into the options). */
export function autotuneFlag(flags: Record<string, unknown>): { autotune?: boolean } {
  if (flags['no-autotune']) return { autotune: false };
  return flags.autotune ? { autotune: true } : {};
}

/** --scales LIST: f16 and/or f32. */
export function parseScales(v: string | undefined): BenchScales[] | undefined {
  return parseList(v, 'scales')?.map((s) => {
    if (!(BENCH_SCALES as readonly string[]).includes(s)) throw new EmberError('BAD_ARGUMENT', `--scales takes ${BENCH_SCALES.join(' or ')}, got ${JSON.stringify(s)}`);
    return s as BenchScales;
  });
}

/** --<what> LIST of a boolean load option's two names, `yes` (true) and/or `no` (false). */
function parseSwitch(v: string | undefined, what: string, yes: string, no: string): boolean[] | undefined {
  return parseList(v, what)?.map((s) => {
    if (s !== yes && s !== no) throw new EmberError('BAD_ARGUMENT', `--${what} takes ${yes} or ${no}, got ${JSON.stringify(s)}`);
    return s === yes;
  });
}

/** --fuse LIST: on and/or off (the Engine's fuseDecode). */
export const parseFuse = (v: string | undefined) => parseSwitch(v, 'fuse', 'on', 'off');

/** --convert LIST: gpu and/or cpu (the Engine's gpuQuantize on or off). */
export const parseConvert = (v: string | undefined) => parseSwitch(v, 'convert', 'gpu', 'cpu');

/** --attention LIST: wide and/or default (the Engine's wideAttention on or off). */
export const parseAttention = (v: string | undefined) => parseSwitch(v, 'attention', 'wide', 'default');

/** generate's --attention: one of wide or default, as the Engine's wideAttention (nothing when absent). */
export function attentionFlag(v: unknown): { wideAttention?: boolean } {
  if (v === undefined) return {};
  const list = parseAttention(typeof v === 'string' ? v : String(v)) ?? [];
  if (list.length !== 1) throw new EmberError('BAD_ARGUMENT', `--attention takes one of wide or default here, got ${JSON.stringify(v)}`);
  return { wideAttention: list[0] };
}

/** --kv LIST: K/V cache types, comma-separated. */
export function parseKvList(v: string | undefined): KvCacheType[] | undefined {
  return parseList(v, 'kv')?.map((k) => kvCacheOption(k));
}

export function parsePeer(v: string): PeerBackend[] {
  const [name, list] = v.split(':');
  if (name !== 'llama.cpp') throw new EmberError('BAD_ARGUMENT', `unknown peer "${name}" (known: llama.cpp)`);
  const backends = list ? list.split(',') : [...PEER_BACKENDS];
  for (const b of backends) if (!(PEER_BACKENDS as readonly string[]).includes(b)) throw new EmberError('BAD_ARGUMENT', `unknown llama.cpp backend "${b}" (known: ${PEER_BACKENDS.join(', ')})`);
  return backends as PeerBackend[];
}

/** Writes a synthetic model to the cache (once; later runs reuse the file) and returns its path. */
export async function syntheticFile(spec: string, cacheDir: string, log: (l: string) => void): Promise<{ path: string; name: string }> {
  const [name, type = 'q8_0'] = spec.split(':');
  const g = syntheticGGUF(name, type);
  const path = join(cacheDir, g.fileName);
  if (existsSync(path) && statSync(path).size === g.size) return { path, name: `${g.name.replace(/-s1$/, '')} (synthetic)` };
  mkdirSync(cacheDir, { recursive: true });
  log(`writing ${path} (${(g.size / 1e6).toFixed(0)} MB, ${(g.params / 1e6).toFixed(0)}M params)`);
  const t0 = performance.now();
  const tmp = `${path}.${process.pid}.tmp`;
  const out = createWriteStream(tmp);
  for (const chunk of g.chunks()) if (!out.write(chunk)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  renameSync(tmp, path); // atomic: a concurrent run sees the whole file or none
  log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { path, name: `${g.name.replace(/-s1$/, '')} (synthetic)` };
}

function commit(): string | undefined {
  try {
    const cwd = dirname(new URL(import.meta.url).pathname);
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return undefined;
  }
}

async function vocabOf(path: string): Promise<number> {
  const src = await openSource(path);
  try {
    return (await readGGUF(src)).tensors.get('token_embd.weight')?.ne[1] ?? 0;
  } finally {
    await src.close?.();
  }
}

/** Runs the whole benchmark and returns the report (the CLI prints it; tests inspect it). */
export async function runBench(cmd: BenchCommand): Promise<BenchReport> {
  const log = cmd.log ?? (() => {});
  const models: { path: string; name: string }[] = [];
  if (cmd.model) models.push({ path: resolve(cmd.model), name: basename(cmd.model) });
  const cacheDir = cmd.cacheDir ?? process.env.EMBERLM_CACHE ?? join(tmpdir(), 'emberlm-bench');
  for (const s of cmd.synthetic ?? []) models.push(await syntheticFile(s, cacheDir, log));
  if (models.length === 0) throw new EmberError('BAD_ARGUMENT', `bench needs --model <file.gguf> or --synthetic <${Object.keys(SYNTHETIC_MODELS).join('|')}>[:type]`);
  const backends = cmd.peer ? parsePeer(cmd.peer) : [];
  if (backends.length) await loadNodeLlamaCpp(); // fail before any measurement if it is missing

  const load0 = loadavg();
  const gpu = cmd.gpu ?? (await createGpu());
  try {
    log('bandwidth probe');
    const probe = await probeBandwidth(gpu, cmd.probe);
    const results: BenchResult[] = [];
    const peers: Record<string, PeerInfo> = {};
    for (const m of models) {
      const mine: BenchResult[] = [];
      for (const quant of cmd.quant) {
        for (const scales of cmd.scales ?? [undefined]) {
          for (const fuseDecode of cmd.fuse ?? [undefined]) {
            for (const wideAttention of cmd.attention ?? [undefined]) {
              for (const gpuQuantize of cmd.convert ?? [undefined]) {
                const o = { model: m.name, quant, scales, fuseDecode, wideAttention, gpuQuantize, gpu, probeGbS: probe.gb_s, config: cmd.config, onProgress: log, autotune: cmd.autotune };
                mine.push(...(await benchModel(m.path, o)));
              }
            }
          }
        }
      }
      if (backends.length) {
        const vocab = await vocabOf(m.path);
        for (const b of backends) {
          const out = await benchLlamaCpp(m.path, b, cmd.config, vocab, log, { timeoutS: cmd.peerTimeoutS });
          const key = `llama.cpp/${b}`;
          if (out.info) peers[key] = out.info;
          if (out.error) log(out.error);
          for (const r of mine) {
            const i = cmd.config.promptTokens.indexOf(r.prompt_tokens);
            r.peer = { ...r.peer, [key]: out.results?.[i] ?? { error: out.error ?? 'no result' } };
          }
        }
      }
      results.push(...mine);
    }
    const host = {
      runtime: `node ${process.versions.node}, Dawn (npm webgpu)`,
      cpu: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
      LP_NUM_THREADS: lavapipeThreadsSet !== undefined
        ? `${lavapipeThreadsSet} (emberlm's default on ${cpus().length} CPUs: src/gpu/dawn.ts)`
        : process.env.LP_NUM_THREADS ?? '(unset: lavapipe uses one thread per CPU)',
      loadavg_1m: { start: load0[0], end: loadavg()[0] },
    };
    return {
      date: new Date().toISOString(),
      commit: commit(),
      device: describeDevice(gpu, { host }),
      probe_gb_s: probe.gb_s,
      probe,
      config: { ...cmd.config, quant: cmd.quant, ...(cmd.scales ? { scales: cmd.scales } : {}), ...(cmd.fuse ? { fuse: cmd.fuse } : {}), ...(cmd.attention ? { attention: cmd.attention.map((w) => (w ? 'wide' : 'default')) } : {}), ...(cmd.convert ? { convert: cmd.convert.map((g) => (g ? 'gpu' : 'cpu')) } : {}), peer_note: backends.length ? 'llama.cpp runs the GGUF as it is (its own weight types), whatever --quant says' : undefined },
      ...(backends.length ? { peers } : {}),
      results,
    };
  } finally {
    if (!cmd.gpu) gpu.device.destroy();
  }
}

export async function bench(flags: Flags): Promise<void> {
  if (flags.embed) return benchEmbed(flags);
  const str = (k: string) => strFlag(flags, k);
  const one = (k: string, fallback: number) => {
    const xs = parseInts(str(k), k) ?? [fallback];
    if (xs.length > 1) throw new EmberError('BAD_ARGUMENT', `--${k} takes one number, got ${JSON.stringify(str(k))}`);
    return xs[0];
  };
  const cmd: BenchCommand = {
    model: str('model'),
    synthetic: parseList(str('synthetic'), 'synthetic'),
    quant: parseQuant(str('quant')),
    config: {
      promptTokens: parseInts(str('prompt-tokens'), 'prompt-tokens') ?? [128],
      genTokens: one('gen-tokens', 64),
      repeats: one('repeats', 3),
      decodeAhead: parseInts(str('decode-ahead'), 'decode-ahead'),
      kvCache: kvCacheFlag(str('kv')),
    },
    peer: str('peer'),
    scales: parseScales(str('scales')),
    fuse: parseFuse(str('fuse')),
    attention: parseAttention(str('attention')),
    convert: parseConvert(str('convert')),
    peerTimeoutS: str('peer-timeout') === undefined ? undefined : one('peer-timeout', 0),
    ...autotuneFlag(flags),
    log: (l) => process.stderr.write(`${l}\n`),
  };
  const out = str('out') === undefined ? undefined : openOut(str('out')!); // before the run, which may take an hour
  const report = await runBench(cmd).catch((e) => {
    out?.discard();
    throw e;
  });
  const rounded = roundDeep(report);
  const printed = flags.json ? JSON.stringify(rounded) + '\n' : formatBench(report, flags.markdown ? 'markdown' : 'text');
  printThenSave(printed, rounded, out);
}

/** `bench --embed`: embed's time for one input of each length, per --quant (src/bench/embed_speed.ts). */
async function benchEmbed(flags: Flags): Promise<void> {
  const str = (k: string) => strFlag(flags, k);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  // (a synthetic decoder embeds by its last row: Qwen3-Embedding-0.6B is the qwen3-0.6b shape)
  const synthetic = str('synthetic');
  const cacheDir = process.env.EMBERLM_CACHE ?? join(tmpdir(), 'emberlm-bench');
  const model = synthetic ? await syntheticFile(synthetic, cacheDir, log) : str('model') && { path: str('model')!, name: basename(str('model')!) };
  if (!model) throw new EmberError('BAD_ARGUMENT', 'bench --embed takes --model (an embedding model: a folder, a GGUF, a URL or a Hub id) or --synthetic <name>[:type]');
  const promptTokens = parseInts(str('prompt-tokens'), 'prompt-tokens') ?? [16, 64, 256];
  const repeats = parseInts(str('repeats'), 'repeats')?.[0] ?? 3;
  const inputs = parseInts(str('inputs'), 'inputs')?.[0] ?? 1;
  const batch = parseSwitch(str('batch'), 'batch', 'on', 'off');
  const kvCache = kvCacheFlag(str('kv'));
  const out = str('out') === undefined ? undefined : openOut(str('out')!);
  const gpu = await createGpu();
  const reports: EmbedSpeedReport[] = [];
  try {
    for (const quant of parseQuant(str('quant'))) {
      reports.push(await runEmbedSpeed(model.path, { model: model.name, gpu, quant, kvCache, promptTokens, inputs, batch, repeats, load: hubEnv(), onProgress: log, loadavg: () => loadavg()[0] }));
    }
  } catch (e) {
    out?.discard();
    throw e;
  } finally {
    gpu.device.destroy();
  }
  const rounded = roundDeep(reports);
  const printed = flags.json ? JSON.stringify(rounded) + '\n' : formatEmbedSpeed(reports, flags.markdown ? 'markdown' : 'text');
  printThenSave(printed, rounded, out);
}

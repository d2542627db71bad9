/**
 * llama.cpp as a peer, through node-llama-cpp (a dev dependency) in the same process: the same
 * GGUF and prompt lengths, timed the same way (prefill to the first sampled token, then per-token
 * decode times). Node only; node-llama-cpp is loaded with a dynamic import so that nothing here
 * is bundled, and it never downloads or compiles anything (`build: 'never'`).
 *
 * Backends: 'cpu-t1' and 'cpu-t2' (CPU, 1 and 2 threads), 'vulkan' (@node-llama-cpp/linux-x64-vulkan;
 * ggml-vulkan ignores CPU Vulkan devices such as lavapipe unless GGML_VK_VISIBLE_DEVICES is set,
 * so it is set to 0 here when unset).
 */
import { EmberError } from '../errors.ts';
import { benchPrompt, type BenchConfig, type SpeedResult } from './harness.ts';
import { latency, spread } from './stats.ts';

export const PEER_BACKENDS = ['cpu-t1', 'cpu-t2', 'vulkan'] as const;
export type PeerBackend = (typeof PEER_BACKENDS)[number];

export const LLAMA_CPP_INSTALL = 'NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install -D node-llama-cpp@3.22.1';

/* The small part of node-llama-cpp's API used here (its types are not imported, so the module is optional). */
interface LlamaSequence {
  evaluate(tokens: number[], o: { temperature: number }): AsyncGenerator<number, void, void>;
  clearHistory(): Promise<void>;
}
interface LlamaContextT {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
interface LlamaModelT {
  createContext(o: Record<string, unknown>): Promise<LlamaContextT>;
  dispose(): Promise<void>;
}
interface LlamaT {
  gpu: string | false;
  llamaCppRelease: { repo: string; release: string };
  getGpuDeviceNames(): Promise<string[]>;
  loadModel(o: Record<string, unknown>): Promise<LlamaModelT>;
  dispose(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(o: Record<string, unknown>): Promise<LlamaT>;
}

/** Imports node-llama-cpp, or fails with how to install it. `specifier` is for tests. */
export async function loadNodeLlamaCpp(specifier = 'node-llama-cpp'): Promise<NodeLlamaCpp> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as NodeLlamaCpp;
  } catch (e) {
    throw new EmberError('UNSUPPORTED', `--peer llama.cpp needs the npm package ${specifier}, which could not be loaded (${(e as Error).message.split('\n')[0]}); install it with: ${LLAMA_CPP_INSTALL}`);
  }
}

export interface PeerInfo {
  name: string; // "llama.cpp"
  release: string;
  backend: PeerBackend;
  devices: string[];
}

export interface PeerOutcome {
  info?: PeerInfo;
  /** One per prompt length, in the order of config.promptTokens; absent with `error`. */
  results?: SpeedResult[];
  error?: string;
}

async function timedRun(seq: LlamaSequence, ids: number[], gen: number) {
  const t0 = performance.now();
  const stamps: number[] = [];
  for await (const _ of seq.evaluate(ids, { temperature: 0 })) {
    stamps.push(performance.now());
    if (stamps.length >= gen) break;
  }
  await seq.clearHistory();
  const tokenMs = stamps.slice(1).map((t, i) => t - stamps[i]);
  const ttftMs = stamps[0] - t0;
  return { ttftMs, prefillTokS: ids.length / (ttftMs / 1000), decodeTokS: tokenMs.length / (tokenMs.reduce((a, b) => a + b, 0) / 1000), tokenMs };
}

/**
 * Runs one backend of llama.cpp on `modelPath` for every prompt length of `config` (one warm-up
 * run, then `repeats`). A backend that cannot run here (no Vulkan binary or device) comes back
 * with `error` rather than throwing; a missing node-llama-cpp throws.
 */
export async function benchLlamaCpp(modelPath: string, backend: PeerBackend, config: BenchConfig, vocab: number, say: (m: string) => void = () => {}, specifier?: string): Promise<PeerOutcome> {
  const mod = await loadNodeLlamaCpp(specifier);
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (backend === 'vulkan' && env && env.GGML_VK_VISIBLE_DEVICES === undefined) env.GGML_VK_VISIBLE_DEVICES = '0';
  let llama: LlamaT;
  try {
    llama = await mod.getLlama({ build: 'never', skipDownload: true, usePrebuiltBinaries: true, gpu: backend === 'vulkan' ? 'vulkan' : false, logLevel: 'error', progressLogs: false });
  } catch (e) {
    return { error: `llama.cpp ${backend} is not available: ${(e as Error).message.split('\n')[0]}` };
  }
  const devices = backend === 'vulkan' ? await llama.getGpuDeviceNames() : [];
  if (backend === 'vulkan' && devices.length === 0) return { error: 'llama.cpp vulkan: no Vulkan device' };
  const threads = backend === 'cpu-t2' ? 2 : 1;
  const info: PeerInfo = { name: 'llama.cpp', release: llama.llamaCppRelease.release, backend, devices };
  const maxPrompt = Math.max(...config.promptTokens);
  say(`llama.cpp ${backend}: loading`);
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath, gpuLayers: backend === 'vulkan' ? 'max' : 0 });
  const loadMs = performance.now() - t0;
  try {
    const ctx = await model.createContext({
      contextSize: maxPrompt + config.genTokens,
      batchSize: Math.min(maxPrompt, config.maxBatch ?? 512),
      sequences: 1,
      threads: { ideal: threads, min: threads },
      flashAttention: false,
    });
    try {
      const seq = ctx.getSequence();
      const results: SpeedResult[] = [];
      for (const p of config.promptTokens) {
        const ids = benchPrompt(vocab, p, config.seed ?? 1);
        say(`llama.cpp ${backend}: prompt ${p}: warm-up`);
        const w0 = performance.now();
        await timedRun(seq, ids, Math.min(config.genTokens, 4));
        const warmupMs = performance.now() - w0;
        const runs = [];
        for (let r = 0; r < config.repeats; r++) {
          say(`llama.cpp ${backend}: prompt ${p}: run ${r + 1}/${config.repeats}`);
          runs.push(await timedRun(seq, ids, config.genTokens));
        }
        const pre = spread(runs.map((r) => r.prefillTokS));
        const dec = spread(runs.map((r) => r.decodeTokS));
        const ttft = spread(runs.map((r) => r.ttftMs));
        results.push({
          load_ms: loadMs,
          warmup_ms: warmupMs,
          prefill_tok_s: pre.median,
          decode_tok_s: dec.median,
          ttft_ms: ttft.median,
          latency_ms: latency(runs.flatMap((r) => r.tokenMs)),
          range: { prefill_tok_s: { min: pre.min, max: pre.max }, decode_tok_s: { min: dec.min, max: dec.max }, ttft_ms: { min: ttft.min, max: ttft.max } },
        });
      }
      return { info, results };
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

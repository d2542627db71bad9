/**
 * llama.cpp through node-llama-cpp (a dev dependency), as the bench's peer process runs it (peer_child.ts):
 * the same GGUF and prompt ids as ours, timed the same way (prefill to the first sampled token, then
 * per-token decode times). Nothing here touches WebGPU or the engine, so that the child loads only this,
 * node-llama-cpp, stats.ts and errors.ts. node-llama-cpp is loaded with a dynamic import so that nothing of
 * it is bundled, and it never downloads or compiles anything (`build: 'never'`).
 */
import { EmberError } from '../errors.ts';
import type { SpeedResult } from './harness.ts';
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

/** What the bench asks of the peer process: the prompts are ours (the same ids), made by the parent. */
export interface PeerJob {
  modelPath: string;
  backend: PeerBackend;
  prompts: number[][];
  genTokens: number;
  repeats: number;
  maxBatch?: number;
}

/** What the peer reports as it goes: each phase as it starts, then its info and one result per prompt. */
export type PeerEvent =
  | { phase: string }
  | { info: PeerInfo }
  | { result: SpeedResult; index: number }
  | { error: string };

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
 * Runs one backend of llama.cpp on the job's model for every prompt (one warm-up run, then `repeats`),
 * telling `emit` each phase before it starts and each result as soon as it is known. A backend that cannot
 * run here (no Vulkan binary or device) ends with an `error` event rather than throwing.
 */
export async function runLlamaCpp(job: PeerJob, emit: (e: PeerEvent) => void, specifier?: string): Promise<void> {
  const { backend } = job;
  const mod = await loadNodeLlamaCpp(specifier);
  let llama: LlamaT;
  try {
    llama = await mod.getLlama({ build: 'never', skipDownload: true, usePrebuiltBinaries: true, gpu: backend === 'vulkan' ? 'vulkan' : false, logLevel: 'error', progressLogs: false });
  } catch (e) {
    return emit({ error: `llama.cpp ${backend} is not available: ${(e as Error).message.split('\n')[0]}` });
  }
  const devices = backend === 'vulkan' ? await llama.getGpuDeviceNames() : [];
  if (backend === 'vulkan' && devices.length === 0) return emit({ error: 'llama.cpp vulkan: no Vulkan device' });
  const threads = backend === 'cpu-t2' ? 2 : 1;
  emit({ info: { name: 'llama.cpp', release: llama.llamaCppRelease.release, backend, devices } });
  const maxPrompt = Math.max(...job.prompts.map((p) => p.length));
  emit({ phase: 'loading' });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: job.modelPath, gpuLayers: backend === 'vulkan' ? 'max' : 0 });
  const loadMs = performance.now() - t0;
  try {
    emit({ phase: 'creating a context' });
    const ctx = await model.createContext({
      contextSize: maxPrompt + job.genTokens,
      batchSize: Math.min(maxPrompt, job.maxBatch ?? 512),
      sequences: 1,
      threads: { ideal: threads, min: threads },
      flashAttention: false,
    });
    try {
      const seq = ctx.getSequence();
      for (const [index, ids] of job.prompts.entries()) {
        emit({ phase: `prompt ${ids.length}: warm-up` });
        const w0 = performance.now();
        await timedRun(seq, ids, Math.min(job.genTokens, 4));
        const warmupMs = performance.now() - w0;
        const runs = [];
        for (let r = 0; r < job.repeats; r++) {
          emit({ phase: `prompt ${ids.length}: run ${r + 1}/${job.repeats}` });
          runs.push(await timedRun(seq, ids, job.genTokens));
        }
        const pre = spread(runs.map((r) => r.prefillTokS));
        const dec = spread(runs.map((r) => r.decodeTokS));
        const ttft = spread(runs.map((r) => r.ttftMs));
        emit({
          index,
          result: {
            load_ms: loadMs,
            warmup_ms: warmupMs,
            prefill_tok_s: pre.median,
            decode_tok_s: dec.median,
            ttft_ms: ttft.median,
            latency_ms: latency(runs.flatMap((r) => r.tokenMs)),
            range: { prefill_tok_s: { min: pre.min, max: pre.max }, decode_tok_s: { min: dec.min, max: dec.max }, ttft_ms: { min: ttft.min, max: ttft.max } },
          },
        });
      }
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

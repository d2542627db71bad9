/**
 * llama.cpp as the bench's peer: each backend runs in a child process (peer_child.ts, which runs
 * peer_llama.ts) on the same GGUF and the same prompt ids as ours. The child reports each phase as it
 * starts; a phase that runs past the timeout ends the child and comes back as an error row, with any
 * prompt lengths already measured kept. Node only.
 *
 * Backends: 'cpu-t1' and 'cpu-t2' (CPU, 1 and 2 threads), 'vulkan' (@node-llama-cpp/linux-x64-vulkan;
 * ggml-vulkan ignores CPU Vulkan devices such as lavapipe unless GGML_VK_VISIBLE_DEVICES is set,
 * so the child gets 0 when it is unset).
 */
import { fork } from 'node:child_process';
import { benchPrompt, type BenchConfig, type SpeedResult } from './harness.ts';
import type { PeerBackend, PeerEvent, PeerInfo, PeerJob } from './peer_llama.ts';

export { loadNodeLlamaCpp, LLAMA_CPP_INSTALL, PEER_BACKENDS, type PeerBackend, type PeerInfo } from './peer_llama.ts';

/** A phase (loading, one prompt's warm-up, one timed run) that takes longer ends the peer (seconds). */
export const PEER_PHASE_TIMEOUT_S = 600;

export interface PeerOutcome {
  info?: PeerInfo;
  /** One per prompt length, in the order of config.promptTokens; a hole where it did not finish. */
  results?: (SpeedResult | undefined)[];
  error?: string;
}

export interface PeerOptions {
  /** Seconds one phase may take (default PEER_PHASE_TIMEOUT_S). */
  timeoutS?: number;
  /** Module to load in place of node-llama-cpp (tests). */
  specifier?: string;
}

const VULKAN_HINT = "the first Vulkan run compiles llama.cpp's shaders on the CPU; Mesa caches them, so a rerun gets further";

/** The child's script: the source under vitest/tsx (run through tsx), the bundle's peer-child.js in dist/. */
function childScript(): { path: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const name = fromSource ? './peer_child.ts' : './peer-child.js';
  return { path: new URL(name, import.meta.url).pathname, execArgv: fromSource ? ['--import', 'tsx'] : [] };
}

/**
 * Runs one backend of llama.cpp on `modelPath` for every prompt length of `config` (one warm-up run, then
 * `repeats`) in a child process. Never throws for what happens in the child: a backend that cannot run here,
 * a crash or a phase past the timeout comes back as `error`.
 */
export async function benchLlamaCpp(modelPath: string, backend: PeerBackend, config: BenchConfig, vocab: number, say: (m: string) => void = () => {}, opts: PeerOptions = {}): Promise<PeerOutcome> {
  const timeoutS = opts.timeoutS ?? PEER_PHASE_TIMEOUT_S;
  const job: PeerJob = {
    modelPath,
    backend,
    prompts: config.promptTokens.map((p) => benchPrompt(vocab, p, config.seed ?? 1)),
    genTokens: config.genTokens,
    repeats: config.repeats,
    maxBatch: config.maxBatch,
  };
  const env = { ...process.env };
  if (backend === 'vulkan') env.GGML_VK_VISIBLE_DEVICES ??= '0';
  const script = childScript();
  const child = fork(script.path, opts.specifier ? [opts.specifier] : [], { execArgv: script.execArgv, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  child.stdout?.resume(); // llama.cpp's own logging must not reach our stdout (the report goes there)

  const out: PeerOutcome = { results: config.promptTokens.map(() => undefined) };
  let phase = 'starting';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let done = false;
  const exited = new Promise<void>((resolve) => {
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        out.error = `llama.cpp ${backend}: ${phase} timed out after ${timeoutS} s${backend === 'vulkan' && /warm-up/.test(phase) ? ` (${VULKAN_HINT})` : ''}`;
        child.kill('SIGKILL');
      }, timeoutS * 1000);
    };
    arm();
    child.on('message', (e: PeerEvent | { done: true }) => {
      if ('phase' in e) {
        phase = e.phase;
        say(`llama.cpp ${backend}: ${phase}`);
        arm();
      } else if ('info' in e) out.info = e.info;
      else if ('result' in e) out.results![e.index] = e.result;
      else if ('error' in e) out.error = e.error;
      else done = true;
    });
    child.on('error', (e) => {
      out.error ??= `llama.cpp ${backend}: the peer process failed: ${e.message}`;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!done && !out.error) out.error = `llama.cpp ${backend}: the peer process ended during ${phase} (${signal ?? `exit code ${code}`})${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
      resolve();
    });
  });
  child.send(job);
  await exited;
  if (out.results!.every((r) => r === undefined)) delete out.results;
  return out;
}

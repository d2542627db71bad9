/**
 * lavapipe's thread count (Mesa's LP_NUM_THREADS) side by side in one process: one Dawn instance per value (Mesa
 * reads the variable when an instance is created), the model loaded on each, then whole decode steps and a prefill
 * pass timed in turns (dispatch lists back to back in one pass), then the engine's own prefill and decode (the
 * bench harness, --prompt tokens, --gen tokens) in turns, so that this shared machine's swings in speed fall on every
 * value alike. Times; checks nothing.
 *
 *   npx tsx bench/lp_threads.ts [--threads 0,2] [--model FILE.gguf] [--pos 128] [--tokens 32] [--iters 8] [--rounds 4]
 *     [--prompt 128] [--gen 32] [--engine-rounds 2]
 */
import { parseArgs } from 'node:util';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUnderVite } from './run_under_vite.ts';
import { timeList } from './matmul.ts';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      threads: { type: 'string', default: '0,2' }, model: { type: 'string', default: join(tmpdir(), 'emberlm-bench', 'smollm2-135m-Q8_0-s1-v1.gguf') },
      prompt: { type: 'string', default: '128' }, gen: { type: 'string', default: '32' }, 'engine-rounds': { type: 'string', default: '2' },
      pos: { type: 'string', default: '128' }, tokens: { type: 'string', default: '32' }, iters: { type: 'string', default: '8' }, rounds: { type: 'string', default: '4' },
    },
  });
  await import('../src/node/host.ts');
  const { loadModel } = await import('../src/load.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const { STEP, STEP_DEFAULTS } = await import('../src/kernels/dispatch.ts');
  const { benchModel } = await import('../src/bench/harness.ts');
  const webgpu = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
  Object.assign(globalThis, webgpu.globals);
  const [pos, tokens, iters, rounds] = [a.pos, a.tokens, a.iters, a.rounds].map(Number);
  const runs = [];
  for (const threads of a.threads.split(',')) {
    process.env.LP_NUM_THREADS = threads;
    const instance = webgpu.create([]); // kept referenced (Dawn's waits resolve only while it is)
    // createGpu's entry (defined, not assigned: Node 21+ has a navigator without a setter)
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: instance }, configurable: true, writable: true });
    const gpu = await createGpu();
    const { model: m } = await loadModel(a.model, { gpu });
    const set = (b: GPUBuffer, n: number) => m.gpu.device.queue.writeBuffer(b, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: n, pos }));
    runs.push({ threads, instance, gpu, m, set, decode: [...m.decode, ...m.head], decodeMs: Infinity, prefillMs: Infinity, engine: [] as string[] });
  }
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${runs[0].m.gpu.caps.adapterName}; pos ${pos}, prefill pass of ${tokens} tokens`);
  for (let r = 0; r <= rounds; r++) {
    for (const e of runs) {
      e.set(e.m.buffers.step, 1);
      e.set(e.m.buffers.stepHead, 1);
      const decode = (await timeList(e.m.gpu, e.decode, iters)) / 1e3;
      e.set(e.m.buffers.step, tokens);
      const prefill = (await timeList(e.m.gpu, e.m.prefill, 2, tokens)) / 1e3;
      if (r === 0) continue; // warm-up
      e.decodeMs = Math.min(e.decodeMs, decode);
      e.prefillMs = Math.min(e.prefillMs, prefill);
    }
  }
  for (const e of runs) {
    console.log(`LP_NUM_THREADS=${e.threads}: decode step ${e.decodeMs.toFixed(2)} ms (${(1e3 / e.decodeMs).toFixed(1)} tok/s), prefill pass ${e.prefillMs.toFixed(1)} ms (${((tokens * 1e3) / e.prefillMs).toFixed(1)} tok/s); best of ${rounds}`);
  }
  // The engine's prefill and decode (one submit a step, readbacks, decoding ahead), the values in turns.
  const config = { promptTokens: [Number(a.prompt)], genTokens: Number(a.gen), repeats: 1, profileTokens: 0 };
  for (let r = 0; r < Number(a['engine-rounds']); r++) {
    for (const e of runs) {
      const [res] = await benchModel(a.model, { model: 'bench', quant: 'auto', gpu: e.gpu, probeGbS: 1, config });
      e.engine.push(`prefill ${res.prefill_tok_s.toFixed(1)} decode ${res.decode_tok_s.toFixed(1)} tok/s (p50 ${res.latency_ms.p50.toFixed(1)} ms)`);
    }
  }
  for (const e of runs) console.log(`LP_NUM_THREADS=${e.threads}, engine, ${a.prompt} + ${a.gen} tokens: ${e.engine.join('; ')}`);
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  process.exit(0);
}

await runUnderVite(import.meta);

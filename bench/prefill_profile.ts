/**
 * GPU time of one prefill pass by kernel family (timestamp queries, one compute pass per dispatch), and
 * the process CPU time of the same pass unprofiled: where a prefill's time goes.
 *
 *   npx tsx bench/prefill_profile.ts [--model FILE.gguf] [--tokens 128] [--no-autotune]
 *
 * Default model: the synthetic SmolLM2-135M Q8_0 that `emberlm bench --synthetic smollm2-135m:q8_0` writes.
 */
import { parseArgs } from 'node:util';
import { runUnderVite } from './run_under_vite.ts';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { tmpdir } = await import('node:os');
  const { values: a } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: `${tmpdir()}/emberlm-bench/smollm2-135m-Q8_0-s1-v1.gguf` },
      tokens: { type: 'string', default: '128' }, 'no-autotune': { type: 'boolean' },
    },
  });
  await import('../src/node/host.ts');
  const { Engine } = await import('../src/engine.ts');
  const { forward } = await import('../src/model/model.ts');
  const { TimestampProfiler } = await import('../src/bench/profile.ts');
  const { loadavg } = await import('node:os');
  const T = Number(a.tokens);
  const engine = await Engine.load(a.model, { contextLength: T + 8, maxBatch: T, autotune: !a['no-autotune'] });
  const m = engine.model;
  const ids = Array.from({ length: T }, (_, i) => 3 + ((i * 7919) % (m.config.vocab - 3)));
  const greedy = { temperature: 0, topK: 0, topP: 1 };
  await forward(m, ids, 0, greedy, 0); // warm-up
  let cpu = Infinity;
  let wall = Infinity;
  for (let r = 0; r < 2; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await forward(m, ids, 0, greedy, 0);
    wall = Math.min(wall, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e3);
  }
  const prof = new TimestampProfiler(m.gpu, 1024);
  await forward(m, ids, 0, greedy, 0, prof);
  await prof.collect();
  console.log(`${T} tokens in one pass: wall ${wall.toFixed(0)} ms (${((1e3 * T) / wall).toFixed(1)} tok/s), process CPU ${cpu.toFixed(0)} ms; load average ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  for (const k of prof.families(T)) console.log(`  ${k.name.padEnd(20)} ${k.ms_per_token.toFixed(3).padStart(8)} ms per token (${k.calls_per_token.toFixed(2)} calls)`);
  prof.destroy();
  engine.dispose();
}

await runUnderVite(import.meta);

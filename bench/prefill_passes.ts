/**
 * Prefill time by pass size: the same prompt prefilled in passes of n tokens, each size in turns in one
 * process (wall time, the LM head on the last pass only, as the engine's prefill does).
 *
 *   npx tsx bench/prefill_passes.ts [--model FILE.gguf] [--tokens 128] [--passes 16,32,64,128] [--rounds 2]
 */
import { parseArgs } from 'node:util';
import { runUnderVite } from './run_under_vite.ts';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { tmpdir, loadavg } = await import('node:os');
  const { values: a } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: `${tmpdir()}/emberlm-bench/smollm2-135m-Q8_0-s1-v1.gguf` },
      tokens: { type: 'string', default: '128' }, passes: { type: 'string', default: '16,32,64,128' },
      rounds: { type: 'string', default: '2' },
    },
  });
  await import('../src/node/host.ts');
  const { Engine } = await import('../src/engine.ts');
  const { submitForward } = await import('../src/model/model.ts');
  const T = Number(a.tokens);
  const sizes = a.passes.split(',').map(Number);
  const engine = await Engine.load(a.model, { contextLength: T + 8, maxBatch: Math.max(...sizes) });
  const m = engine.model;
  const ids = Array.from({ length: T }, (_, i) => 3 + ((i * 7919) % (m.config.vocab - 3)));
  const greedy = { temperature: 0, topK: 0, topP: 1 };
  const prefill = async (n: number) => {
    const t0 = performance.now();
    let last: Promise<number> | null = null;
    for (let p = 0; p < T; p += n) {
      const k = Math.min(n, T - p);
      const step = await submitForward(m, ids.slice(p, p + k), p, { ...greedy, head: p + k === T }, 0);
      await last;
      last = step.wait();
    }
    await last;
    return performance.now() - t0;
  };
  for (const n of sizes) await prefill(n); // warm-up: pipelines and autotune for every pass size
  const speeds = new Map<number, number[]>(); // tok/s of each round, by pass size
  for (let r = 0; r < Number(a.rounds); r++) {
    for (const n of sizes) speeds.set(n, [...(speeds.get(n) ?? []), (1e3 * T) / (await prefill(n))]);
  }
  console.log(`${T} tokens, load average ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
  for (const [n, v] of speeds) console.log(`  passes of ${String(n).padStart(4)}: ${v.map((x) => x.toFixed(1)).join(', ')} tok/s`);
  engine.dispose();
}

await runUnderVite(import.meta);

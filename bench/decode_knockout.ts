/**
 * Where a decode step's GPU time goes: the step's dispatch list (layers, then final norm, LM head and
 * sampler) launched `iters` times in one pass, then each kernel family's dispatches alone the same way (on
 * the buffers the whole steps left), unlike the per-dispatch profile, whose timestamps around every
 * dispatch add their own cost. Leaving families out instead was not additive: x then grows step after step.
 * This times; it checks nothing.
 *
 *   npx tsx bench/decode_knockout.ts [--model FILE.gguf] [--iters 8] [--pos 128]
 *   npx tsx bench/decode_knockout.ts --fuse default,false,true [--rounds 4]
 *     (the model loaded once per fuseDecode value, whole steps timed in turns: which decode is faster here)
 */
import { parseArgs } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUnderVite } from './run_under_vite.ts';
import { timeList } from './matmul.ts';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: join(tmpdir(), 'emberlm-bench', 'smollm2-135m-Q8_0-s1-v1.gguf') }, iters: { type: 'string', default: '8' }, pos: { type: 'string', default: '128' },
      fuse: { type: 'string' }, rounds: { type: 'string', default: '4' },
    },
  });
  if (a.fuse) return compareFusions(a.model, a.fuse.split(','), Number(a.iters), Number(a.pos), Number(a.rounds));
  await import('../src/node/host.ts');
  const { loadModel } = await import('../src/load.ts');
  const { STEP, STEP_DEFAULTS } = await import('../src/kernels/dispatch.ts');
  const { loadavg } = await import('node:os');
  const { model: m } = await loadModel(a.model);
  const iters = Number(a.iters);
  m.gpu.device.queue.writeBuffer(m.buffers.step, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: 1, pos: Number(a.pos) }));
  m.gpu.device.queue.writeBuffer(m.buffers.stepHead, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: 1, pos: Number(a.pos) }));
  const all = [...m.decode, ...m.head];
  const family = (label: string) => label.replace(/^blk\.\d+\./, '').split(/[/[.]/)[0];
  const families = [...new Set(all.map((d) => family(d.label)))];
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}; ${m.gpu.caps.adapterName}; ${all.length} dispatches a step`);
  const time = async (list: typeof all) => {
    let best = Infinity;
    for (let r = 0; r < 3; r++) best = Math.min(best, await timeList(m.gpu, list, iters));
    return best / 1e3;
  };
  await time(all); // warm-up
  const whole = await time(all);
  console.log(`whole step: ${whole.toFixed(2)} ms`);
  let sum = 0;
  for (const f of families) {
    const alone = all.filter((d) => family(d.label) === f);
    const ms = await time(alone);
    sum += ms;
    console.log(`${f.padEnd(24)} ${alone.length.toString().padStart(4)} dispatches  alone ${ms.toFixed(2).padStart(6)} ms`);
  }
  console.log(`sum of families alone: ${sum.toFixed(2)} ms`);
  // The matmuls by matrix (their bind group's label, without the layer).
  const matrix = (d: (typeof all)[number]) => d.bindGroup.label.replace(/^blk\.\d+\./, '');
  const mm = all.filter((d) => family(d.label).startsWith('matmul'));
  for (const name of [...new Set(mm.map(matrix))]) {
    const alone = mm.filter((d) => matrix(d) === name);
    console.log(`  ${name.padEnd(30)} ${alone.length.toString().padStart(4)} dispatches  alone ${(await time(alone)).toFixed(2).padStart(6)} ms`);
  }
  console.log(`whole step: ${(await time(all)).toFixed(2)} ms; load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  process.exit(0);
}

/** Whole decode steps of the model built once per fuseDecode value ('default' leaves it unset), timed in turns. */
async function compareFusions(file: string, values: string[], iters: number, pos: number, rounds: number): Promise<void> {
  await import('../src/node/host.ts');
  const { loadModel } = await import('../src/load.ts');
  const { STEP, STEP_DEFAULTS } = await import('../src/kernels/dispatch.ts');
  const { loadavg } = await import('node:os');
  const models = [];
  for (const v of values) {
    const fuseDecode = v === 'default' ? undefined : v === 'true';
    const { model: m } = await loadModel(file, { fuseDecode });
    for (const b of [m.buffers.step, m.buffers.stepHead]) m.gpu.device.queue.writeBuffer(b, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: 1, pos }));
    models.push({ v, m, list: [...m.decode, ...m.head], best: Infinity });
  }
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${models[0].m.gpu.caps.adapterName}`);
  for (let r = 0; r <= rounds; r++) {
    for (const e of models) {
      const ms = (await timeList(e.m.gpu, e.list, iters)) / 1e3;
      if (r > 0) e.best = Math.min(e.best, ms); // round 0 warms up
    }
  }
  for (const e of models) console.log(`fuseDecode ${e.v.padEnd(8)} ${e.list.length} dispatches  ${e.best.toFixed(2)} ms a step (best of ${rounds})`);
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  process.exit(0);
}

await runUnderVite(import.meta);

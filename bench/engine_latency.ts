/**
 * Stop latency during a long prefill, prefill throughput by pass size, and time to first token per chat
 * turn with and without KV-cache reuse, on any GGUF (the README quotes the synthetic SmolLM2-135M Q8_0):
 *
 *   npx tsx --import ./scripts/wgsl-loader.mjs bench/engine_latency.ts <model.gguf> \
 *     [--stop-prompt 1800] [--stop-after-ms 3000]
 *
 * Prints JSON. Wall-clock numbers on a shared machine: run side by side, read with the load average.
 */
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import '../src/node/host.ts'; // paths and Dawn, as the Node entry installs them
import { Engine } from '../src/engine.ts';
import { benchPrompt } from '../src/bench/harness.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { 'stop-prompt': { type: 'string', default: '1800' }, 'stop-after-ms': { type: 'string', default: '3000' } },
});
const GREEDY = { temperature: 0, topK: 0, topP: 1, stopAtEos: false } as const;
const load = () => execSync('uptime').toString().trim().replace(/.*load average: /, '');

async function stopLatency(engine: Engine, prompt: number[], afterMs: number) {
  const ac = new AbortController();
  const s = engine.generate(prompt, { ...GREEDY, maxTokens: 4, signal: ac.signal, reuseKv: false });
  let tAbort = 0;
  setTimeout(() => {
    tAbort = performance.now();
    ac.abort();
  }, afterMs);
  const r = await s.next();
  const tEnd = performance.now();
  return { latency_ms: Math.round(tEnd - tAbort), tokens_out: r.done ? r.value.ids.length : 1, prefilled: engine.model.kv.ids.length };
}

async function main(): Promise<void> {
  const path = positionals[0];
  if (!path) throw new Error('usage: npx tsx bench/engine_latency.ts <model.gguf>');
  const engine = await Engine.load(path, { contextLength: 2048 });
  const vocab = engine.config.vocab;
  const out: Record<string, unknown> = { model: path, adapter: engine.model.gpu.caps.adapterName, load_at_start: load() };

  // Warm up (compiles nothing more, but settles the pass size tuning).
  await engine.complete(benchPrompt(vocab, 64, 9), { ...GREEDY, maxTokens: 2, reuseKv: false });

  const stopPrompt = benchPrompt(vocab, Number(values['stop-prompt']));
  const after = Number(values['stop-after-ms']);
  const stop: Record<string, unknown[]> = {};
  for (const [name, passMs, runs] of [['passMs 100 (default)', 100, 3], ['passes of maxBatch (before)', Infinity, 1]] as const) {
    engine.tuning.passMs = passMs;
    stop[name] = [];
    for (let i = 0; i < runs; i++) stop[name].push(await stopLatency(engine, stopPrompt, after));
  }
  out.stop = stop;

  const prefill: Record<string, number> = {};
  const p256 = benchPrompt(vocab, 256, 2);
  for (const [name, passMs] of [['passMs 100', 100], ['passes of maxBatch', Infinity]] as const) {
    engine.tuning.passMs = passMs;
    await engine.complete(p256.slice(0, 32), { ...GREEDY, maxTokens: 1, reuseKv: false }); // re-tune
    prefill[name] = Math.round((await engine.complete(p256, { ...GREEDY, maxTokens: 1, reuseKv: false })).stats.prefillTokS * 10) / 10;
  }
  out.prefill_tok_s_256 = prefill;
  engine.tuning.passMs = 100;

  // Three chat turns of 64 new tokens each, 16 generated per turn.
  const ttft: Record<string, number[]> = {};
  for (const reuseKv of [true, false]) {
    engine.model.kv.ids.length = 0;
    let convo: number[] = [];
    const per: number[] = [];
    for (let turn = 0; turn < 3; turn++) {
      convo = [...convo, ...benchPrompt(vocab, 64, 10 + turn)];
      const r = await engine.complete(convo, { ...GREEDY, maxTokens: 16, reuseKv });
      per.push(Math.round(r.stats.ttftMs));
      convo = [...convo, ...r.ids];
    }
    ttft[reuseKv ? 'with reuse' : 'without reuse'] = per;
  }
  out.ttft_ms_per_turn = ttft;
  out.load_at_end = load();
  console.log(JSON.stringify(out, null, 1));
  engine.dispose();
}

await main();

/**
 * What logprobs and a grammar cost a decoded token, side by side on one GGUF (the README quotes the synthetic
 * SmolLM2-135M Q8_0): plain greedy decode (steps ahead), with logprobs (20 alternatives), and held to a JSON object
 * by XGrammar (each step waits for the token before it). Alternates the variants, `--rounds` times.
 *
 *   npx tsx --import ./scripts/wgsl-loader.mjs bench/structured.ts <model.gguf> [--tokens 32] [--rounds 3]
 *
 * Prints JSON: median decode tok/s per variant, the grammar's build and per-token mask times, the load average.
 */
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import '../src/node/host.ts'; // paths and Dawn, as the Node entry installs them
import { Engine } from '../src/engine.ts';
import { benchPrompt } from '../src/bench/harness.ts';
import { grammarConstraint, type TokenConstraint } from '../src/grammar/constraint.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { tokens: { type: 'string', default: '32' }, rounds: { type: 'string', default: '3' } },
});
const load = () => execSync('uptime').toString().trim().replace(/.*load average: /, '');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A constraint that times its masks. */
function timed(c: TokenConstraint, ms: number[]): TokenConstraint {
  return {
    async allowed() {
      const t0 = performance.now();
      const words = await c.allowed();
      ms.push(performance.now() - t0);
      return words;
    },
    accept: (id) => c.accept(id),
  };
}

async function main(): Promise<void> {
  const path = positionals[0];
  if (!path) throw new Error('usage: npx tsx bench/structured.ts <model.gguf>');
  const tokens = Number(values.tokens);
  const engine = await Engine.load(path, { contextLength: 512 });
  const prompt = benchPrompt(engine.config.vocab, 64, 3);
  const base = { temperature: 0, maxTokens: tokens, stopAtEos: false, reuseKv: false } as const;
  const out: Record<string, unknown> = { model: path, adapter: engine.model.gpu.caps.adapterName, decode_ahead: engine.tuning.decodeAhead, load_at_start: load() };
  const t0 = performance.now();
  (await grammarConstraint(engine.tokenizer, engine.config.vocab, { type: 'json' })).dispose(); // builds the vocabulary's tables
  out.grammar_first_build_ms = Math.round(performance.now() - t0);
  await engine.complete(prompt, { ...base, maxTokens: 4 }); // warm-up
  const tokS: Record<string, number[]> = { plain: [], logprobs20: [], json: [] };
  const maskMs: number[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    tokS.plain.push((await engine.complete(prompt, base)).stats.decodeTokS);
    tokS.logprobs20.push((await engine.complete(prompt, { ...base, logprobs: 20 })).stats.decodeTokS);
    const c = await grammarConstraint(engine.tokenizer, engine.config.vocab, { type: 'json' });
    try {
      tokS.json.push((await engine.complete(prompt, { ...base, constraint: timed(c, maskMs) })).stats.decodeTokS);
    } finally {
      c.dispose();
    }
  }
  out.decode_tok_s = Object.fromEntries(Object.entries(tokS).map(([k, v]) => [k, Math.round(median(v) * 10) / 10]));
  out.decode_tok_s_all = tokS;
  out.mask_ms_median = Math.round(median(maskMs) * 1000) / 1000;
  out.load_at_end = load();
  console.log(JSON.stringify(out, null, 1));
  engine.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

import './src/node/host.ts';
import { Engine } from './src/engine.ts';
import { loadavg } from 'node:os';
const P = Number(process.argv[2] ?? 2048), G = Number(process.argv[3] ?? 64);
const engine = await Engine.load('/tmp/emberlm-bench/smollm2-135m-Q8_0-s1-v1.gguf', { contextLength: P + G + 8 });
const ids = Array.from({ length: P }, (_, i) => 100 + ((i * 7919) % 40000));
for (let round = 0; round < 3; round++) {
  const it = engine.generate(ids, { maxTokens: G, temperature: 0, stopAtEos: false, reuseKv: round > 0 ? true : false });
  for await (const _ of it) {}
  const res = await it.result;
  const t = res.stats.tokenMs;
  console.log(`round ${round} load ${loadavg()[0].toFixed(2)} decode ${res.stats.decodeTokS.toFixed(1)} tok/s; steps: ${t.map((x) => x.toFixed(0)).join(' ')}`);
}
await engine.dispose?.();
process.exit(0);

/**
 * bench/matmul.ts's GEMV timing in the browser: every kernel checked against the CPU reference, then
 * timed next to a streaming read of as many bytes. Query: formats=q8,q4  shapes=576x1536,1536x576
 * layouts=rows,split  iters=50  tuning={"gemvR":4}  rowTile=16 (the weights' row tiles)  subgroups=0 (turn the feature off)
 * tunings=[{...},{...}]&rounds=3 (tunings alternating in one page, least times)
 * wideCodes=0|1 (GGUF 5-, 6- and 3-bit codes in planes or a byte each).
 *
 *   npx tsx bench/browser.ts matmul_page 'formats=q8&layouts=rows,split'
 */
import { createGpu } from '../../src/gpu/device.ts';
import { benchMatmul, type BenchFormat } from '../matmul.ts';
import type { MatmulTuning } from '../../src/kernels/matmul.ts';
import { reportPage } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  document.getElementById('out')!.textContent = lines.join('\n');
};

async function main(): Promise<{ text: string }> {
  const gpu = await createGpu({ disable: q.get('subgroups') === '0' ? ['subgroups'] : [] });
  const shapes = (q.get('shapes') ?? '576x1536,1536x576').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const run = (tuning: Partial<MatmulTuning>, quiet: boolean) =>
    benchMatmul(gpu, {
      formats: (q.get('formats') ?? 'q8').split(',') as BenchFormat[],
      shapes,
      layouts: q.get('layouts')?.split(',') as MatmulTuning['gemv'][] | undefined,
      iters: Number(q.get('iters') ?? 50),
      prefillTokens: q.get('prefill') ? Number(q.get('prefill')) : undefined,
      tuning,
      rowTile: q.get('rowTile') ? Number(q.get('rowTile')) : undefined,
      wideCodes: q.get('wideCodes') ? q.get('wideCodes') === '1' : undefined,
      log: quiet ? () => {} : log,
    });
  const tunings = q.get('tunings');
  if (!tunings) {
    await run(JSON.parse(q.get('tuning') ?? '{}') as Partial<MatmulTuning>, false);
    return { text: lines.join('\n') };
  }
  // tunings=[{...},{...}]&rounds=N: the tunings alternate over the rounds (a slow spell of this machine falls on all of
  // them); each result keeps its least time.
  const list = JSON.parse(tunings) as Partial<MatmulTuning>[];
  const best = new Map<string, number>();
  for (let round = 0; round < Number(q.get('rounds') ?? 3); round++) {
    for (const t of list) {
      for (const r of await run(t, true)) {
        const key = `${JSON.stringify(t)} ${r.format} ${r.layout}${r.tokens > 1 ? ` T=${r.tokens}` : ''} ${r.K}x${r.N}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, r.us / r.tokens));
      }
    }
  }
  for (const [key, us] of best) log(`${key.padEnd(60)} ${us.toFixed(1).padStart(9)} us${key.includes(' T=') ? ' a token' : ''}`);
  return { text: lines.join('\n') };
}

reportPage(main(), log); // main logs its lines as they come

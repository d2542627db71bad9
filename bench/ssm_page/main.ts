/**
 * bench/ssm.ts's timing in the browser: one Mamba-2 layer's convolution and scan, checked against the CPU reference,
 * then timed. Query: heads=48  headDim=32  state=128  taps=4  prefill=128  rounds=5  iters=20  scan=sg,plain  nocheck.
 *
 *   npx tsx bench/browser.ts ssm_page 'scan=sg,plain&prefill=32'
 */
import { createGpu } from '../../src/gpu/device.ts';
import { benchSsm } from '../ssm.ts';
import { outLog, reportPage } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const { lines, log } = outLog();
const num = (k: string, fallback: number) => (q.get(k) === null ? fallback : Number(q.get(k)));

async function main(): Promise<{ text: string }> {
  const gpu = await createGpu();
  await benchSsm(gpu, {
    heads: num('heads', 48), headDim: num('headDim', 32), state: num('state', 128), taps: num('taps', 4), prefill: num('prefill', 128),
    rounds: num('rounds', 5), iters: num('iters', 20), scans: q.get('scan')?.split(','), noCheck: q.has('nocheck'),
  }, log);
  return { text: lines.join('\n') };
}

reportPage(main(), log);

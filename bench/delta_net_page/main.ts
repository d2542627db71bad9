/**
 * bench/delta_net.ts's timing in the browser: one Gated DeltaNet layer's convolution, scan and norm, checked against
 * the CPU reference, then timed. Query: kHeads=16  vHeads=16  headK=128  headV=128  taps=4  prefill=64  rounds=5  iters=20
 * scan=sg,plain,conv  nocheck. The result (bench/browser.ts's report) holds every round's times.
 *
 *   npx tsx bench/browser.ts delta_net_page 'scan=sg,plain&prefill=32' [report.json]
 */
import { createGpu } from '../../src/gpu/device.ts';
import { benchDeltaNet } from '../delta_net.ts';
import { outLog, reportPage } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const { log } = outLog();
const num = (k: string, fallback: number) => (q.get(k) === null ? fallback : Number(q.get(k)));

reportPage(
  createGpu().then((gpu) => benchDeltaNet(gpu, {
    kHeads: num('kHeads', 16), vHeads: num('vHeads', 16), headK: num('headK', 128), headV: num('headV', 128), taps: num('taps', 4),
    prefill: num('prefill', 64), rounds: num('rounds', 5), iters: num('iters', 20), scans: q.get('scan')?.split(','),
    noCheck: q.has('nocheck'),
  }, log)),
  log,
);

/**
 * bench/attention.ts's timing in the browser: one layer's decode (and prefill) attention, each case checked
 * against the CPU reference, then timed. Query: kv=f16  heads=9/3  headDim=64  ctx=128,2048  prefill=128 (0: none)
 * rounds=5  iters=8  splits=N  decode=keys,dims,flat  prefillBy=keys,dims,flat  wg=N (the workgroup)  subgroups=0
 * nocheck (time a case that disagrees with the reference too: knock-out experiments).
 *
 *   npx tsx bench/browser.ts attention_page 'ctx=32,512&prefill=0'
 */
import { createGpu } from '../../src/gpu/device.ts';
import { benchAttention } from '../attention.ts';
import { reportPage } from '../page_result.ts';

const q = new URLSearchParams(location.search);
const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  document.getElementById('out')!.textContent = lines.join('\n');
};
const list = (k: string) => q.get(k)?.split(',');
const num = (k: string) => (q.get(k) === null ? undefined : Number(q.get(k)));

async function main(): Promise<{ text: string }> {
  const gpu = await createGpu({ disable: q.get('subgroups') === '0' ? ['subgroups'] : [] });
  await benchAttention(gpu, {
    kv: q.get('kv') ?? 'f16', heads: q.get('heads') ?? '9/3', headDim: num('headDim') ?? 64,
    ctx: (list('ctx') ?? ['128', '2048']).map(Number), prefill: num('prefill') ?? 128, nCtx: num('nCtx'),
    rounds: num('rounds') ?? 5, iters: num('iters') ?? 8, splits: num('splits'), decode: list('decode'), prefillBy: list('prefillBy'),
    wg: num('wg'), noCheck: q.has('nocheck'),
  }, log);
  return { text: lines.join('\n') };
}

reportPage(main(), log);

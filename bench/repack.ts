/**
 * CPU speed of the load-time conversion of GGUF blocks into the GPU layouts, in MB/s of ggml blocks:
 * weight_layouts.ts's repackGguf next to the first (per element) implementation it replaced
 * (test/helpers/repack_reference.ts), on the same random valid blocks, in one run; Q8_0 / Q4_0 are
 * reordered by gguf/convert.ts (no reference to compare). Every result is checked byte-equal first.
 * Old and new runs alternate and the best of `repeats` is kept: on a machine shared with other work the
 * times of single runs vary several-fold (other processes take the cores and the caches).
 *
 *   npx tsx bench/repack.ts [--shape 2048x2048] [--repeats 7] [--formats q4_k,q6_k,...] [--no-reference]
 *   npx tsx bench/repack.ts --gguf model.gguf   (every block-format matrix of a file, summed per type)
 * With --gguf the new code runs twice: into fresh arrays per matrix, and in pieces into the reused scratch
 * (repackGgufPieces, as uploadWeights does; the pieces are not copied anywhere here).
 */
import { parseArgs } from 'node:util';
import { uptime, loadavg } from 'node:os';
import { ggmlRandomBlocks } from '../src/quant/ggml/index.ts';
import { q4_0ToPacked, q8_0ToPacked } from '../src/gguf/convert.ts';
import { GGUF_LAYOUTS, repackGguf, repackGgufPieces, type GgufFormat } from '../src/kernels/weight_layouts.ts';
import { readGGUF, readTensorBytes } from '../src/gguf/reader.ts';
import { sourceFromPath } from '../src/gguf/source_node.ts';
import { REFERENCE_LAYOUTS, repackGgufReference } from '../test/helpers/repack_reference.ts';
import { createRng } from '../test/helpers/rng.ts';

const { values: a } = parseArgs({
  options: {
    shape: { type: 'string', default: '2048x2048' }, repeats: { type: 'string', default: '7' }, 'no-reference': { type: 'boolean' },
    formats: { type: 'string', default: [...Object.keys(GGUF_LAYOUTS), 'q8_0', 'q4_0'].join(',') }, gguf: { type: 'string' },
  },
});
const [rows, K] = a.shape.split('x').map(Number);
const repeats = Number(a.repeats);
const withReference = !a['no-reference'];
const formats = a.formats.split(',');

/** Best of `repeats` wall-clock runs of each of fs (in turn), in ms. */
function best(...fs: (() => unknown)[]): number[] {
  const t = fs.map(() => Infinity);
  for (let i = 0; i < repeats; i++) {
    fs.forEach((f, j) => {
      const t0 = performance.now();
      f();
      t[j] = Math.min(t[j], performance.now() - t0);
    });
  }
  return t;
}

const equal = (a: Uint32Array, b: Uint32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
const mbps = (bytes: number, ms: number) => (bytes / 1e6 / (ms / 1e3)).toFixed(0).padStart(6);

const load = () => `load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`;

/** A model file's matrices as a load repacks them: new and old time per ggml type, summed. */
async function wholeFile(path: string): Promise<void> {
  const f = await readGGUF(await sourceFromPath(path));
  const sums = new Map<string, { mb: number; ms: number; pms: number; oms: number; n: number }>();
  console.log(`${path}: ${load()}`);
  for (const t of f.tensors.values()) {
    const format = t.type.toLowerCase() as GgufFormat;
    if (!(format in GGUF_LAYOUTS) || t.ne.length < 2) continue;
    const bytes = await readTensorBytes(f, t);
    const [K, rows] = [t.ne[0], t.numel / t.ne[0]];
    const [ms, pms, oms] = best(() => repackGguf(GGUF_LAYOUTS[format], bytes, rows, K),
      () => repackGgufPieces(GGUF_LAYOUTS[format], bytes, rows, K, () => undefined),
      () => repackGgufReference(REFERENCE_LAYOUTS[format], bytes, rows, K));
    const s = sums.get(t.type) ?? { mb: 0, ms: 0, pms: 0, oms: 0, n: 0 };
    sums.set(t.type, {
      mb: s.mb + bytes.byteLength / 1e6, ms: s.ms + ms, pms: s.pms + pms, oms: s.oms + oms, n: s.n + 1,
    });
  }
  console.log('type     matrices  block MB    new ms pieces ms    old ms  speedup (new, pieces)');
  const col = (v: number) => v.toFixed(0).padStart(9);
  for (const [type, s] of sums) {
    console.log(`${type.padEnd(8)} ${String(s.n).padStart(8)} ${col(s.mb)} ${col(s.ms)} ${col(s.pms)} ${col(s.oms)}` +
      ` ${(s.oms / s.ms).toFixed(1).padStart(7)}x ${(s.oms / s.pms).toFixed(1).padStart(5)}x`);
  }
  console.log(`after: ${load()}`);
}

if (a.gguf) {
  await wholeFile(a.gguf);
  process.exit(0);
}

console.log(`repack ${rows}x${K}, best of ${repeats}; load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}` +
  ` (up ${(uptime() / 3600).toFixed(1)} h)`);
console.log('format   block MB   new ms  new MB/s   old ms  old MB/s  speedup');
for (const f of formats) {
  const rng = createRng(7);
  const src = ggmlRandomBlocks(f.toUpperCase(), rows * K, rng.next);
  const mb = (src.byteLength / 1e6).toFixed(1).padStart(8);
  if (f === 'q8_0' || f === 'q4_0') {
    const t = { name: f, ne: [K, rows], type: f.toUpperCase() };
    const [ms] = best(() => (f === 'q8_0' ? q8_0ToPacked : q4_0ToPacked)(t, src));
    console.log(`${f.padEnd(8)} ${mb} ${ms.toFixed(1).padStart(8)} ${mbps(src.byteLength, ms)}`);
    continue;
  }
  const layout = GGUF_LAYOUTS[f as GgufFormat];
  const newRun = () => repackGguf(layout, src, rows, K);
  if (!withReference) {
    const [ms] = best(newRun);
    console.log(`${f.padEnd(8)} ${mb} ${ms.toFixed(1).padStart(8)} ${mbps(src.byteLength, ms)}`);
    continue;
  }
  const ref = REFERENCE_LAYOUTS[f as GgufFormat];
  const got = newRun(), want = repackGgufReference(ref, src, rows, K);
  if (!equal(got.codes, want.codes) || !equal(got.scales, want.scales)) {
    throw new Error(`${f}: output differs from the reference`);
  }
  const [ms, oms] = best(newRun, () => repackGgufReference(ref, src, rows, K));
  const old = `${oms.toFixed(1).padStart(8)} ${mbps(src.byteLength, oms)} ${(oms / ms).toFixed(1).padStart(7)}x`;
  console.log(`${f.padEnd(8)} ${mb} ${ms.toFixed(1).padStart(8)} ${mbps(src.byteLength, ms)}   ${old}`);
}
console.log(`load average after: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);

/**
 * The benchmark page (bench/index.html): runs src/bench/'s harness in the browser on a GGUF from a
 * file input, a URL, or a synthetic model generated in memory. Serve with `npx vite bench` and open
 * the printed address.
 */
import { createGpu, type Gpu } from '../src/gpu/device.ts';
import { QUANT_SCHEMES, type QuantScheme } from '../src/model/weight_source.ts';
import { benchModel, describeDevice, type BenchConfig, type BenchResult } from '../src/bench/harness.ts';
import { probeBandwidth } from '../src/bench/probe.ts';
import { formatBench, formatEmbedSpeed, roundDeep, type BenchReport } from '../src/bench/report.ts';
import { runEmbedSpeed } from '../src/bench/embed_speed.ts';
import { SYNTHETIC_MODELS, SYNTHETIC_TYPES, syntheticGGUF } from '../src/bench/synthetic.ts';
import type { ModelInput } from '../src/engine.ts';
import type { KvCacheType } from '../src/kernels/kv_layout.ts';
import { reportPage } from './page_result.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (s: string) => ($('status').textContent = s);

for (const name of Object.keys(SYNTHETIC_MODELS)) $<HTMLSelectElement>('synthetic').add(new Option(name, name));
for (const t of SYNTHETIC_TYPES) $<HTMLSelectElement>('type').add(new Option(t, t, t === 'Q8_0', t === 'Q8_0'));

function ints(s: string): number[] {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`expected positive integers, got "${s}"`);
  return xs;
}

/** The model to run and its printed name. */
function modelInput(): { input: ModelInput; name: string } {
  const file = $<HTMLInputElement>('file').files?.[0];
  if (file) return { input: file, name: file.name };
  const url = $<HTMLInputElement>('url').value.trim();
  if (url) return { input: url, name: url.split('/').filter(Boolean).pop() ?? url }; // (a folder's URL ends in /)
  const synth = $<HTMLSelectElement>('synthetic').value;
  if (synth) {
    const g = syntheticGGUF(synth, $<HTMLSelectElement>('type').value);
    status(`generating ${g.name} (${(g.size / 1e6).toFixed(0)} MB) in memory`);
    // One array, not a Blob of the chunks: chromium could not read back a Blob of 806 MB (Qwen3.5-0.8B's Q8_0) here
    const bytes = new Uint8Array(g.size);
    let at = 0;
    for (const c of g.chunks()) {
      bytes.set(c, at);
      at += c.length;
    }
    return { input: bytes, name: `${g.name.replace(/-s1$/, '')} (synthetic)` };
  }
  throw new Error('choose a file, a URL or a synthetic model');
}

let gpu: Gpu | null = null;

async function run(): Promise<BenchReport> {
  const quant = $<HTMLInputElement>('quant').value.split(',').map((q) => q.trim()) as QuantScheme[];
  for (const q of quant) if (!QUANT_SCHEMES.includes(q)) throw new Error(`quant "${q}" is not one of ${QUANT_SCHEMES.join(', ')}`);
  const config: BenchConfig = {
    promptTokens: ints($<HTMLInputElement>('prompt').value),
    genTokens: Number($<HTMLInputElement>('gen').value),
    repeats: Number($<HTMLInputElement>('repeats').value),
    ...(query.get('kv') === null ? {} : { kvCache: query.get('kv') as KvCacheType }), // ?kv=int8: the K/V cache type
  };
  const { input, name } = modelInput();
  gpu ??= await createGpu();
  status('bandwidth probe');
  const probe = await probeBandwidth(gpu);
  const results: BenchResult[] = [];
  const fuse = query.get('fuse'); // ?fuse=1 / 0: the Engine's fuseDecode (default: by device)
  const fuseDecode = fuse === null ? undefined : fuse === '1';
  const minPass = query.get('minPass'); // ?minPass=N: the Engine's tuning.minPassTokens (prefill passes' floor)
  const tuning = minPass === null ? undefined : { minPassTokens: Number(minPass) };
  const gpuQ = query.get('gpuQuantize'); // ?gpuQuantize=0: conversions at load on the CPU (the Engine's gpuQuantize)
  const gpuQuantize = gpuQ === null ? undefined : gpuQ === '1';
  for (const q of quant) results.push(...(await benchModel(input, { model: name, quant: q, gpu, probeGbS: probe.gb_s, config, onProgress: status, fuseDecode, tuning, gpuQuantize })));
  const report: BenchReport = {
    date: new Date().toISOString(),
    device: describeDevice(gpu, { host: { runtime: navigator.userAgent, cores: navigator.hardwareConcurrency } }),
    probe_gb_s: probe.gb_s,
    probe,
    config: { ...config, quant, ...(fuseDecode === undefined ? {} : { fuseDecode }) },
    results,
  };
  $('table').textContent = formatBench(report, 'text');
  const json = JSON.stringify(roundDeep(report), null, 2);
  $('json').textContent = json;
  const a = $<HTMLAnchorElement>('download');
  a.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  a.hidden = false;
  status('done');
  return report;
}

/**
 * ?embed=1: embed's speed instead (src/bench/embed_speed.ts) on the model at `url` (an embedding model's folder or GGUF):
 * &inputs=N inputs of each &prompt length, &batch=on,off several a pass and one a pass side by side.
 */
async function runEmbed(): Promise<{ text: string; report: unknown }> {
  const { input, name } = modelInput();
  gpu ??= await createGpu();
  const batch = (query.get('batch') ?? 'on').split(',').map((b) => b === 'on');
  const reports = [await runEmbedSpeed(input, {
    model: name, gpu, quant: $<HTMLInputElement>('quant').value as QuantScheme, promptTokens: ints($<HTMLInputElement>('prompt').value),
    inputs: Number(query.get('inputs') ?? 1), batch, repeats: Number($<HTMLInputElement>('repeats').value), onProgress: status,
  })];
  const text = formatEmbedSpeed(reports, 'text');
  $('table').textContent = text;
  status('done');
  return { text, report: roundDeep(reports) };
}

// The query string can fill the form and start the run (bench/browser.ts drives the page this way):
// ?synthetic=smollm2-135m&type=Q8_0&prompt=128&gen=16&repeats=1&quant=auto&run=1 (&fuse=1 or 0: fuseDecode; &minPass=N:
// tuning.minPassTokens; &kv=f16|int8|fp8-e4m3|f32: the K/V cache; &gpuQuantize=0: conversions on the CPU; &embed=1:
// runEmbed's). The report lands in window.__bench.
const query = new URLSearchParams(location.search);
for (const id of ['synthetic', 'type', 'url', 'quant', 'prompt', 'gen', 'repeats']) {
  const v = query.get(id);
  if (v !== null) $<HTMLInputElement>(id).value = v;
}
if (query.get('run') === '1') {
  const outcome = query.get('embed') === '1' ? runEmbed() : run().then((report) => ({ text: formatBench(report, 'text'), report: roundDeep(report) }));
  reportPage(outcome, (e) => status(`error: ${e}`)); // run() shows its own report
}

$<HTMLFormElement>('form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const button = $<HTMLButtonElement>('run');
  button.disabled = true;
  run()
    .catch((e: unknown) => status(`error: ${(e as Error).message}`))
    .finally(() => (button.disabled = false));
});

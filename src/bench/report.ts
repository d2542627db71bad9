/** Plain-text and markdown tables of benchmark and quality reports (no GPU, no Node imports). */
import type { BenchResult, BenchScales, DeviceInfo, SpeedResult } from './harness.ts';
import type { QualityReport } from './quality.ts';
import type { EmbedMetrics, EmbedQualityReport } from './quality_embed.ts';
import type { EmbedSpeedReport } from './embed_speed.ts';
import { sig } from './stats.ts';
import type { QuantScheme } from '../model/weight_source.ts';

/**
 * A run as the reports name it: the weight scheme, and the block scales, decode fusion, attention and where the load
 * converted where they were chosen.
 */
export function runLabel(x: { quant: QuantScheme; scales?: BenchScales; fuse_decode?: boolean; wide_attention?: boolean; gpu_quantize?: boolean }): string {
  const fuse = x.fuse_decode === undefined ? '' : `, fuse ${x.fuse_decode ? 'on' : 'off'}`;
  const attention = x.wide_attention === undefined ? '' : `, attention ${x.wide_attention ? 'wide' : 'default'}`;
  const convert = x.gpu_quantize === undefined ? '' : `, converted on the ${x.gpu_quantize ? 'GPU' : 'CPU'}`;
  return (x.scales ? `${x.quant}, ${x.scales} scales` : x.quant) + fuse + attention + convert;
}

export interface BenchReport {
  device: DeviceInfo;
  probe_gb_s: number;
  probe?: unknown;
  config?: unknown;
  peers?: unknown;
  results: BenchResult[];
  [more: string]: unknown;
}

/** Rounds every non-integer number in a JSON-able value to `digits` significant digits. */
export function roundDeep<T>(v: T, digits = 4): T {
  if (typeof v === 'number') return (Number.isInteger(v) ? v : sig(v, digits)) as T;
  if (Array.isArray(v)) return v.map((x) => roundDeep(x, digits)) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundDeep(x, digits)])) as T;
  return v;
}

const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const peerSpeed = (p: SpeedResult | { error: string } | undefined): SpeedResult | undefined => (p && 'decode_tok_s' in p ? p : undefined);

interface Table {
  head: string[];
  rows: string[][];
}

function benchTable(r: BenchReport): Table {
  const head = ['model', 'quant', 'prompt', 'load ms', 'prefill tok/s', 'decode tok/s', 'ttft ms', 'p50/p90/p99 ms', 'GB/s', 'roofline %', 'disp/tok', 'submit/tok', 'ahead', 'JS ms/tok (in submit)', 'GPU wait ms/tok', 'GPU idle ms/tok', 'KV KiB (no window)', 'KV type'];
  const kib = (b: number) => f(b / 1024, 0);
  const rows = r.results.map((x) => [
    x.model,
    runLabel(x),
    String(x.prompt_tokens),
    f(x.load_ms, 0),
    `${f(x.prefill_tok_s)} (${f(x.range.prefill_tok_s.min)}-${f(x.range.prefill_tok_s.max)})`,
    `${f(x.decode_tok_s)} (${f(x.range.decode_tok_s.min)}-${f(x.range.decode_tok_s.max)})`,
    f(x.ttft_ms, 0),
    `${f(x.latency_ms.p50)}/${f(x.latency_ms.p90)}/${f(x.latency_ms.p99)}`,
    f(x.weight_gb_s, 2),
    f(x.roofline_pct),
    String(x.dispatches_per_token),
    f(x.submits_per_token, 2),
    String(x.decode_ahead ?? 1),
    `${f(x.js_ms_per_token, 2)} (${f(x.submit_ms_per_token, 2)})`,
    f(x.gpu_wait_ms_per_token, 2),
    x.gpu_idle_ms_per_token === undefined ? '-' : f(x.gpu_idle_ms_per_token, 2) + (x.gpu_idle_source === 'estimate' ? ' (est.)' : ''),
    `${kib(x.kv_bytes)} (${kib(x.kv_bytes_full)})`,
    x.kv_cache,
  ]);
  return { head, rows };
}

/** One row per (result, peer): the peer's speeds and ours divided by theirs. */
function peerTable(r: BenchReport): Table | null {
  const head = ['model', 'quant', 'prompt', 'peer', 'prefill tok/s', 'decode tok/s', 'ttft ms', 'p50/p90/p99 ms', 'ours ÷ peer: prefill', 'decode'];
  const rows: string[][] = [];
  for (const x of r.results) {
    for (const [name, entry] of Object.entries(x.peer ?? {})) {
      const s = peerSpeed(entry);
      const id = [x.model, runLabel(x), String(x.prompt_tokens), name];
      if (!s) rows.push([...id, 'error' in entry ? entry.error : '-', '', '', '', '', '']);
      else {
        rows.push([
          ...id,
          `${f(s.prefill_tok_s)} (${f(s.range.prefill_tok_s.min)}-${f(s.range.prefill_tok_s.max)})`,
          `${f(s.decode_tok_s)} (${f(s.range.decode_tok_s.min)}-${f(s.range.decode_tok_s.max)})`,
          f(s.ttft_ms, 0),
          `${f(s.latency_ms.p50)}/${f(s.latency_ms.p90)}/${f(s.latency_ms.p99)}`,
          `${f(x.prefill_tok_s / s.prefill_tok_s, 2)}×`,
          `${f(x.decode_tok_s / s.decode_tok_s, 2)}×`,
        ]);
      }
    }
  }
  return rows.length ? { head, rows } : null;
}

function kernelTable(r: BenchReport): Table {
  const head = ['model', 'quant', 'prompt', 'kernel family: GPU ms per decoded token (calls)'];
  const rows = r.results.map((x) => [
    x.model,
    runLabel(x),
    String(x.prompt_tokens),
    x.kernels.length ? x.kernels.map((k) => `${k.name} ${f(k.ms_per_token, 3)} (${f(k.calls_per_token, 0)})`).join(', ') : (x.kernels_note ?? '-'),
  ]);
  return { head, rows };
}

/** What autotuning chose per matmul shape and for decode attention (one block per model and quant); null when it was off everywhere. */
function variantTable(r: BenchReport): Table | null {
  const head = ['model', 'quant', 'shape', 'list', 'chosen', 'candidates: us per run'];
  const seen = new Set<string>();
  const rows: string[][] = [];
  for (const x of r.results) {
    if (seen.has(`${x.model}|${runLabel(x)}`)) continue;
    seen.add(`${x.model}|${runLabel(x)}`);
    for (const v of x.matmul_variants ?? []) {
      const us = Object.entries(v.us).map(([name, t]) => `${name} ${f(t, 0)}`).join(', ');
      rows.push([x.model, runLabel(x), v.key.replace(/ (gemv|gemm|decode)$/, ''), v.path, v.chosen, us]);
    }
  }
  return rows.length ? { head, rows } : null;
}

function text(t: Table): string {
  const w = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  return [line(t.head), line(w.map((n) => '-'.repeat(n))), ...t.rows.map(line)].join('\n');
}

function markdown(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${t.head.map(esc).join(' | ')} |`, `|${t.head.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

export function deviceLine(d: DeviceInfo): string {
  const extra = Object.entries(d)
    .filter(([k]) => !['adapter', 'features', 'f16', 'subgroups', 'timestamps', 'dot4I8'].includes(k))
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return [`device: ${d.adapter}`, `features: ${d.features.join(', ')}${d.dot4I8 ? ', dot4I8Packed' : ''}`, ...extra].join('; ');
}

export function formatBench(r: BenchReport, style: 'text' | 'markdown'): string {
  const fmt = style === 'markdown' ? markdown : text;
  const probe = `bandwidth probe: ${f(r.probe_gb_s, 2)} GB/s`;
  const notes = style === 'markdown' ? `${deviceLine(r.device)}. ${probe}.\n` : `${deviceLine(r.device)}\n${probe}\n`;
  const peers = peerTable(r);
  const variants = variantTable(r);
  return `${notes}\n${fmt(benchTable(r))}\n\n${peers ? `${fmt(peers)}\n\n` : ''}${fmt(kernelTable(r))}\n${variants ? `\n${fmt(variants)}\n` : ''}`;
}

/** The metric columns of a quality row, and of the reference (which scores itself: no divergence). */
const METRIC_HEAD = ['KLD mean', 'KLD p99', 'KLD max', 'top-1', 'PPL'];
type Metrics = { kld_mean: number; kld_p99: number; kld_max: number; top1: number; ppl: number };
const metricCells = (x: Metrics) => [x.kld_mean.toExponential(2), x.kld_p99.toExponential(2), x.kld_max.toExponential(2), f(x.top1, 3), f(x.ppl, 3)];
const referenceCells = (ppl: number) => ['0', '0', '0', '1', f(ppl, 3)];

export function formatQuality(q: QualityReport, style: 'text' | 'markdown'): string {
  const head = ['quant', 'bytes/param', ...METRIC_HEAD];
  const rows = [
    [`${q.reference} (reference)`, f(q.reference_bytes_per_param, 3), ...referenceCells(q.reference_ppl)],
    ...q.results.map((x) => [x.quant, f(x.bytes_per_param, 3), ...metricCells(x)]),
  ];
  const fmt = style === 'markdown' ? markdown : text;
  let out = `${q.model}: ${q.positions} positions over ${q.texts} texts; device: ${q.device}\n\n${fmt({ head, rows })}\n`;
  if (q.kv_results.length) {
    const kvHead = ['K/V cache (f32 weights)', 'bytes/position', ...METRIC_HEAD];
    const kvRows = [
      [`${q.reference_kv_cache} (reference)`, String(q.reference_kv_bytes_per_position), ...referenceCells(q.reference_ppl)],
      ...q.kv_results.map((x) => [x.kv_cache, String(x.bytes_per_position), ...metricCells(x)]),
    ];
    out += `\n${fmt({ head: kvHead, rows: kvRows })}\n`;
  }
  return out;
}

const EMBED_HEAD = ['cosine mean', 'cosine min', 'same nearest'];
const embedCells = (x: EmbedMetrics) => [f(x.cos_mean, 6), f(x.cos_min, 6), `${f(100 * x.nearest, 1)}%`];

/** An embedding model's quality report (src/bench/quality_embed.ts) as tables. */
export function formatEmbedQuality(q: EmbedQualityReport, style: 'text' | 'markdown'): string {
  const fmt = style === 'markdown' ? markdown : text;
  const rows = [[`${q.reference} (reference)`, f(q.reference_bytes_per_param, 3), ...embedCells({ cos_mean: 1, cos_min: 1, nearest: 1 })], ...q.results.map((x) => [x.quant, f(x.bytes_per_param, 3), ...embedCells(x)])];
  let out = `${q.model}: embeddings of ${q.inputs} inputs (${q.texts} texts), ${q.width} values each, against the f32 run's; device: ${q.device}\n\n${fmt({ head: ['quant', 'bytes/param', ...EMBED_HEAD], rows })}\n`;
  if (q.kv_results.length) {
    const kvRows = q.kv_results.map((x) => [x.kv_cache, String(x.bytes_per_position), ...embedCells(x)]);
    out += `\n${fmt({ head: ['K/V cache (f32 weights)', 'bytes/position', ...EMBED_HEAD], rows: kvRows })}\n`;
  }
  return out;
}

/** `bench --embed`'s reports (src/bench/embed_speed.ts): a row per scheme and input length. */
export function formatEmbedSpeed(reports: readonly EmbedSpeedReport[], style: 'text' | 'markdown'): string {
  const fmt = style === 'markdown' ? markdown : text;
  const r0 = reports[0];
  const head = ['model', 'quant', 'tokens', 'inputs', 'inputs a pass', 'passes', 'ms (median)', 'min-max', 'tok/s', 'load ms', 'weights MB'];
  const rows = reports.flatMap((r) => r.rows.map((x) => [
    r.model, r.quant, String(x.prompt_tokens), String(x.inputs), x.batched ? 'several' : 'one', String(x.passes), f(x.ms.median, 0), `${f(x.ms.min, 0)}-${f(x.ms.max, 0)}`, f(x.tok_s, 1), f(r.load_ms, 0), f(r.weight_bytes / 1e6, 0),
  ]));
  const what = `${r0.bidirectional ? 'bidirectional, ' : ''}${r0.pooling} pooling, ${r0.width} values, one pass of up to ${r0.max_batch} tokens`;
  const { start } = r0.loadavg_1m, { end } = reports.at(-1)!.loadavg_1m;
  const load = start === null || end === null ? '' : `; load average ${f(start, 2)} -> ${f(end, 2)}`;
  return `device: ${r0.device}; ${what}${load}\n\n${fmt({ head, rows })}\n`;
}

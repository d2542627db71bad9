/**
 * The fuzz campaign: `npm run fuzz -- --cases 10000 [--seed 1] [--jobs 2] [--timeout-ms 60000] [--out FILE]`.
 * Cases run in child processes (fuzz/worker.ts, V8 heap capped at 2 GB); a case that does not answer
 * within the time bound is a hang (its worker is killed and replaced), a worker that dies is a crash,
 * one whose RSS passes 2 GB is over the memory bound. Prints counts per outcome and per kind, the slowest
 * case, peak memory, and every case that did not end in a clean typed error or a correct run;
 * `--out FILE` writes the summary as JSON, `--log FILE` every case's result as JSON lines.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaseResult, Outcome } from './worker.ts';

export interface CampaignOptions {
  cases: number;
  seed?: number;
  jobs?: number;
  timeoutMs?: number;
  memoryLimitMB?: number;
  /** First case index (to replay one case: --first N --cases 1). */
  first?: number;
  onResult?: (r: CaseResult, done: number) => void;
}

export interface CampaignSummary {
  readonly seed: number;
  readonly cases: number;
  readonly counts: Record<Outcome, number>;
  readonly byKind: Record<string, Partial<Record<Outcome, number>>>;
  readonly codes: Record<string, number>;
  readonly slowest: CaseResult | null;
  readonly maxRssMB: number;
  readonly maxHeapMB: number;
  readonly wallS: number;
  /** Cases that were not 'ok' or 'typed'. */
  readonly failures: CaseResult[];
}

const BAD: readonly Outcome[] = ['raw', 'unreadable', 'wrong-output', 'hang', 'crash', 'memory'];
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** Stops a worker and waits for it to be gone (its scratch folder removed on its exit), so no campaign leaves one. */
async function stop(c: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const gone = c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((resolve) => c.once('exit', resolve));
  c.kill(signal);
  await gone;
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignSummary> {
  const seed = o.seed ?? 1, jobs = o.jobs ?? 2, timeoutMs = o.timeoutMs ?? 60_000, memMB = o.memoryLimitMB ?? 2048;
  const first = o.first ?? 0;
  const t0 = performance.now();
  const results: CaseResult[] = [];
  let next = first;
  let workers = 0;
  const end = first + o.cases;

  const lane = async (): Promise<void> => {
    let child: ChildProcess | null = null;
    let stderr = '';
    const start = () =>
      new Promise<ChildProcess>((resolve, reject) => {
        stderr = '';
        // The parent owns the worker's scratch folder: a killed worker runs no exit handler.
        const dir = join(tmpdir(), `emberlm-fuzz-${process.pid}-${workers++}`);
        const c = fork(WORKER, [dir], { execArgv: ['--import', 'tsx', '--import', fileURLToPath(new URL('./raw_loader.mjs', import.meta.url)), `--max-old-space-size=${memMB}`], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
        c.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
        c.once('exit', () => rmSync(dir, { recursive: true, force: true }));
        c.once('message', () => resolve(c));
        c.once('exit', (code) => reject(new Error(`fuzz worker exited (${code}) before it was ready: ${stderr}`)));
      });
    while (next < end) {
      const index = next++;
      child ??= await start();
      const c = child;
      const t = performance.now();
      const r = await new Promise<CaseResult | { outcome: 'hang' | 'crash'; message: string }>((resolve) => {
        const timer = setTimeout(() => resolve({ outcome: 'hang', message: `no answer within ${timeoutMs} ms` }), timeoutMs);
        const onExit = (code: number | null, signal: string | null) => {
          clearTimeout(timer);
          resolve({ outcome: 'crash', message: `worker died (exit ${code}, signal ${signal}): ${stderr.slice(-1500)}` });
        };
        c.once('exit', onExit);
        c.once('message', (m: CaseResult) => {
          clearTimeout(timer);
          c.off('exit', onExit);
          resolve(m);
        });
        c.send({ seed, index });
      });
      let res: CaseResult;
      if ('index' in r) {
        res = r.rssMB > memMB ? { ...r, outcome: 'memory', message: `RSS ${r.rssMB.toFixed(0)} MB after the case` } : r;
      } else {
        res = { index, kind: '?', base: '?', what: '(replay with --first to see)', outcome: r.outcome, message: r.message, ms: performance.now() - t, rssMB: 0, heapMB: 0 };
      }
      if (res.outcome === 'hang' || res.outcome === 'crash' || res.outcome === 'memory') {
        await stop(c, 'SIGKILL');
        child = null;
      }
      results.push(res);
      o.onResult?.(res, results.length);
    }
    if (child) await stop(child, 'SIGTERM');
  };
  await Promise.all(Array.from({ length: Math.min(jobs, o.cases) }, lane));

  const counts = Object.fromEntries(['ok', 'typed', ...BAD].map((k) => [k, 0])) as Record<Outcome, number>;
  const byKind: CampaignSummary['byKind'] = {};
  const codes: Record<string, number> = {};
  for (const r of results) {
    counts[r.outcome]++;
    (byKind[r.kind] ??= {})[r.outcome] = (byKind[r.kind][r.outcome] ?? 0) + 1;
    if (r.code) codes[r.code] = (codes[r.code] ?? 0) + 1;
  }
  const done = results.filter((r) => r.kind !== '?');
  return {
    seed, cases: results.length, counts, byKind, codes,
    slowest: done.reduce<CaseResult | null>((a, r) => (!a || r.ms > a.ms ? r : a), null),
    maxRssMB: Math.max(0, ...done.map((r) => r.rssMB)),
    maxHeapMB: Math.max(0, ...done.map((r) => r.heapMB)),
    wallS: (performance.now() - t0) / 1000,
    failures: results.filter((r) => BAD.includes(r.outcome)),
  };
}

export function formatSummary(s: CampaignSummary): string {
  const lines = [
    `fuzz: ${s.cases} cases, seed ${s.seed}, ${s.wallS.toFixed(0)} s`,
    `outcomes: ${Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `error codes: ${Object.entries(s.codes).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ...Object.entries(s.byKind).map(([k, v]) => `  ${k}: ${Object.entries(v).map(([o, n]) => `${o} ${n}`).join(', ')}`),
    `slowest: ${s.slowest ? `${s.slowest.ms.toFixed(0)} ms, case ${s.slowest.index} (${s.slowest.kind}, ${s.slowest.base}: ${s.slowest.what}) -> ${s.slowest.outcome}` : '-'}`,
    `peak worker memory: RSS ${s.maxRssMB.toFixed(0)} MB, JS heap ${s.maxHeapMB.toFixed(0)} MB`,
  ];
  for (const f of s.failures.slice(0, 30)) lines.push(`FAIL ${f.outcome} case ${f.index} (${f.kind}, ${f.base}: ${f.what}): ${(f.message ?? '').slice(0, 500)}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const outIdx = argv.indexOf('--out');
  const logIdx = argv.indexOf('--log');
  const log: string[] = [];
  const cases = arg('--cases', 300);
  const s = await runCampaign({
    cases, seed: arg('--seed', 1), jobs: arg('--jobs', 2), timeoutMs: arg('--timeout-ms', 60_000), first: arg('--first', 0),
    onResult: (r, done) => {
      if (logIdx >= 0) log.push(JSON.stringify(r));
      if (done % 500 === 0 || r.outcome !== 'ok' && r.outcome !== 'typed') process.stderr.write(`[${done}/${cases}] case ${r.index} ${r.outcome} ${r.kind} ${r.what.slice(0, 100)}\n`);
    },
  });
  console.log(formatSummary(s));
  if (outIdx >= 0) writeFileSync(argv[outIdx + 1], JSON.stringify(s, null, 1));
  if (logIdx >= 0) writeFileSync(argv[logIdx + 1], `${log.join('\n')}\n`);
  process.exitCode = s.failures.length > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main(process.argv.slice(2));

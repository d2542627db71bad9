/**
 * A short fuzz campaign on every `npm test` (the long one: `npm run fuzz -- --cases 10000`): mutated
 * GGUF files, safetensors headers, config.json, tokenizer.json and tokenizer_config.json, and LoRA adapters, each
 * loaded by Engine.load in a child process, must end in a typed EmberError with a readable message or in a run
 * that generates ids inside the vocabulary, within 60 s and 2 GB.
 */
import { describe, expect, it } from 'vitest';
import { CASE_KINDS } from '../fuzz/cases.ts';
import { formatSummary, runCampaign } from '../fuzz/run.ts';
import { isReadable } from '../fuzz/worker.ts';

describe('fuzz', () => {
  it('300 mutated files: no crash, hang, raw error, unreadable message or out-of-bound memory', async () => {
    const s = await runCampaign({ cases: 300, seed: 20261201, jobs: 2, timeoutMs: 60_000 });
    expect(s.failures, formatSummary(s)).toEqual([]);
    expect(s.counts.ok + s.counts.typed).toBe(300);
    // the campaign reaches both ends: files that load and run, and files rejected with each kind of error
    expect(s.counts.ok).toBeGreaterThan(20);
    expect(s.counts.typed).toBeGreaterThan(100);
    expect(Object.keys(s.byKind).sort()).toEqual([...CASE_KINDS].sort());
    expect(Object.keys(s.codes)).toEqual(expect.arrayContaining(['BAD_FILE', 'BAD_MODEL', 'UNSUPPORTED']));
  }, 600_000);

  it('a readable message is short and has no control characters', () => {
    expect(isReadable('[BAD_FILE] x.gguf: tensor a\\x00 is bad\nnext line')).toBe(true);
    expect(isReadable('[BAD_FILE] x.gguf: tensor a\u0000 is bad')).toBe(false);
    expect(isReadable(`[BAD_FILE] ${'x'.repeat(800)}`)).toBe(false);
  });
});

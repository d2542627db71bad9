/**
 * Loading, running and disposing models leaves nothing behind: the live GPU object counts (buffers and
 * bind groups counted by the Allocators, pipelines by the pipeline cache) return to where they were,
 * after a dispose and after a load that fails half way; a second load on the shared default device
 * compiles nothing new; and 20 load -> generate -> dispose cycles plus 30 failed loads keep process RSS
 * and JS heap flat (the full 100-cycle measurement: `npm run memory`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { liveGpuObjects } from '../src/gpu/buffers.ts';
import { livePipelines } from '../src/gpu/pipelines.ts';
import { sharedGpuUsers } from '../src/gpu/shared.ts';
import { halfBrokenModel } from '../fuzz/memory.ts';
import { expectEmberError } from './helpers/errors.ts';
import { readSharedBytes, sharedModelPath, REPO_ROOT } from './helpers/models.ts';

const GREEDY = { temperature: 0, topK: 0, topP: 1 };

describe('live GPU objects', () => {
  it('return to their baseline after dispose and after a failed load; a second load compiles nothing', async () => {
    const bytes = readSharedBytes('stories260K/stories260K.gguf');
    const base = liveGpuObjects();
    const first = await Engine.load(bytes, { contextLength: 64 });
    const loaded = liveGpuObjects();
    expect(loaded.buffers).toBeGreaterThan(base.buffers + 10);
    expect(loaded.bindGroups).toBeGreaterThan(base.bindGroups + 10);
    const ids = (await first.complete('Once upon a time', { ...GREEDY, maxTokens: 8 })).ids;
    first.dispose();
    expect(liveGpuObjects()).toEqual(base);
    const pipelines = livePipelines();

    const second = await Engine.load(bytes, { contextLength: 64 });
    expect(second.model.gpu).toBe(first.model.gpu); // the shared default device, kept between loads
    expect(liveGpuObjects()).toEqual(loaded);
    expect((await second.complete('Once upon a time', { ...GREEDY, maxTokens: 8 })).ids).toEqual(ids);
    second.dispose();
    expect(livePipelines()).toBe(pipelines);

    await expectEmberError(() => Engine.load(halfBrokenModel(), { contextLength: 64 }), 'BAD_MODEL', /blk\.1\.ffn_up\.weight is missing/);
    expect(liveGpuObjects()).toEqual(base);
    expect(sharedGpuUsers().every((n) => n === 0)).toBe(true);
  });
});

describe('process memory', () => {
  it('30 load -> generate -> dispose cycles and 30 failed loads: RSS and heap flat from cycle 10', async () => {
    sharedModelPath('stories260K/stories260K.gguf');
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'memory', '--', '--cycles', '30', '--json'], {
      cwd: REPO_ROOT, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, maxBuffer: 1 << 24,
    });
    const r = JSON.parse(stdout.trim().split('\n').pop()!);
    for (const run of [r.good, r.failed]) {
      // the bound (20 MB, 2 MB) over 20 cycles instead of 90: before the fix a stories260K cycle kept
      // 1.5 MB (30 MB here); what remains is a step of the allocator's arenas at some cycle, then a plateau
      expect(run.rssMB, JSON.stringify(r)).toBeLessThan(20);
      expect(run.heapMB, JSON.stringify(r)).toBeLessThan(2);
      expect(run.last.buffers).toBe(run.first.buffers);
      expect(run.last.bindGroups).toBe(run.first.bindGroups);
      expect(run.last.pipelines).toBe(run.first.pipelines);
    }
  }, 300_000);
});

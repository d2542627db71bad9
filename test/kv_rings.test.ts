/**
 * Windowed layers' K/V rings across requests: KvRings says from which position a request may restart
 * (the rows its first queries read still hold their positions), and on hf-oracle/mistral-swa (window 12,
 * rings of 27 rows), gemma2 (window 8 on every other layer) and lfm2 (test/fixtures/lfm2: 3 short-convolution layers
 * whose B * x rings of 18 rows are read 2 positions back) a request that goes back behind what the cache holds reuses
 * exactly that much, with the greedy ids and logits of a run from scratch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { KvRings } from '../src/model/kv_rings.ts';
import { readLogits } from '../src/model/model.ts';
import { hfOracleFolder } from './helpers/models.ts';
import { rng, testGpu } from './helpers/gpu.ts';

describe('KvRings', () => {
  it('full attention restarts anywhere', () => {
    const rings = new KvRings([0, 0], 64, 4);
    rings.wrote(0, 64);
    expect(rings.restartAt(10)).toBe(10);
  });

  it('a window of 4 in rings of 5 rows (maxBatch 2): a restart needs the 3 positions before it', () => {
    const rings = new KvRings([4, 0], 100, 2);
    rings.wrote(0, 5); // rows 0..4 hold 0..4: nothing overwritten yet
    expect([0, 1, 2, 3, 4, 5].map((c) => rings.restartAt(c))).toEqual([0, 1, 2, 3, 4, 5]);
    rings.wrote(5, 5); // rows hold 5..9
    expect(rings.restartAt(10)).toBe(10);
    expect(rings.restartAt(8)).toBe(8); // reads 5..7
    expect(rings.restartAt(7)).toBe(0); // reads 4..6: row 4 holds 9, and so on down
  });

  it('a discarded step counts: its row no longer holds the older position', () => {
    const rings = new KvRings([4], 100, 2);
    rings.wrote(0, 6); // row 0 holds 5
    expect(rings.restartAt(5)).toBe(5); // reads 2..4
    rings.wrote(6, 1); // a decode step submitted ahead and dropped: row 1 holds 6
    expect(rings.restartAt(5)).toBe(5);
    rings.wrote(7, 2); // rows 2, 3 hold 7, 8
    expect(rings.restartAt(5)).toBe(0);
  });

  it('two windows: the smaller ring decides', () => {
    const rings = new KvRings([4, 8], 100, 2); // rings of 5 and 9 rows
    rings.wrote(0, 9);
    expect(rings.restartAt(8)).toBe(8); // ring of 9 holds 0..8; ring of 5 holds 4..8, reads 5..7
    expect(rings.restartAt(6)).toBe(0); // ring of 5: reads 3..5, row 3 holds 8
  });
});

const GREEDY = { temperature: 0, topK: 0, topP: 1, stopAtEos: false, addBos: false, maxTokens: 8 } as const;

/**
 * Two engines on one model, the first reusing its cache and the second running everything from scratch (loaded before
 * the describe's tests, disposed after); `expectFromScratch` runs a sequence on both: the same ids, and logits within f32
 * rounding of other pass splits; it returns how many tokens the first reused.
 */
function cachedAndScratch(name: string, seed: number, decodeAhead?: number) {
  const e: { engine?: Engine; scratch?: Engine } = {};
  beforeAll(async () => {
    const opts = { gpu: await testGpu(), contextLength: 256, maxBatch: 16 };
    e.engine = await Engine.load(hfOracleFolder(name), opts);
    e.scratch = await Engine.load(hfOracleFolder(name), opts);
    if (decodeAhead) e.engine.tuning.decodeAhead = decodeAhead;
  }, 600_000);
  afterAll(() => {
    e.engine?.dispose();
    e.scratch?.dispose();
  });
  const r = rng(seed);
  const engine = () => e.engine!;
  const tokens = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(r() * (engine().config.vocab - 3)));
  async function expectFromScratch(seq: number[]): Promise<number> {
    const reused = await engine().complete(seq, GREEDY);
    const logits = await readLogits(engine().model);
    const fresh = await e.scratch!.complete(seq, { ...GREEDY, reuseKv: false });
    expect(reused.ids).toEqual(fresh.ids);
    const want = await readLogits(e.scratch!.model);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(logits[i] - want[i]));
    expect(worst).toBeLessThan(1e-3);
    return reused.stats.cachedTokens;
  }
  return { engine, tokens, expectFromScratch };
}

for (const name of ['mistral-swa', 'gemma2', 'lfm2']) {
  describe(`${name}: requests that go back behind the cache`, () => {
    const { engine, tokens, expectFromScratch } = cachedAndScratch(name, 7);

    it('a regenerated turn inside the window reuses the shared prefix (the rings never wrapped)', async () => {
      const head = tokens(10);
      await engine().complete([...head, ...tokens(4)], GREEDY); // positions 0..20: inside the 27-row ring
      expect(await expectFromScratch([...head, ...tokens(5)])).toBe(10);
    });

    it('after the rings wrapped: back to where the window still holds its keys, else from the start', async () => {
      const long = tokens(60);
      await engine().complete(long, { ...GREEDY, maxTokens: 1 }); // positions 0..59
      // With 27 rows, positions 33..59 are still held: a restart at 50 reads 39..49 (gemma2's 8: 43..49; lfm2's 18
      // rows hold 42..59, its convolutions read 48..49).
      expect(await expectFromScratch([...long.slice(0, 50), ...tokens(3)])).toBe(50);
      await engine().complete(long, { ...GREEDY, maxTokens: 1 });
      expect(await expectFromScratch([...long.slice(0, 30), ...tokens(3)])).toBe(0); // 19..29 were overwritten
      // What the cache holds extended: everything reused.
      const held = engine().model.kv.ids.slice();
      expect(await expectFromScratch([...held, ...tokens(4)])).toBe(held.length);
    });
  });
}

describe('KvRings with a recurrent state (Mamba-2): kept after the last position of each pass', () => {
  it('a restart needs the state after the position before it; rewriting a position forgets the states after it', () => {
    const rings = new KvRings([4], 100, 16, 5); // a convolution of 4 taps: rings of 19 rows
    rings.wrote(0, 16);
    rings.wrote(16, 4); // states after 15 and 19
    expect([20, 19, 16, 15, 1, 0].map((c) => rings.restartAt(c))).toEqual([20, 16, 16, 0, 0, 0]);
    for (let p = 20; p < 24; p++) rings.wrote(p, 1); // decode steps: slots of 20..23 (20 took 15's)
    expect(rings.restartAt(24)).toBe(24);
    expect(rings.restartAt(17)).toBe(0);
    rings.wrote(21, 1); // a regenerated step at 21: 22 and 23 were computed from the old 21
    expect(rings.restartAt(24)).toBe(22);
  });
});

describe.each(['granite4h', 'qwen3_5'])('%s (test/fixtures: 3 recurrent layers, Mamba-2 or Gated DeltaNet): requests that go back behind the cache', (name) => {
  // the most steps in flight past a stop (decodeAhead 4): their states take the other slots
  const { engine, tokens, expectFromScratch } = cachedAndScratch(name, 11, 4);

  it('the next turn of a conversation reuses everything the cache holds, after a generation stopped with steps in flight', async () => {
    await engine().complete(tokens(20), GREEDY); // 8 tokens: 7 of them fed back, decode steps submitted ahead
    const held = engine().model.kv.ids.slice();
    expect(await expectFromScratch([...held, ...tokens(5)])).toBe(held.length);
    // A generation aborted after its 3rd token: the steps already submitted past it are discarded with their states.
    const stop = new AbortController();
    let n = 0;
    for await (const _ of engine().generate(tokens(12), { ...GREEDY, maxTokens: 20, signal: stop.signal })) if (++n === 3) stop.abort();
    const kept = engine().model.kv.ids.slice();
    expect(await expectFromScratch([...kept, ...tokens(3)])).toBe(kept.length);
  });

  it('a regenerated turn restarts where a pass left its state, else from the start', async () => {
    const long = tokens(20);
    await engine().complete(long, { ...GREEDY, maxTokens: 1 }); // passes 0..15 and 16..19: states after 15 and 19
    expect(await expectFromScratch([...long.slice(0, 16), ...tokens(3)])).toBe(16);
    await engine().complete(long, { ...GREEDY, maxTokens: 1 });
    expect(await expectFromScratch([...long.slice(0, 12), ...tokens(3)])).toBe(0); // no state after 11
  });
});

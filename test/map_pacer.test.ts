/**
 * MapPacer's estimate: a pass's first read maps at once; then a read maps after 85% of the time the last
 * passes of its kind took (decode steps whole, prefill passes per token), and an oversleep shrinks it: slowly when
 * only the late map's time says so, at once (the middle of the sleep) when a map resolves as soon as it is asked.
 */
import { describe, expect, it } from 'vitest';
import { MapPacer } from '../src/model/map_pacer.ts';

describe('MapPacer', () => {
  it('maps at once until a pass of the kind was measured, then at 85% of its time', () => {
    const pacer = new MapPacer();
    expect(pacer.mapAt(1, 100)).toBe(100);
    pacer.done(1, 100, 140); // a decode step took 40 ms
    expect(pacer.mapAt(1, 140)).toBeCloseTo(140 + 0.85 * 40);
    expect(pacer.mapAt(16, 140)).toBe(140); // prefill passes are measured on their own
    pacer.done(16, 140, 460); // 20 ms per token
    expect(pacer.mapAt(8, 500)).toBeCloseTo(500 + 0.85 * 160);
  });

  it('follows the measured times, and sheds an oversleep', () => {
    const pacer = new MapPacer();
    pacer.done(1, 0, 40);
    pacer.done(1, 40, 100); // a slower step: the estimate moves halfway (50)
    expect(pacer.mapAt(1, 100) - 100).toBeCloseTo(0.85 * 50);
    // The steps really take 10 ms: each map comes late and measures its sleep (plus 1 ms of map latency).
    let t = 100;
    for (let i = 0; i < 40; i++) {
      const end = Math.max(t + 10, pacer.mapAt(1, t) + 1);
      pacer.done(1, t, end);
      t = end;
    }
    expect(pacer.mapAt(1, t) - t).toBeLessThan(10);
  });

  it('sheds an estimate far too high in a few passes: a map that resolves at once means the pass ended during the sleep', () => {
    const pacer = new MapPacer();
    pacer.done(16, 0, 1600); // a first pass slowed by compiling: 100 ms a token
    // The passes really take 200 ms (12.5 a token); a map resolves 1 ms after its pass ends, or after it is asked.
    let t = 1600;
    const sleeps: number[] = [];
    for (let i = 0; i < 8; i++) {
      const asked = pacer.mapAt(16, t);
      sleeps.push(asked - t);
      const end = Math.max(t + 200, asked) + 1;
      pacer.done(16, t, end, asked);
      t = end;
    }
    // 1360 ms, then half-way guesses until a map waits for its pass (a measurement); never far below it after.
    expect(sleeps[0]).toBeCloseTo(1360);
    expect(sleeps.findIndex((s) => s < 200)).toBeLessThanOrEqual(3);
    for (const s of sleeps.slice(4)) expect(s).toBeGreaterThan(0.85 * 200 * 0.75);
    for (const s of sleeps.slice(4)) expect(s).toBeLessThan(200);
  });

  it('a map just after the wake measures the pass: no oversleep is read into it', () => {
    const pacer = new MapPacer();
    pacer.done(1, 0, 10); // decode steps of 10 ms: the sleep leaves 1.5 ms, a map 1.2 ms after it is the pass ending
    const asked = pacer.mapAt(1, 10);
    pacer.done(1, 10, asked + 1.2, asked);
    expect(pacer.mapAt(1, 100) - 100).toBeCloseTo(0.85 * 9.85);
  });
});

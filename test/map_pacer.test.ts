/**
 * MapPacer's estimate: a pass's first read maps at once; then a read maps after 85% of the time the last
 * passes of its kind took (decode steps whole, prefill passes per token), and an oversleep shrinks it.
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
});

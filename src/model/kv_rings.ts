import type { ModelConfig } from './config.ts';

/**
 * Rows of a layer's K/V ring. Full attention: every position of the context. A window W: the query at
 * p reads keys p-W+1..p, and one pass writes up to maxBatch new keys before its first query reads the
 * oldest, so W - 1 + maxBatch rows are never overwritten while still needed.
 */
export function kvCacheRows(window: number, nCtx: number, maxBatch: number): number {
  return window > 0 ? Math.min(nCtx, window - 1 + maxBatch) : nCtx;
}

/**
 * Which position each row of the windowed layers' K/V rings holds: a ring of `rows` rows keeps position p
 * in row p % rows until a later position lands there. A request that goes back behind what the cache holds
 * (a regenerated reply, an edited turn) may restart at position c only while every row its first queries
 * read, keys c-W+1..c-1, still holds its own position; full-attention layers keep every position.
 */
export class KvRings {
  private readonly rings: { window: number; held: Int32Array }[] = [];

  constructor(layerWindow: readonly number[], nCtx: number, maxBatch: number) {
    for (const window of new Set(layerWindow.filter((w) => w > 0))) {
      this.rings.push({ window, held: new Int32Array(kvCacheRows(window, nCtx, maxBatch)).fill(-1) });
    }
  }

  /**
   * Positions pos..pos+n-1 written (recorded when a pass is submitted: one that fails or is discarded may
   * still have overwritten their rows, so its rows no longer count for older positions).
   */
  wrote(pos: number, n: number): void {
    for (const { held } of this.rings) {
      for (let p = pos; p < pos + n; p++) held[p % held.length] = p;
    }
  }

  /** The latest position at or before c from which every windowed layer still holds the keys its queries read. */
  restartAt(c: number): number {
    for (let moved = true; moved; ) {
      moved = false;
      for (const ring of this.rings) {
        const at = fitRing(ring, c);
        if (at < c) [c, moved] = [at, true];
      }
    }
    return c;
  }
}

/** The latest c' <= c with rows holding positions max(0, c'-W+1)..c'-1: below an overwritten position b, try b. */
function fitRing({ window, held }: { window: number; held: Int32Array }, c: number): number {
  for (;;) {
    let lost = -1; // the latest position below c whose row holds another
    for (let q = c - 1; q >= Math.max(0, c - window + 1); q--) {
      if (held[q % held.length] !== q) {
        lost = q;
        break;
      }
    }
    if (lost < 0) return c;
    c = lost; // restarting at `lost` writes it again
  }
}

/**
 * Per layer, how many positions back its ring reads: the attention window (0: every position), or for an LFM2
 * short-convolution layer its taps (the convolution at p reads B * x of p-taps+1..p, as a window of that size).
 */
export function ringWindows(c: Pick<ModelConfig, 'layerWindow' | 'layerConv' | 'convKernel'>): number[] {
  return c.layerWindow.map((w, l) => (c.layerConv[l] ? c.convKernel : w));
}

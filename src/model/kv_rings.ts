import type { ModelConfig } from './config.ts';
import { READBACK_RING } from './readback_ring.ts';

/**
 * Slots of a Mamba-2 layer's recurrent state: a pass leaves the state after its last position in that position's slot
 * (pos % slots), so a request may go back to any position whose state is still held. One more than the passes that
 * may be in flight keeps the state of the last token a stopped generation kept (later steps, discarded, take the others).
 */
export const SSM_SLOTS = READBACK_RING + 1;

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
 * read, keys c-W+1..c-1, still holds its own position; full-attention layers keep every position. A recurrent
 * state (Mamba-2) is kept only after the last position of each pass, in `stateSlots` slots: a restart at c needs the
 * state after c - 1 (none at 0).
 */
export class KvRings {
  private readonly rings: { window: number; held: Int32Array }[] = [];
  /** Slot s holds the recurrent state after position states[s] (-1: none); empty without recurrent layers. */
  private readonly states: Int32Array;

  constructor(layerWindow: readonly number[], nCtx: number, maxBatch: number, stateSlots = 0) {
    for (const window of new Set(layerWindow.filter((w) => w > 0))) {
      this.rings.push({ window, held: new Int32Array(kvCacheRows(window, nCtx, maxBatch)).fill(-1) });
    }
    this.states = new Int32Array(stateSlots).fill(-1);
  }

  /**
   * Positions pos..pos+n-1 written (recorded when a pass is submitted: one that fails or is discarded may
   * still have overwritten their rows, so its rows no longer count for older positions).
   */
  wrote(pos: number, n: number): void {
    for (const { held } of this.rings) {
      for (let p = pos; p < pos + n; p++) held[p % held.length] = p;
    }
    const { states } = this;
    if (states.length === 0) return;
    for (let s = 0; s < states.length; s++) if (states[s] >= pos) states[s] = -1; // computed from what is now rewritten
    states[(pos + n - 1) % states.length] = pos + n - 1;
  }

  /** The latest position at or before c from which every windowed layer still holds the keys its queries read. */
  restartAt(c: number): number {
    for (let moved = true; moved; ) {
      moved = false;
      for (const ring of this.rings) {
        const at = fitRing(ring, c);
        if (at < c) [c, moved] = [at, true];
      }
      const at = this.fitState(c);
      if (at < c) [c, moved] = [at, true];
    }
    return c;
  }

  /** The latest c' <= c after whose position c' - 1 a recurrent state is held (0: from no state). */
  private fitState(c: number): number {
    if (this.states.length === 0 || c === 0) return c;
    let best = 0;
    for (const q of this.states) if (q >= 0 && q + 1 <= c) best = Math.max(best, q + 1);
    return best;
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
 * short-convolution layer its taps (the convolution at p reads B * x of p-taps+1..p, as a window of that size), and
 * for a Mamba-2 or Gated DeltaNet layer its convolution's.
 */
export function ringWindows(c: Pick<ModelConfig, 'layerWindow' | 'layerConv' | 'convKernel' | 'layerSsm' | 'ssm' | 'layerDelta' | 'delta'>): number[] {
  return c.layerWindow.map((w, l) => (c.layerConv[l] ? c.convKernel : c.layerSsm[l] && c.ssm ? c.ssm.convKernel : c.layerDelta[l] && c.delta ? c.delta.convKernel : w));
}

import { forward, readLogits } from '../../src/model/model.ts';
import type { Engine } from '../../src/engine.ts';

/** A transformers oracle's prompt: its ids, greedy ids, and every step's top ids and logits (full vectors for the first steps). */
export interface OracleSteps {
  generated_ids: number[];
  steps: { top_ids: number[]; top_logits: number[] }[];
  full_logits?: number[][];
}

const GREEDY = { temperature: 0, topK: 0, topP: 1 };

/**
 * Runs `promptIds` (in passes of `maxBatch`), then teacher-forces the oracle's generated ids (so one differing step does
 * not hide the later ones); returns the greedy id sampled at each step and the worst |logit - the oracle's| over the
 * steps' top ids (top) and over the full logits where the oracle has them (full, else 0).
 */
export async function teacherForced(engine: Engine, promptIds: readonly number[], p: OracleSteps, maxBatch = 16): Promise<{ ids: number[]; top: number; full: number }> {
  const m = engine.model;
  let next = 0;
  for (let i = 0; i < promptIds.length; i += maxBatch) next = await forward(m, promptIds.slice(i, i + maxBatch), i, GREEDY, 0);
  const ids: number[] = [];
  let top = 0;
  let full = 0;
  for (let k = 0; k < p.generated_ids.length; k++) {
    const logits = await readLogits(m);
    const s = p.steps[k];
    for (let i = 0; i < s.top_ids.length; i++) top = Math.max(top, Math.abs(logits[s.top_ids[i]] - s.top_logits[i]));
    const all = p.full_logits?.[k];
    if (all) for (let i = 0; i < all.length; i++) full = Math.max(full, Math.abs(logits[i] - all[i]));
    ids.push(next);
    if (k + 1 < p.generated_ids.length) next = await forward(m, [p.generated_ids[k]], promptIds.length + k, GREEDY, 0);
  }
  return { ids, top, full };
}

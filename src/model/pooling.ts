/**
 * How an embedding pools the final norm's rows: llama.cpp's pooling types by number (GGUF `<arch>.pooling_type`), and
 * which rows a model's pooling reads.
 */
import type { ModelConfig } from './config.ts';

/** llama.cpp's pooling types (`<arch>.pooling_type`, llama_pooling_type) by number. */
export const POOLING: Record<number, Pooling> = { 0: 'none', 1: 'mean', 2: 'cls', 3: 'last', 4: 'rank' };
export type Pooling = 'none' | 'mean' | 'cls' | 'last' | 'rank';
/** A pooling's `<arch>.pooling_type` number (what a GGUF writer puts). */
export const poolingType = (p: Pooling): number => Number(Object.keys(POOLING).find((k) => POOLING[Number(k)] === p));

/**
 * Which rows of the final norm an embedding pools: the last token's, the first token's (CLS), or every row (mean); an
 * encoder without a final norm (postLayerNorms) reads its residual stream, every row but for CLS.
 */
export function pooledRows(c: Pick<ModelConfig, 'pooling' | 'postLayerNorms' | 'layerNorms' | 'classifierPooling'>): 'last' | 'first' | 'all' {
  if (c.postLayerNorms) return c.pooling === 'cls' || c.pooling === 'rank' ? 'first' : 'all'; // (a cross-encoder's head reads [CLS])
  // (ModernBERT without sentence-transformers' files: their default; its cross-encoder's head: its classifier_pooling)
  const p = c.layerNorms ? (c.pooling === 'rank' ? c.classifierPooling : c.pooling ?? 'mean') : c.pooling;
  return p === 'mean' ? 'all' : p === 'cls' ? 'first' : 'last';
}

/**
 * An input to embed runs in one pass with nothing from the KV cache: with bidirectional attention a token's K and V
 * depend on the tokens after it, and a row pooled other than the last must come from the pass itself.
 */
export const embedsInOnePass = (c: Pick<ModelConfig, 'pooling' | 'bidirectional' | 'postLayerNorms' | 'layerNorms' | 'classifierPooling'>) => c.bidirectional || pooledRows(c) !== 'last';

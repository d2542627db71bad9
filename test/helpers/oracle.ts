/** Reads llama.cpp's reference outputs in ../shared/models/oracle (see its README for the fields). */
import { readFileSync } from 'node:fs';
import { sharedModelPath } from './models.ts';

export interface OracleTop5 { token: number; piece: string; logit: number; logprob: number }
export interface OracleResult {
  prompt: string;
  prompt_token_ids: number[];
  generated_token_ids: number[];
  generated_text: string;
  full_text: string;
  prompt_positions: { position: number; input_token: number; top5: OracleTop5[] }[];
  steps: { step: number; token: number; top5: OracleTop5[] }[];
}
export interface Oracle { results: OracleResult[]; kv_cache_type: string; context_size: number }
export interface OracleLogits { runs: { prompt: string; input_tokens: number[]; logits: number[][] }[] }

export function readOracle(name: string): Oracle {
  return JSON.parse(readFileSync(sharedModelPath(`oracle/${name}`), 'utf8')) as Oracle;
}
export function readOracleLogits(name: string): OracleLogits {
  return JSON.parse(readFileSync(sharedModelPath(`oracle/${name}`), 'utf8')) as OracleLogits;
}

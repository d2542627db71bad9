/**
 * `parseSpecial` on generate/tokenize: off by default (user text cannot inject control tokens), on when
 * asked, as transformers' tokenizer and llama.cpp's CLI parse them. Expected ids: the `tokenizers` library
 * on the folder's tokenizer.json (`encode_special_tokens = True` for the plain ones).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { sharedModelPath } from './helpers/models.ts';

const TEXT = '<|im_start|>user hi<|im_end|>';
const PARSED = [1, 512, 318, 419, 285, 270, 417, 513];
const PLAIN = [1, 410, 504, 506, 288, 98, 356, 295, 413, 506, 505, 425, 419, 285, 270, 417, 504, 506, 288, 98, 367, 506, 505];

describe('parseSpecial', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath('hf-oracle/llama-gqa'));
  });
  afterAll(() => engine?.dispose());

  it('tokenize: off by default, on when asked', () => {
    expect(engine.tokenize(TEXT)).toEqual(PLAIN);
    expect(engine.tokenize(TEXT, { parseSpecial: true })).toEqual(PARSED);
  });

  it('generate: the prompt ids follow the option', async () => {
    const plain = await engine.complete(TEXT, { maxTokens: 1, temperature: 0 });
    expect(plain.promptIds).toEqual(PLAIN);
    const parsed = await engine.complete(TEXT, { maxTokens: 1, temperature: 0, parseSpecial: true });
    expect(parsed.promptIds).toEqual(PARSED);
  });
});

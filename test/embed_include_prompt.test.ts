/**
 * A Pooling module with include_prompt false (INSTRUCTOR's layout: hkunlp/instructor-* as sentence-transformers loads them)
 * against sentence-transformers (made by test/fixtures/make_include_prompt_oracle.py): a named prompt's rows, as many as
 * its tokens with the tokenizer's special ones but a trailing one, left out of the mean. On copies of test/fixtures/t5_relu
 * (a T5 encoder, a Dense layer, Normalize) and test/fixtures/bert (its [CLS] left out too) with include_prompt false and
 * two named prompts, as the script makes them.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { testGpu } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';
import { maxDiff } from './helpers/vectors.ts';

interface Case { text: string; prompt_name: string | null; prompt_length: number; embedding: number[] }
interface Oracle { prompts: Record<string, string>; cases: Case[] }

/** A copy of fixture `name` as the script embedded it: include_prompt `include`, the oracle's prompts. */
function instructorCopy(name: string, include = false): { dir: string; oracle: Oracle } {
  const src = resolve(import.meta.dirname, 'fixtures', name);
  const oracle = JSON.parse(readFileSync(join(src, 'include_prompt.sentence_transformers.json'), 'utf8')) as Oracle;
  const dir = mkdtempSync(join(tmpdir(), `emberlm-${name}-prompt-`));
  cpSync(src, dir, { recursive: true });
  const pooling = join(dir, '1_Pooling/config.json');
  writeFileSync(pooling, JSON.stringify({ ...JSON.parse(readFileSync(pooling, 'utf8')), include_prompt: include }));
  writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ prompts: oracle.prompts, default_prompt_name: null }));
  return { dir, oracle };
}

describe.each([['t5_relu'], ['bert']])('include_prompt false (%s)', (name) => {
  let dir: string;
  let oracle: Oracle;
  let engine: Engine;
  beforeAll(async () => {
    ({ dir, oracle } = instructorCopy(name));
    engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
  });
  afterAll(async () => {
    await engine?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves the prompt\'s rows out of the mean, as sentence-transformers does: texts in one call and each alone', async () => {
    const names = [...new Set(oracle.cases.map((c) => c.prompt_name))];
    expect(Math.min(...oracle.cases.filter((c) => c.prompt_name).map((c) => c.prompt_length))).toBeGreaterThan(10);
    for (const promptName of names) {
      const cases = oracle.cases.filter((c) => c.prompt_name === promptName);
      const o = promptName ? { promptName } : {};
      const r = await engine.embed(cases.map((c) => c.text), o);
      cases.forEach((c, i) => expect(maxDiff(r.embeddings[i], c.embedding), `${promptName} ${c.text}`).toBeLessThan(1e-5));
      engine.tuning.batchInputs = false;
      try {
        for (const c of cases) expect(maxDiff((await engine.embed(c.text, o)).embeddings[0], c.embedding), `${promptName} ${c.text} alone`).toBeLessThan(1e-5);
      } finally {
        engine.tuning.batchInputs = true;
      }
    }
  });

  it('a prompt of one\'s own (INSTRUCTOR\'s instructions, sentence-transformers\' prompt=) as the named one; not both', async () => {
    for (const c of oracle.cases.filter((x) => x.prompt_name)) {
      expect(maxDiff((await engine.embed(c.text, { prompt: oracle.prompts[c.prompt_name!] })).embeddings[0], c.embedding), c.text).toBeLessThan(1e-5);
    }
    await expectEmberError(() => engine.embed('a', { prompt: 'x: ', promptName: 'query' }), 'BAD_ARGUMENT', /prompt .*left out where promptName is given/);
    await expectEmberError(() => engine.embed('a', { prompt: 3 as unknown as string }), 'BAD_ARGUMENT', /prompt .*a string/);
  });

  it('token ids are pooled whole (they come without the prompt)', async () => {
    const ids = [...engine.tokenize('Once upon a time'), ...engine.tokenizer.endIds];
    const [fromIds, fromText] = [(await engine.embed([ids])).embeddings[0], (await engine.embed('Once upon a time')).embeddings[0]];
    expect(maxDiff(fromIds, fromText)).toBeLessThan(1e-6);
  });
});

describe('include_prompt', () => {
  it('counts: the prompted embeddings pooled with their prompt part from sentence-transformers\' by over 1e-3', async () => {
    const { dir, oracle } = instructorCopy('t5_relu', true);
    const engine = await Engine.load(dir, { gpu: await testGpu(), kvCache: 'f32' });
    try {
      for (const c of oracle.cases.filter((x) => x.prompt_name)) {
        expect(maxDiff((await engine.embed(c.text, { promptName: c.prompt_name! })).embeddings[0], c.embedding), c.text).toBeGreaterThan(1e-3);
      }
    } finally {
      await engine.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a value other than true or false is BAD_MODEL', async () => {
    const { dir } = instructorCopy('bert');
    try {
      const pooling = join(dir, '1_Pooling/config.json');
      writeFileSync(pooling, JSON.stringify({ ...JSON.parse(readFileSync(pooling, 'utf8')), include_prompt: 'no' }));
      await expectEmberError(async () => Engine.load(dir, { gpu: await testGpu() }), 'BAD_MODEL', /include_prompt is "no"; expected true or false/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

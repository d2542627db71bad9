/**
 * Constrained decoding: an Engine that asks a TokenConstraint before each token chooses among the allowed ones
 * only (one step at a time, whatever decodeAhead is), and chat's response_format holds stories260K's replies to
 * JSON and to a JSON Schema through XGrammar. A token outside the grammar would make the constraint's accept
 * throw, so a completion that ends proves every token was allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { createChat } from '../src/chat/index.ts';
import type { TokenConstraint } from '../src/grammar/constraint.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { sharedModelPath } from './helpers/models.ts';

const STORIES = 'stories260K/stories260K.gguf';

/** Allows `next(step)` alone at each step: the reply is that sequence, whatever the model prefers. */
function forcing(rows: number, next: (step: number) => number): TokenConstraint & { masks: number } {
  let step = 0;
  return {
    masks: 0,
    async allowed() {
      this.masks++;
      const words = new Uint32Array(Math.ceil(rows / 32));
      const id = next(step);
      words[id >>> 5] |= 1 << (id & 31);
      return words;
    },
    accept(id) {
      if (id !== next(step)) throw new Error(`step ${step}: ${id} was not allowed`);
      step++;
    },
  };
}

describe('constrained decoding on stories260K', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 256 });
  });
  afterAll(() => engine?.dispose());

  it('a constraint that allows one token a step gets exactly those tokens, greedy or sampled, with steps ahead or not', async () => {
    const rows = engine.config.vocab;
    const want = Array.from({ length: 12 }, (_, i) => 300 + ((i * 37) % 200));
    const free = await engine.complete('Once upon a time', { temperature: 0, maxTokens: 12 });
    expect(free.ids).not.toEqual(want);
    for (const ahead of [1, 3]) {
      engine.tuning.decodeAhead = ahead;
      for (const sampling of [{ temperature: 0 }, { temperature: 1.2, topK: 0, topP: 1, seed: 7 }]) {
        const c = forcing(rows, (i) => want[i]);
        const r = await engine.complete('Once upon a time', { ...sampling, maxTokens: 12, constraint: c });
        expect(r.ids, JSON.stringify({ ahead, sampling })).toEqual(want);
        expect(c.masks).toBe(12);
      }
    }
    // A constraint that allows nothing more (complete, with no end-of-generation token to offer) ends the reply there.
    const three = forcing(rows, (i) => want[i]);
    const allowed = three.allowed.bind(three);
    three.allowed = async () => (three.masks < 3 ? allowed() : (three.masks++, new Uint32Array(Math.ceil(rows / 32))));
    const ended = await engine.complete('Once upon a time', { temperature: 0, maxTokens: 12, constraint: three });
    expect(ended).toMatchObject({ ids: want.slice(0, 3), finishReason: 'stop' });
    // The next request without a constraint is the model's own again.
    expect((await engine.complete('Once upon a time', { temperature: 0, maxTokens: 12 })).ids).toEqual(free.ids);
    await expectEmberError(() => engine.complete('x', { constraint: {} as never }), 'BAD_ARGUMENT', /constraint must be an object with allowed\(\) and accept\(id\)/);
  });

  it("response_format json_schema: the reply is JSON the schema accepts, and ends there", async () => {
    const chat = createChat(engine);
    const schema = {
      type: 'object',
      properties: { name: { type: 'string', enum: ['Lily', 'Tom', 'Sue'] }, happy: { type: 'boolean' }, age: { type: 'integer', minimum: 1, maximum: 9 } },
      required: ['name', 'happy', 'age'],
    };
    for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 3 }, { temperature: 1, seed: 4 }]) {
      const r = await chat.completions.create({
        messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 60, ...sampling,
        response_format: { type: 'json_schema', json_schema: { name: 'kid', schema } },
      });
      expect(r.choices[0].finish_reason, JSON.stringify(r.choices[0].message.content)).toBe('stop');
      const value = JSON.parse(r.choices[0].message.content!);
      expect(Object.keys(value).sort()).toEqual(['age', 'happy', 'name']);
      expect(['Lily', 'Tom', 'Sue']).toContain(value.name);
      expect(typeof value.happy).toBe('boolean');
      expect(Number.isInteger(value.age) && value.age >= 1 && value.age <= 9).toBe(true);
    }
  });

  it('response_format json_object: a JSON value, streamed as it is written', async () => {
    const chat = createChat(engine);
    const request = { messages: [{ role: 'user' as const, content: 'Once upon a time' }], max_tokens: 120, temperature: 0, response_format: { type: 'json_object' as const } };
    const r = await chat.completions.create(request);
    const content = r.choices[0].message.content!;
    expect(content.trimStart()[0]).toMatch(/[{[]/);
    if (r.choices[0].finish_reason === 'stop') expect(() => JSON.parse(content)).not.toThrow();
    else expect(r.choices[0].finish_reason).toBe('length');
    let streamed = '';
    for await (const c of await chat.completions.create({ ...request, stream: true })) streamed += c.choices[0].delta.content ?? '';
    expect(streamed).toBe(content);
  });

  it('refuses what it cannot do, and stays usable', async () => {
    const chat = createChat(engine);
    const messages = [{ role: 'user' as const, content: 'Once upon a time' }];
    await expectEmberError(() => chat.completions.create({ messages, response_format: { type: 'xml' } as never }), 'BAD_ARGUMENT', /response_format\.type must be/);
    await expectEmberError(() => chat.completions.create({ messages, response_format: { type: 'json_schema', json_schema: {} } as never }), 'BAD_ARGUMENT', /json_schema\.schema/);
    await expectEmberError(
      () => chat.completions.create({ messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } } } }),
      'BAD_ARGUMENT', /does not compile/,
    );
    const r = await chat.completions.create({ messages, max_tokens: 8, temperature: 0 });
    expect(r.choices[0].message.content!.length).toBeGreaterThan(0);
  });
});

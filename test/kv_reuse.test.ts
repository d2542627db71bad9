/**
 * The KV cache across requests, on stories260K: a request that starts with what the cache holds runs
 * only the rest, with the same greedy ids as a run from scratch; the context-overflow policies; chat
 * turns served from the cache; a device destroyed mid-stream, then recover() and the same ids as an
 * uninterrupted run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, DeviceLostEvent } from '../src/engine.ts';
import { createChat, chatPromptIds } from '../src/chat/index.ts';
import { shrink } from '../src/context.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { sharedModelPath } from './helpers/models.ts';
import { readOracle } from './helpers/oracle.ts';

const STORIES = 'stories260K/stories260K.gguf';
const GREEDY = { temperature: 0, topK: 0, topP: 1 } as const;
const oracle = readOracle('stories260K.llama-cpp.json').results;

describe('KV-cache reuse', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 256 });
  });
  afterAll(() => engine?.dispose());

  it('three turns on token ids: only the new suffix runs, ids equal a run from scratch', async () => {
    let convo = [...oracle[0].prompt_token_ids];
    const scratch: number[][] = [];
    for (const turn of [oracle[0].prompt, oracle[1].prompt, oracle[2].prompt]) {
      if (convo.length > oracle[0].prompt_token_ids.length) convo = [...convo, ...engine.tokenize(`\n${turn}`, { addBos: false })];
      scratch.push((await engine.complete(convo, { ...GREEDY, maxTokens: 24, reuseKv: false })).ids);
      engine.model.kv.ids.length = 0; // forget, so the next run starts from the previous turn's state only
      // The previous turn again (fills the cache as a chat would have), then this turn with reuse.
      const held = [...convo];
      const r = await engine.complete(convo, { ...GREEDY, maxTokens: 24 });
      expect(r.ids).toEqual(scratch.at(-1));
      expect(r.stats.cachedTokens).toBe(0);
      const again = await engine.complete(held, { ...GREEDY, maxTokens: 24 });
      expect(again.ids).toEqual(r.ids);
      expect(again.stats.cachedTokens).toBe(held.length - 1); // all but the last prompt token (it is run for its logits)
      convo = [...convo, ...r.ids];
    }
    // From the second turn on, the cache covered the whole previous conversation: prompt and reply.
    const last = engine.model.kv.ids.length;
    const next = [...convo, ...engine.tokenize('\nThe end.', { addBos: false })];
    const r = await engine.complete(next, { ...GREEDY, maxTokens: 8 });
    expect(r.stats.cachedTokens).toBe(last);
    expect(last).toBe(convo.length - 1); // the reply's last token was sampled but never run
    expect(r.ids).toEqual((await engine.complete(next, { ...GREEDY, maxTokens: 8, reuseKv: false })).ids);
  });

  it('a regeneration (same prompt) and a shared system prompt reuse the cache', async () => {
    const sys = engine.tokenize('Lily and Ben were friends. ');
    const a = [...sys, ...engine.tokenize('They went to the park.', { addBos: false })];
    const b = [...sys, ...engine.tokenize('They saw a big dog.', { addBos: false })];
    await engine.complete(a, { ...GREEDY, maxTokens: 4 });
    const rb = await engine.complete(b, { ...GREEDY, maxTokens: 16 });
    expect(rb.stats.cachedTokens).toBeGreaterThanOrEqual(sys.length - 1);
    expect(rb.stats.cachedTokens).toBeLessThan(b.length);
    expect(rb.ids).toEqual((await engine.complete(b, { ...GREEDY, maxTokens: 16, reuseKv: false })).ids);
    const seeded = { temperature: 0.9, topK: 40, topP: 0.9, seed: 5, maxTokens: 16 };
    const first = await engine.complete(b, { ...seeded, reuseKv: false });
    const regen = await engine.complete(b, seeded);
    expect(regen.stats.cachedTokens).toBe(b.length - 1);
    expect(regen.ids).toEqual(first.ids); // a seed replays a sampled run, cached or not
  });
});

describe('context overflow policies (context 64)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 64, maxBatch: 16 });
  });
  afterAll(() => engine?.dispose());
  const long = () => engine.tokenize('Once upon a time, there was a little girl named Lily. She loved to play outside. '.repeat(6)).slice(0, 100);

  it("'error': a long prompt is CONTEXT_OVERFLOW; a generation that fills the context ends with 'length'", async () => {
    await expectEmberError(() => engine.complete(long(), GREEDY), 'CONTEXT_OVERFLOW', /the prompt has 100 tokens but the context holds 64/);
    const r = await engine.complete(oracle[0].prompt, { ...GREEDY, maxTokens: 200, stopAtEos: false });
    expect(r.finishReason).toBe('length');
    expect(r.ids.length).toBe(64 - 5 + 1); // positions 5..63 take the first 59 tokens; the 60th is sampled, not run
  });

  for (const policy of ['truncate-middle', 'sliding-window'] as const) {
    it(`'${policy}': a long prompt is cut to 3/4 of the context, same ids as the cut prompt from scratch`, async () => {
      const prompt = long();
      const r = await engine.complete(prompt, { ...GREEDY, maxTokens: 8, contextOverflow: policy, keepTokens: 10 });
      const cut = shrink(prompt, 48, policy, 10, engine.tokenizer.bosId);
      expect(cut.length).toBe(48);
      expect(cut.slice(0, policy === 'truncate-middle' ? 10 : 1)).toEqual(prompt.slice(0, policy === 'truncate-middle' ? 10 : 1));
      expect(cut.at(-1)).toBe(prompt.at(-1));
      expect(r.stats.droppedTokens).toBe(100 - 48);
      expect(r.ids).toEqual((await engine.complete(cut, { ...GREEDY, maxTokens: 8, reuseKv: false })).ids);
    });

    it(`'${policy}': a generation goes on past the end of the context`, async () => {
      const full = await engine.complete(oracle[0].prompt, { ...GREEDY, maxTokens: 200, stopAtEos: false });
      const r = await engine.complete(oracle[0].prompt, { ...GREEDY, maxTokens: 150, stopAtEos: false, contextOverflow: policy, keepTokens: 5 });
      expect(r.finishReason).toBe('length');
      expect(r.ids.length).toBe(150);
      expect(r.stats.droppedTokens).toBeGreaterThan(0);
      expect(r.ids.slice(0, 60)).toEqual(full.ids); // identical until the first cut
    });
  }
});

describe('chat turns with KV reuse (context 256)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 256 });
  });
  afterAll(() => engine?.dispose());

  it('three turns: same content as each whole conversation from scratch; cached_tokens covers the previous turns', async () => {
    const scratchEngine = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 256 });
    try {
      const chat = createChat(engine);
      const messages: { role: 'user' | 'assistant'; content: string }[] = [];
      let previous = 0;
      for (const [i, o] of oracle.entries()) {
        messages.push({ role: 'user', content: o.prompt });
        const r = await chat.completions.create({ messages, max_tokens: 24, temperature: 0, top_k: 0, top_p: 1 });
        const ids = chatPromptIds(engine.tokenizer, null, messages);
        const scratch = await scratchEngine.complete(ids, { ...GREEDY, maxTokens: 24, addBos: false, reuseKv: false });
        expect(r.choices[0].message.content).toBe(scratch.text);
        expect(r.usage.prompt_tokens).toBe(ids.length);
        // The whole previous conversation (prompt and reply) but the reply's last token, sampled and never run.
        expect(r.usage.prompt_tokens_details.cached_tokens).toBe(i === 0 ? 0 : previous - 1);
        expect(r.usage.timings.ttft_ms).toBeGreaterThan(0);
        previous = r.usage.total_tokens;
        messages.push({ role: 'assistant', content: r.choices[0].message.content! });
      }
    } finally {
      scratchEngine.dispose();
    }
  });

  it('a conversation longer than the context keeps going (default drop-turns keeps the system prompt)', async () => {
    const chat = createChat(engine);
    const system = { role: 'system' as const, content: 'Lily and Ben were best friends.' };
    const messages: { role: 'system' | 'user' | 'assistant'; content: string }[] = [system];
    const sysIds = chatPromptIds(engine.tokenizer, null, [system]);
    for (let turn = 0; turn < 8; turn++) {
      messages.push({ role: 'user', content: oracle[turn % 3].prompt });
      const r = await chat.completions.create({ messages, max_tokens: 60, temperature: 0, top_k: 0, top_p: 1 });
      expect(r.usage.completion_tokens).toBeGreaterThan(0);
      expect(r.usage.prompt_tokens + Math.min(60, 64)).toBeLessThanOrEqual(256);
      expect(engine.model.kv.ids.slice(0, sysIds.length - 1)).toEqual(sysIds.slice(0, -1)); // the system prompt is still first
      messages.push({ role: 'assistant', content: r.choices[0].message.content! });
    }
    expect(chatPromptIds(engine.tokenizer, null, messages).length).toBeGreaterThan(256); // it did outgrow the context
  });
});

describe('device loss', () => {
  it('device destroyed mid-stream: typed event and error with the tokens so far; recover() continues with the same ids', async () => {
    const ref = await Engine.load(sharedModelPath(STORIES), { gpu: await testGpu(), contextLength: 128 });
    const want = (await ref.complete(oracle[0].prompt, { ...GREEDY, maxTokens: 40, stopAtEos: false })).ids;
    ref.dispose();

    const engine = await Engine.load(sharedModelPath(STORIES), { contextLength: 128 }); // a device of its own
    try {
      const lost: DeviceLostEvent[] = [];
      engine.addEventListener('devicelost', (e) => lost.push(e as DeviceLostEvent));
      const s = engine.generate(oracle[0].prompt, { ...GREEDY, maxTokens: 40, stopAtEos: false });
      const got: number[] = [];
      for (let i = 0; i < 10; i++) got.push(((await s.next()).value as { id: number }).id);
      engine.model.gpu.device.destroy();
      const err = await expectEmberError(async () => {
        for (let r = await s.next(); !r.done; r = await s.next()) if (r.value.id >= 0) got.push(r.value.id);
      }, 'DEVICE', /device was lost .*after \d+ generated tokens; engine.recover\(\)/);
      expect(lost.length).toBe(1);
      expect(lost[0].reason).toMatch(/destroyed/);
      const so = err.details.ids as number[];
      expect(so.length).toBeGreaterThanOrEqual(10);
      expect(so).toEqual(want.slice(0, so.length));
      await expectEmberError(() => engine.complete('x'), 'DEVICE', /lost/);

      await engine.recover();
      const prompt = [...oracle[0].prompt_token_ids, ...so];
      const r = await engine.complete(prompt, { ...GREEDY, maxTokens: 40 - so.length, stopAtEos: false });
      expect(r.stats.cachedTokens).toBe(prompt.length - 1); // the KV cache was restored from the token history
      expect([...so, ...r.ids]).toEqual(want);
    } finally {
      engine.dispose();
    }
  });
});

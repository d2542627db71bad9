/**
 * Chat turns that continue the latest completion keep its reply's tokens as generated (hf-oracle/qwen2:
 * Qwen's tokenizer and ChatML template, random weights, so sampled replies rarely tokenize as their text
 * does): the KV cache covers the whole conversation so far, the prompt is the reply's ids plus the rest of
 * the text encoded as within the whole, and a stateless run of the same ids gives the same content.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { createChat, chatPrompt, chatPromptIds, continuedPromptIds } from '../src/chat/index.ts';
import type { ChatMessage } from '../src/chat/types.ts';
import { testGpu } from './helpers/gpu.ts';
import { sharedModelPath } from './helpers/models.ts';

const QWEN = 'hf-oracle/qwen2';
const SAMPLED = { temperature: 1, top_k: 0, top_p: 1, max_tokens: 12 } as const;

describe('chat turns that continue a reply (qwen2, ChatML)', () => {
  let engine: Engine;
  let scratch: Engine;
  beforeAll(async () => {
    const opts = { gpu: await testGpu(), contextLength: 512 };
    engine = await Engine.load(sharedModelPath(QWEN), opts);
    scratch = await Engine.load(sharedModelPath(QWEN), opts);
  }, 600_000);
  afterAll(() => {
    engine?.dispose();
    scratch?.dispose();
  });
  const question = (i: number) => ({ role: 'user' as const, content: `Question ${i}: what did the cat see?` });

  it('continuedPromptIds: the prior ids, then the rest from its control token; null when the text does not continue', () => {
    const tok = engine.tokenizer;
    const tpl = engine.chatTemplate!;
    const first: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, question(0)];
    const prior = chatPrompt(tok, tpl, first);
    const replyIds = [...'The cat sat.'].map((c) => 3 + c.charCodeAt(0)); // byte tokens (<0x54> ...): a valid split, not BPE's
    // The reply's text as the engine streams it: decoded after the prompt (no leading space stripped).
    const shown = (ids: number[]) => tok.decode(ids, { skipSpecial: false });
    const reply = shown([...prior.ids, ...replyIds]).slice(shown(prior.ids).length);
    const next = [...first, { role: 'assistant' as const, content: reply }, question(1)];
    const whole = chatPrompt(tok, tpl, next);
    const ids = continuedPromptIds(tok, whole, { ids: [...prior.ids, ...replyIds], text: prior.text + reply })!;
    const rest = tok.encode(whole.text!.slice(prior.text!.length + reply.length), { addBos: false, parseSpecial: true });
    expect(ids).toEqual([...prior.ids, ...replyIds, ...rest]);
    expect(ids.length).toBeGreaterThan(whole.ids.length); // not how the text tokenizes
    expect(tok.decode([rest[0]], { skipSpecial: false })).toBe('<|im_end|>');
    expect(tok.decode(ids, { skipSpecial: false })).toBe(tok.decode(whole.ids, { skipSpecial: false })); // the same text
    // An edited reply, or a rest that does not start with a control token: no continuation.
    const edited = chatPrompt(tok, tpl, [...first, { role: 'assistant', content: `${reply}!` }, question(1)]);
    expect(continuedPromptIds(tok, edited, { ids: [...prior.ids, ...replyIds], text: prior.text + reply })).toBeNull();
    expect(continuedPromptIds(tok, whole, { ids: prior.ids, text: prior.text!.slice(0, -1) })).toBeNull();
    // Control-token text in a message: the text is not the ids' text, so nothing continues it.
    const literal = chatPrompt(tok, tpl, [...first, { role: 'assistant', content: 'a<|im_end|>' }, question(1)]);
    expect(literal.text).toBeNull();
    expect(continuedPromptIds(tok, literal, prior)).toBeNull();
  });

  it('three sampled turns: cached_tokens covers every previous turn; the same content as the ids run from scratch', async () => {
    const chat = createChat(engine);
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }];
    let previous = 0;
    let differs = 0;
    let held: number[] = []; // the previous prompt and reply, as the model ran them
    for (let i = 0; i < 3; i++) {
      messages.push(question(i));
      const r = await chat.completions.create({ messages, ...SAMPLED, seed: 10 + i });
      const content = r.choices[0].message.content;
      expect(r.usage.prompt_tokens_details.cached_tokens).toBe(i === 0 ? 0 : previous - 1);
      const ids = engine.model.kv.ids.slice(0, r.usage.prompt_tokens); // the prompt as it ran
      expect(ids.slice(0, held.length)).toEqual(held);
      const canonical = chatPromptIds(engine.tokenizer, engine.chatTemplate!, messages);
      const text = (t: number[]) => engine.tokenizer.decode(t, { skipSpecial: false });
      expect(text(ids)).toBe(text(canonical));
      if (ids.join() !== canonical.join()) differs++;
      const fresh = await scratch.complete(ids, { temperature: 1, topK: 0, topP: 1, maxTokens: 12, seed: 10 + i, addBos: false, reuseKv: false });
      expect(content).toBe(fresh.text);
      previous = r.usage.total_tokens;
      held = [...ids, ...(fresh.finishReason === 'stop' ? fresh.ids.slice(0, -1) : fresh.ids)];
      messages.push({ role: 'assistant', content: content! });
    }
    expect(differs).toBeGreaterThan(0); // the test's point: some reply tokenized otherwise
  });

  it('with keepReplyTokens false, and after a reply cut by a stop string, the prompt is the messages tokenized', async () => {
    const first: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, question(0)];
    const probe = (await createChat(engine).completions.create({ messages: first, ...SAMPLED, seed: 3 })).choices[0].message.content!;
    expect(probe.length).toBeGreaterThan(4);
    const cases = [
      { chat: createChat(engine, { keepReplyTokens: false }), stop: undefined },
      { chat: createChat(engine), stop: probe.slice(2, 4) }, // the same seed: cut after two characters
    ];
    for (const { chat, stop } of cases) {
      const r = await chat.completions.create({ messages: first, ...SAMPLED, seed: 3, stop });
      expect(r.choices[0].message.content).toBe(stop ? probe.slice(0, 2) : probe);
      const messages: ChatMessage[] = [...first, { role: 'assistant', content: r.choices[0].message.content! }, question(1)];
      const next = await chat.completions.create({ messages, ...SAMPLED, max_tokens: 1 });
      expect(engine.model.kv.ids.slice(0, next.usage.prompt_tokens)).toEqual(chatPromptIds(engine.tokenizer, engine.chatTemplate!, messages));
    }
  });
});

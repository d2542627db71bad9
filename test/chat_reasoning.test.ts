/**
 * Thinking models and the XML tool calls of Qwen3-Coder and Qwen3.5: the reasoning a reply writes between <think> and
 * </think> comes back as reasoning_content (ReasoningSplitter, however the text is cut); XML parameters parse to their
 * schema's types; and through an engine running Qwen3.5's own template (a bigram model on the real kernels) a reply
 * that reasons, then calls, comes back as reasoning_content and tool_calls, renders back as the template writes it,
 * and a forced call closes the reasoning the prompt opened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { chatPrompt, createChat, renderChatTemplate, type ChatCompletionChunk, type ChatRequestMessage } from '../src/chat/index.ts';
import { checkMessages } from '../src/chat/messages.ts';
import { ReasoningSplitter, opensThinking } from '../src/chat/reasoning.ts';
import { parseXmlCall } from '../src/chat/xml_calls.ts';
import type { ReplyPart } from '../src/chat/tool_calls.ts';
import { bigramModel, toolTemplate as template, type BigramToken } from './helpers/bigram_model.ts';
import { testGpu } from './helpers/gpu.ts';

/** The text in every cut into two pieces, and one character at a time. */
const chunkings = (text: string) => [[text], [...text], ...Array.from({ length: text.length - 1 }, (_, i) => [text.slice(0, i + 1), text.slice(i + 1)])];

function split(pieces: string[], inside: boolean) {
  const plain = { push: (t: string): ReplyPart => ({ content: t, calls: [] }), end: (): ReplyPart => ({ content: '', calls: [] }), done: false, calls: 0 };
  const s = new ReasoningSplitter(plain, inside);
  let content = '';
  let reasoning = '';
  for (const p of [...pieces.map((x) => s.push(x)), s.end()]) {
    content += p.content;
    reasoning += p.reasoning ?? '';
  }
  return { reasoning, content };
}

describe('ReasoningSplitter', () => {
  it.each([
    ['<think>\nLet me see.\n</think>\n\nParis.', false, { reasoning: 'Let me see.', content: 'Paris.' }],
    ['\nLet me see.\nStill.\n</think>\n\nParis.', true, { reasoning: 'Let me see.\nStill.', content: 'Paris.' }], // the prompt opened it
    ['\n\n</think>\n\nParis.', true, { reasoning: '', content: 'Paris.' }],
    ['Paris, no <think> here.', false, { reasoning: '', content: 'Paris, no <think> here.' }],
    ['  <thin', false, { reasoning: '', content: '  <thin' }], // ended while it might have opened one
    ['<think>\nHalf a thou', false, { reasoning: 'Half a thou', content: '' }], // cut off mid-thought
    ['\nIt is </thin', true, { reasoning: 'It is </thin', content: '' }],
    ['<think></think>Paris </think>', false, { reasoning: '', content: 'Paris </think>' }],
  ] as const)('%j (inside: %s)', (text, inside, want) => {
    for (const pieces of chunkings(text)) expect(split(pieces, inside), JSON.stringify(pieces)).toEqual(want);
  });

  it('a prompt opens thinking where it ends with <think>, not where it closed it (enable_thinking false)', () => {
    expect(opensThinking('<|im_start|>assistant\n<think>\n')).toBe(true);
    expect(opensThinking('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(false);
    expect(opensThinking('<|im_start|>assistant\n')).toBe(false);
  });
});

describe('XML calls (Qwen3-Coder, Qwen3.5)', () => {
  const tools = [{ type: 'function' as const, function: { name: 'book', parameters: { type: 'object', properties: { city: { type: 'string' }, nights: { type: 'integer' }, options: { type: 'object' }, tags: { type: ['array', 'null'] } } } } }];
  it('reads each parameter by its schema: text for strings and unknowns, JSON for the others where it parses', () => {
    const call = '\n<function=book>\n<parameter=city>\n21\n</parameter>\n<parameter=nights>\n3\n</parameter>\n<parameter=options>\n{"view": "sea"}\n</parameter>\n'
      + '<parameter=tags>\n["a", "b"]\n</parameter>\n<parameter=note>\ntwo\nlines\n</parameter>\n</function>\n';
    expect(parseXmlCall(call, tools)).toEqual({ name: 'book', arguments: { city: '21', nights: 3, options: { view: 'sea' }, tags: ['a', 'b'], note: 'two\nlines' } });
    expect(parseXmlCall('<function=book>\n<parameter=nights>\nthree\n</parameter>\n</function>', tools)!.arguments).toEqual({ nights: 'three' }); // not JSON: as written
    expect(parseXmlCall('<function=other>\n</function>', tools)).toEqual({ name: 'other', arguments: {} });
  });
  it('is not a call where text sits between parameters or no function block is whole', () => {
    expect(parseXmlCall('<function=book>\nhi\n<parameter=city>\nx\n</parameter>\n</function>', tools)).toBeNull();
    expect(parseXmlCall('<function=book>\n<parameter=city>\nx\n</parameter>\n', tools)).toBeNull();
    expect(parseXmlCall('{"name": "book"}', tools)).toBeNull();
  });
});

describe("Qwen3.5's template through an engine (a bigram model on the real kernels)", () => {
  const ask = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const CALL = '\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n';
  const THOUGHT = 'Paris weather: call get_weather.';
  // After the prompt's "<think>\n": the thought, </think>, a blank line, the call, EOS.
  const model = bigramModel(
    ([['<|im_start|>', 'control'], ['<|im_end|>', 'control'], ['<think>', 'user'], ['</think>', 'user'], ['<tool_call>', 'user'], ['</tool_call>', 'user'],
      [CALL, 'user'], [THOUGHT, 'user'], ['\n\n', 'user']] as const).map(([text, type]): BigramToken => ({ text, type })),
    ['<0x0A>', THOUGHT, '</think>', '\n\n', '<tool_call>', CALL, '</tool_call>', '</s>'],
    template('Qwen3.5-4B'),
  );
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(model.bytes.slice(), { gpu: await testGpu(), contextLength: 2048 });
  });
  afterAll(() => engine?.dispose());
  const GREEDY = { temperature: 0 } as const;
  const weather = { name: 'get_weather', arguments: '{"city":"Paris"}' };

  it('the reasoning comes back apart from the call, streamed too', async () => {
    const chat = createChat(engine);
    const r = await chat.completions.create({ messages: ask, tools, ...GREEDY });
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, reasoning_content: THOUGHT, tool_calls: [{ type: 'function', function: weather }] } });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await chat.completions.create({ messages: ask, tools, stream: true, ...GREEDY })) chunks.push(c);
    const deltas = chunks.map((c) => c.choices[0].delta);
    expect(deltas.map((d) => d.reasoning_content ?? '').join('')).toBe(THOUGHT);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('');
    expect(deltas.flatMap((d) => d.tool_calls ?? [])).toMatchObject([{ index: 0, type: 'function', function: weather }]);
    // Without tools: the call is text after the reasoning.
    const plain = await chat.completions.create({ messages: ask, ...GREEDY });
    expect(plain.choices[0].message).toEqual({ role: 'assistant', reasoning_content: THOUGHT, content: `<tool_call>${CALL}</tool_call>` });
  });

  it('sent back, the reply renders as the template writes reasoning and calls; a forced call closes the opened <think>', async () => {
    const chat = createChat(engine);
    const tok = engine.tokenizer;
    const first = await chat.completions.create({ messages: ask, tools, ...GREEDY });
    const call = first.choices[0].message.tool_calls![0];
    const messages: ChatRequestMessage[] = [...ask, first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }];
    const next = await chat.completions.create({ messages, tools, max_tokens: 1, ...GREEDY });
    const text = renderChatTemplate(template('Qwen3.5-4B'), checkMessages(messages), { bosToken: '', eosToken: '</s>' }, { tools });
    expect(text).toContain(`<|im_start|>assistant\n<think>\n${THOUGHT}\n</think>\n\n<tool_call>${CALL}</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{"temperature": 21}\n</tool_response>`);
    expect(engine.model.kv.ids.slice(0, next.usage.prompt_tokens)).toEqual(tok.encode(text, { addBos: true, parseSpecial: true }));

    const forced = await chat.completions.create({ messages: ask, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 1, ...GREEDY });
    const rendered = renderChatTemplate(template('Qwen3.5-4B'), checkMessages(ask), { bosToken: '', eosToken: '</s>' }, { tools });
    expect(rendered.endsWith('<|im_start|>assistant\n<think>\n')).toBe(true);
    const opening = tok.encode(`${rendered}\n</think>\n\n<tool_call>\n<function=get_weather>\n`, { addBos: true, parseSpecial: true });
    expect(forced.usage.prompt_tokens).toBe(opening.length);
    expect(engine.model.kv.ids.slice(0, opening.length)).toEqual(opening);
    expect(forced.choices[0].message.reasoning_content).toBeUndefined();

    // response_format's grammar holds the reply from its first token: the answer, after the opened <think> is closed
    const json = await chat.completions.create({ messages: ask, response_format: { type: 'json_object' }, max_tokens: 8, ...GREEDY });
    const closed = tok.encode(`${renderChatTemplate(template('Qwen3.5-4B'), checkMessages(ask), { bosToken: '', eosToken: '</s>' }, {})}\n</think>\n\n`, { addBos: true, parseSpecial: true });
    expect(engine.model.kv.ids.slice(0, closed.length)).toEqual(closed);
    expect(json.choices[0].message.reasoning_content).toBeUndefined();
    expect(json.choices[0].message.content).toMatch(/^\{/);
  });

  it('a call forced by a grammar (strict tools, tool_choice required) closes a <think> the prompt opened (Qwen3 Thinking-2507\'s kind)', () => {
    const opens = "{% for m in messages %}{{ m.content }}{% endfor %}{% if add_generation_prompt %}<think>\n{% endif %}{# <tool_call> </think> #}";
    const prompt = (rendering: { forcedStart?: boolean; replyPrefix?: string }) => chatPrompt(engine.tokenizer, opens, checkMessages(ask), {}, rendering);
    expect(prompt({}).text).toMatch(/<think>\n$/);
    expect(prompt({}).thinking).toBe(true);
    expect(prompt({ forcedStart: true })).toMatchObject({ replyPrefix: '\n</think>\n\n' });
    expect(prompt({ forcedStart: true, replyPrefix: '<tool_call>\n' }).text).toMatch(/<think>\n\n<\/think>\n\n<tool_call>\n$/);
  });
});

/**
 * Function calling: real models' chat templates (test/fixtures/chat_tools, from llama.cpp's copies of the
 * models' own) render tools, calls and results as transformers does (oracle.json, made by transformers), the
 * calls those templates write parse back, and through an engine a model's reply becomes tool_calls.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { createChat, renderChatTemplate, type ChatCompletionChunk, type ChatRequestMessage } from '../src/chat/index.ts';
import { checkMessages } from '../src/chat/messages.ts';
import { ToolCallSplitter, type ParsedToolCall, type ToolFormat } from '../src/chat/tool_calls.ts';
import { parsePythonicCalls, pythonicCalls } from '../src/chat/pythonic.ts';
import { markerIds, planTools, toolFormatOf } from '../src/chat/tools.ts';
import { opensThinking, ReasoningSplitter, thinksIn } from '../src/chat/reasoning.ts';
import { tokenizerFromGGUF } from '../src/tokenizer/index.ts';
import { bigramModel, mistralToolModel, toolTemplate as template, type BigramToken } from './helpers/bigram_model.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { openShared } from './helpers/models.ts';

const DIR = new URL('./fixtures/chat_tools/', import.meta.url);
interface Oracle {
  tools: unknown[];
  variables: Record<string, unknown>;
  cases: Record<string, Array<Record<string, unknown>>>;
  rendered: Record<string, { bos: string; eos: string; cases: Record<string, string | { error: string }> }>;
}
const oracle = JSON.parse(readFileSync(new URL('oracle.json', DIR), 'utf8')) as Oracle;

const FORMATS: Record<string, ToolFormat | null> = {
  'Qwen-Qwen2.5-7B-Instruct': 'hermes',
  'Qwen-Qwen3-0.6B': 'hermes',
  'ibm-granite-granite-4.0': 'hermes',
  'meta-llama-Llama-3.2-3B-Instruct': 'llama3',
  'mistralai-Mistral-Nemo-Instruct-2407': 'mistral',
  'mistralai-Ministral-3-14B-Reasoning-2512': 'mistral-args',
  'LFM2.5-Instruct': 'pythonic',
  'LFM2-8B-A1B': 'pythonic',
  'Qwen3.5-4B': 'qwen-xml',
  'Qwen3-Coder': 'qwen-xml',
};

/** A case's messages as an OpenAI client sends them: arguments as JSON text, tool messages without a name. */
function asRequest(messages: Array<Record<string, unknown>>): ChatRequestMessage[] {
  return messages.map((m) => {
    const calls = m.tool_calls as Array<{ id: string; function: { name: string; arguments: unknown } }> | undefined;
    if (calls) return { ...m, content: null, tool_calls: calls.map((c) => ({ ...c, type: 'function', function: { ...c.function, arguments: JSON.stringify(c.function.arguments) } })) } as unknown as ChatRequestMessage;
    const { name: _name, ...rest } = m;
    return rest as unknown as ChatRequestMessage;
  });
}

/** The calls a case's assistant message makes, as the API returns them. */
function callsOf(messages: Array<Record<string, unknown>>): Array<Omit<ParsedToolCall, 'id'>> {
  const calls = messages.find((m) => m.tool_calls)!.tool_calls as Array<{ function: { name: string; arguments: unknown } }>;
  return calls.map((c) => ({ name: c.function.name, arguments: JSON.stringify(c.function.arguments) }));
}

describe('chat templates with tools render as transformers\' apply_chat_template', () => {
  for (const [name, { bos, eos, cases }] of Object.entries(oracle.rendered)) {
    it(name, async () => {
      expect(toolFormatOf(template(name))).toBe(FORMATS[name]);
      for (const [c, want] of Object.entries(cases)) {
        const messages = checkMessages(asRequest(oracle.cases[c]));
        const render = () => renderChatTemplate(template(name), messages, { bosToken: bos, eosToken: eos }, { ...oracle.variables, tools: oracle.tools });
        if (typeof want === 'string') expect(render(), c).toBe(want);
        else await expectEmberError(render, 'BAD_ARGUMENT', new RegExp(want.error.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      }
    });
  }
});

describe('ToolCallSplitter reads back the calls each template writes', () => {
  let ids = 0;
  const newId = () => `id${ids++}`;
  /** The reply text in pieces of `size` characters (0: every split in two). */
  /** `thinking`: the reply starts inside a <think> the prompt opened (Qwen3.5's), whose end comes first. */
  function split(format: ToolFormat, text: string, pieces: string[], maxCalls?: number, thinking?: boolean) {
    const calls0 = new ToolCallSplitter(format, newId, maxCalls, oracle.tools as never);
    const s = thinking === undefined ? calls0 : new ReasoningSplitter(calls0, thinking);
    let content = '';
    const calls: ParsedToolCall[] = [];
    for (const p of [...pieces.map((x) => s.push(x)), s.end()]) {
      content += p.content;
      calls.push(...p.calls);
    }
    return { content, calls: calls.map(({ name, arguments: a }) => ({ name, arguments: a })), done: s.done };
  }
  const chunkings = (text: string) => [
    [text], [...text],
    ...Array.from({ length: text.length - 1 }, (_, i) => [text.slice(0, i + 1), text.slice(i + 1)]),
  ];

  for (const [name, format] of Object.entries(FORMATS)) {
    if (format === null || format === 'pythonic') continue; // LFM2's templates drop the calls: tested below
    it(name, () => {
      const { eos, cases } = oracle.rendered[name];
      for (const c of ['one-call', 'results']) {
        const rendered = cases[c];
        if (typeof rendered !== 'string') continue; // Llama 3.2 takes one call a turn
        const ask = cases.ask as string;
        expect(rendered.startsWith(ask)).toBe(true);
        const reply = rendered.slice(ask.length, rendered.indexOf(eos, ask.length));
        // (Qwen3.5's reply follows its prompt's <think>: an empty reasoning closes first)
        const thinking = thinksIn(template(name)) ? opensThinking(ask) : undefined;
        for (const pieces of chunkings(reply)) expect(split(format, reply, pieces, undefined, thinking), JSON.stringify(pieces)).toEqual({ content: '', calls: callsOf(oracle.cases[c]), done: false });
        expect(split(format, reply, [reply], 1, thinking).calls).toEqual(callsOf(oracle.cases[c]).slice(0, 1));
      }
    });
  }

  it('keeps text before a call as content, and a call that does not parse as the text the model wrote', () => {
    const call = '<tool_call>\n{"name": "get_time", "arguments": {"timezone": "UTC"}}\n</tool_call>';
    const want = { name: 'get_time', arguments: '{"timezone":"UTC"}' };
    for (const pieces of chunkings(`Let me look.\n${call}\n${call} `)) {
      expect(split('hermes', '', pieces)).toEqual({ content: 'Let me look.', calls: [want, want], done: false });
    }
    for (const pieces of chunkings('No call. \n')) expect(split('hermes', '', pieces).content).toBe('No call. \n'); // every character
    expect(split('hermes', '', ['a <tool_call>\n{"name": get_time}\n</tool_call> ok'])).toEqual({ content: 'a <tool_call>\n{"name": get_time}\n</tool_call> ok', calls: [], done: false });
    expect(split('hermes', '', ['a <tool_ca', 'b'])).toEqual({ content: 'a <tool_cab', calls: [], done: false });
    // A reply cut (max_tokens) inside a call: its text, as content.
    expect(split('hermes', '', [call.slice(0, 30)])).toEqual({ content: call.slice(0, 30), calls: [], done: false });
    // A call the model did not close before its end of turn still counts.
    expect(split('hermes', '', [call.replace('\n</tool_call>', '')]).calls).toEqual([want]);
    expect(split('hermes', '', [call, call], 1)).toEqual({ content: '', calls: [want], done: true });
  });

  it("'llama3' holds a reply that opens with { or <|python_tag|>, and passes any other through as it comes", () => {
    const want = [{ name: 'f', arguments: '{"x":1}' }];
    expect(split('llama3', '', [' <|python', '_tag|>{"name": "f", "parameters": {"x": 1}}']).calls).toEqual(want);
    expect(split('llama3', '', ['{"name": "f", "arguments": {"x": 1}}']).calls).toEqual(want);
    const s = new ToolCallSplitter('llama3', newId);
    expect(s.push(' Hi')).toEqual({ content: ' Hi', calls: [] }); // decided at its first letter: streamed at once
    expect(s.push(' {"name": "f"}')).toEqual({ content: ' {"name": "f"}', calls: [] });
    expect(split('llama3', '', ['{"a": 1} is JSON'])).toEqual({ content: '{"a": 1} is JSON', calls: [], done: false });
  });

  it("'mistral' takes a list of calls with the model's own ids", () => {
    const s = new ToolCallSplitter('mistral', newId);
    s.push('[TOOL_CALLS][{"name": "f", "arguments": {}, "id": "abcdefghi"}, {"name": "g", "arguments": {"y": [1]}}]');
    const { calls } = s.end();
    expect(calls[0]).toEqual({ id: 'abcdefghi', name: 'f', arguments: '{}' });
    expect(calls[1]).toMatchObject({ name: 'g', arguments: '{"y":[1]}' });
  });
});

describe("LFM2's Python-style calls", () => {
  // The format as llama.cpp's LFM2 parser reads it (tests/test-chat.cpp's cases, written again here).
  const CASES: Array<[string, Array<{ name: string; arguments: unknown }> | null]> = [
    ['[special_function(arg1=1)]', [{ name: 'special_function', arguments: { arg1: 1 } }]],
    ['[get_time(city="XYZCITY")]', [{ name: 'get_time', arguments: { city: 'XYZCITY' } }]],
    ['[toggle(enabled=True)]', [{ name: 'toggle', arguments: { enabled: true } }]],
    ['[set_nullable(value=None)]', [{ name: 'set_nullable', arguments: { value: null } }]],
    ['[set_config(config={"enabled": True, "count": 3})]', [{ name: 'set_config', arguments: { config: { enabled: true, count: 3 } } }]],
    ['[set_config(config={"enabled": true, "note": null})]', [{ name: 'set_config', arguments: { config: { enabled: true, note: null } } }]],
    ['[Calendar.create_event(title="demo", participants=["Alice", \'Bob\'], n=-2.5e1)]', [{ name: 'Calendar.create_event', arguments: { title: 'demo', participants: ['Alice', 'Bob'], n: -25 } }]],
    ['[python(code="def hello():\\n    print(\'hey\')\\tx \\"q\\" \\u00e9")]', [{ name: 'python', arguments: { code: "def hello():\n    print('hey')\tx \"q\" é" } }]],
    ['[f(), g(a=[1, 2,], b={})]', [{ name: 'f', arguments: {} }, { name: 'g', arguments: { a: [1, 2], b: {} } }]],
    ['f(a=1)', [{ name: 'f', arguments: { a: 1 } }]],
    ['[f(a=1)] and more', null],
    ['[link text](url)', null],
    ['[f(a=undefined)]', null],
    ['[f(1)]', null],
    ['[f(a="open)]', null],
  ];
  it.each(CASES)('%s', (text, want) => {
    expect(parsePythonicCalls(text)).toEqual(want);
    if (want) expect(parsePythonicCalls(pythonicCalls(want as never))).toEqual(want); // written back, read the same
  });

  it('the splitter takes calls between the markers, text before them as content', () => {
    const reply = 'Let me check.<|tool_call_start|>[get_time(city="Paris"), toggle(enabled=False)]<|tool_call_end|>';
    for (let i = 1; i < reply.length; i++) {
      const s = new ToolCallSplitter('pythonic', () => 'id');
      const parts = [s.push(reply.slice(0, i)), s.push(reply.slice(i)), s.end()];
      expect(parts.map((p) => p.content).join('')).toBe('Let me check.');
      expect(parts.flatMap((p) => p.calls)).toEqual([{ id: 'id', name: 'get_time', arguments: '{"city":"Paris"}' }, { id: 'id', name: 'toggle', arguments: '{"enabled":false}' }]);
    }
  });
});

describe('tool requests', () => {
  const qwen = template('Qwen-Qwen2.5-7B-Instruct');
  const tools = oracle.tools;

  it('plan the reply from tool_choice and parallel_tool_calls, and refuse what they cannot do', async () => {
    expect(planTools({}, qwen)).toBeNull();
    expect(planTools({ tools: [] }, qwen)).toBeNull();
    expect(planTools({ tools, tool_choice: 'none' }, qwen)).toBeNull();
    expect(planTools({ tools }, qwen)).toMatchObject({ format: 'hermes', prefix: '', maxCalls: Infinity });
    expect(planTools({ tools, tool_choice: 'required', parallel_tool_calls: false }, qwen)).toMatchObject({ prefix: '<tool_call>\n', maxCalls: 1 });
    const named = { type: 'function', function: { name: 'get_time' } };
    expect(planTools({ tools, tool_choice: named }, qwen)!.prefix).toBe('<tool_call>\n{"name": "get_time", "arguments": ');
    expect(planTools({ tools, tool_choice: named }, template('mistralai-Ministral-3-14B-Reasoning-2512'))!.prefix).toBe('[TOOL_CALLS]get_time[ARGS]');
    await expectEmberError(() => planTools({ tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, qwen), 'BAD_ARGUMENT', /"nope", which is not among the tools \(get_weather, get_time\)/);
    await expectEmberError(() => planTools({ tools: [{ type: 'function', function: {} }] }, qwen), 'BAD_ARGUMENT', /tools\[0\] must be/);
    await expectEmberError(() => planTools({ tools: [tools[0], tools[0]] }, qwen), 'BAD_ARGUMENT', /two tools are named "get_weather"/);
    await expectEmberError(() => planTools({ tool_choice: 'required' }, qwen), 'BAD_ARGUMENT', /needs tools/);
    await expectEmberError(() => planTools({ tools, parallel_tool_calls: 'yes' }, qwen), 'BAD_ARGUMENT', /parallel_tool_calls/);
    await expectEmberError(() => planTools({ tools }, null), 'UNSUPPORTED', /has none/);
    await expectEmberError(() => planTools({ tools }, '{{ tools | tojson }}{{ messages[0].content }}'), 'UNSUPPORTED', /takes tools, but writes calls in a format emberlm does not parse/);
    const glm = '{{ tools | tojson }}<tool_call>name\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>';
    await expectEmberError(() => planTools({ tools }, glm), 'UNSUPPORTED', /takes tools, but writes calls in a format emberlm does not parse/); // GLM's XML
    const qwen35 = template('Qwen3.5-4B');
    expect(planTools({ tools, tool_choice: named }, qwen35)!.prefix).toBe('<tool_call>\n<function=get_time>\n');
    expect(planTools({ tools, tool_choice: 'required' }, qwen35)!.prefix).toBe('<tool_call>\n<function=');
    await expectEmberError(() => planTools({ tools: [{ ...tools[0] as object, function: { name: 'f', strict: true } }] }, qwen35), 'UNSUPPORTED', /strict tools in the XML calls/);
    expect(planTools({ tools, tool_choice: named }, template('LFM2.5-Instruct'))!.prefix).toBe('<|tool_call_start|>[get_time(');
    await expectEmberError(() => planTools({ tools: [{ ...tools[0] as object, function: { name: 'f', strict: true } }] }, template('LFM2.5-Instruct')), 'UNSUPPORTED', /strict tools in LFM2/);
    await expectEmberError(() => planTools({ tools }, '{{ messages[0].content }}'), 'UNSUPPORTED', /takes no tools/);
  });

  it('messages: tool_calls only on assistant messages, arguments a JSON object', async () => {
    const call = (args: unknown) => [{ role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: args } }] }];
    expect(checkMessages(call('{"x": 1}'))[0]).toMatchObject({ content: '', tool_calls: [{ function: { arguments: { x: 1 } } }] });
    expect(checkMessages(call(''))[0].tool_calls![0].function.arguments).toEqual({});
    await expectEmberError(() => checkMessages(call('{x')), 'BAD_ARGUMENT', /messages\[0\]\.tool_calls\[0\]\.function\.arguments is not JSON/);
    await expectEmberError(() => checkMessages(call('[1]')), 'BAD_ARGUMENT', /must be a JSON object/);
    await expectEmberError(() => checkMessages([{ role: 'user', content: 'x', tool_calls: [] }]), 'BAD_ARGUMENT', /only an assistant message/);
  });

  it("a format's tokens that decode as text are not markers (Qwen2's <tool_call>)", async () => {
    const qwen2 = tokenizerFromGGUF(await openShared('vocab/ggml-vocab-qwen2.gguf'));
    expect(qwen2.decode(qwen2.encode('<tool_call>', { addBos: false, parseSpecial: true }))).toBe('<tool_call>'); // text, not control
    expect(markerIds(qwen2, 'hermes').size).toBe(0);
  });
});

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const out: ChatCompletionChunk[] = [];
  for await (const c of stream) out.push(c);
  return out;
}

describe('tool calls through an engine (bigram models on the real kernels)', () => {
  const ask = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
  const tools = [oracle.tools[0]] as never;
  const GREEDY = { temperature: 0 } as const;
  const CALL = '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n';
  // Qwen2.5's template; the reply: "Checking." then the same call again and again.
  const hermes = bigramModel(
    [{ text: '<|im_start|>', type: 'control' }, { text: '<|im_end|>', type: 'control' }, { text: '<tool_call>', type: 'user' },
      { text: '</tool_call>', type: 'user' }, { text: CALL, type: 'user' }, { text: 'Checking.', type: 'user' }],
    ['<0x0A>', 'Checking.', '<tool_call>', CALL, '</tool_call>', '<tool_call>'],
    template('Qwen-Qwen2.5-7B-Instruct'),
  );
  const mistral = mistralToolModel();
  const LIST = mistral.list;
  // LFM2.5's template; the reply: <|tool_call_start|> (a control token), a Python-style call as one token, its end, EOS.
  const PY_CALL = '[get_weather(city="Paris")]';
  const lfm2 = bigramModel(
    ['<|im_start|>', '<|im_end|>', '<|tool_call_start|>', '<|tool_call_end|>'].map((text): BigramToken => ({ text, type: 'control' }))
      .concat([{ text: PY_CALL, type: 'user' }]),
    ['<0x0A>', '<|tool_call_start|>', PY_CALL, '<|tool_call_end|>', '</s>'],
    template('LFM2.5-Instruct'),
  );
  let engines: Engine[] = [];
  beforeAll(async () => {
    const gpu = await testGpu();
    engines = await Promise.all([hermes, mistral, lfm2].map((m) => Engine.load(m.bytes.slice(), { gpu, contextLength: 2048 })));
  });
  afterAll(() => engines.forEach((e) => e.dispose()));
  const weather = { name: 'get_weather', arguments: '{"city":"Paris"}' };

  it('hermes: content before the call, then the call; parallel_tool_calls false ends the reply after one', async () => {
    const chat = createChat(engines[0]);
    const r = await chat.completions.create({ messages: ask, tools, parallel_tool_calls: false, ...GREEDY });
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    expect(r.choices[0].message.content).toBe('Checking.');
    expect(r.choices[0].message.tool_calls).toHaveLength(1);
    expect(r.choices[0].message.tool_calls![0]).toMatchObject({ type: 'function', function: weather });
    expect(r.choices[0].message.tool_calls![0].id).toMatch(/^[a-zA-Z0-9]{9}$/);
    expect(r.usage.completion_tokens).toBe(4); // Checking. <tool_call> CALL </tool_call>

    const chunks = await collect(await chat.completions.create({ messages: ask, tools, parallel_tool_calls: false, stream: true, ...GREEDY }));
    const deltas = chunks.map((c) => c.choices[0].delta);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('Checking.');
    const calls = deltas.flatMap((d) => d.tool_calls ?? []);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ index: 0, type: 'function', function: weather });
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('tool_calls');

    // Until max_tokens, with parallel calls: two whole calls, then the opening of a third, which stays text.
    const long = await chat.completions.create({ messages: ask, tools, max_tokens: 8, ...GREEDY });
    expect(long.choices[0].finish_reason).toBe('length');
    expect(long.choices[0].message.tool_calls!.map((c) => c.function)).toEqual([weather, weather]);
    expect(long.choices[0].message.content).toBe('Checking.<tool_call>');
  });

  it('hermes: the prompt is the template with the tools, a forced call starts the reply, the results go back', async () => {
    const engine = engines[0];
    const chat = createChat(engine);
    const tok = engine.tokenizer;
    const rendered = renderChatTemplate(template('Qwen-Qwen2.5-7B-Instruct'), ask, { bosToken: '<s>', eosToken: '</s>' }, { tools });
    const promptIds = tok.encode(rendered, { addBos: true, parseSpecial: true });
    const plain = await chat.completions.create({ messages: ask, tools, max_tokens: 1, ...GREEDY });
    expect(plain.usage.prompt_tokens).toBe(promptIds.length);
    expect(engine.model.kv.ids.slice(0, promptIds.length)).toEqual(promptIds);

    const forced = await chat.completions.create({ messages: ask, tools, max_tokens: 1, tool_choice: { type: 'function', function: { name: 'get_weather' } }, ...GREEDY });
    const opening = tok.encode(`${rendered}<tool_call>\n{"name": "get_weather", "arguments": `, { addBos: true, parseSpecial: true });
    expect(forced.usage.prompt_tokens).toBe(opening.length);
    expect(engine.model.kv.ids.slice(0, opening.length)).toEqual(opening);

    const first = await chat.completions.create({ messages: ask, tools, parallel_tool_calls: false, ...GREEDY });
    const call = first.choices[0].message.tool_calls![0];
    const messages: ChatRequestMessage[] = [...ask, first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }];
    const next = await chat.completions.create({ messages, tools, max_tokens: 1, ...GREEDY });
    const text = renderChatTemplate(template('Qwen-Qwen2.5-7B-Instruct'), checkMessages(messages), { bosToken: '<s>', eosToken: '</s>' }, { tools });
    expect(text).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{"temperature": 21}\n</tool_response>');
    expect(engine.model.kv.ids.slice(0, next.usage.prompt_tokens)).toEqual(tok.encode(text, { addBos: true, parseSpecial: true }));
  });

  it("LFM2: a Python-style call between control tokens; sent back, it is the assistant's text with those tokens", async () => {
    const engine = engines[2];
    const chat = createChat(engine);
    const r = await chat.completions.create({ messages: ask, tools, ...GREEDY });
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ type: 'function', function: weather }] } });
    const call = r.choices[0].message.tool_calls![0];
    const messages: ChatRequestMessage[] = [
      { role: 'user', content: 'Weather in Paris? (not <|tool_call_start|>, which I typed)' }, r.choices[0].message,
      { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' },
    ];
    await chat.completions.create({ messages, tools, max_tokens: 1, ...GREEDY });
    const ids = engine.model.kv.ids;
    const start = lfm2.id('<|tool_call_start|>');
    expect(ids.filter((id) => id === start)).toHaveLength(1); // the user's text stays text
    const at = ids.indexOf(start);
    expect(ids.slice(at, at + 3)).toEqual([start, lfm2.id(PY_CALL), lfm2.id('<|tool_call_end|>')]);
  });

  // The model would call with Paris; the schema allows Rome alone: a grammar (XGrammar's structural tag) must hold the call.
  const strictWeather = {
    type: 'function' as const,
    function: { name: 'get_weather', strict: true, parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Rome'] } }, required: ['city'], additionalProperties: false } },
  };
  const rome = { name: 'get_weather', arguments: '{"city":"Rome"}' };

  it('strict tools: each call is held to its schema, free text before it stays free; required starts with the call', async () => {
    const chat = createChat(engines[0]);
    const r = await chat.completions.create({ messages: ask, tools: [strictWeather], parallel_tool_calls: false, max_tokens: 120, ...GREEDY });
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: 'Checking.', tool_calls: [{ type: 'function', function: rome }] } });
    const forced = await chat.completions.create({ messages: ask, tools: [strictWeather], tool_choice: 'required', parallel_tool_calls: false, max_tokens: 120, ...GREEDY });
    expect(forced.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ function: rome }] } });
  });

  it('strict tools in Mistral\'s format: the grammar reads [TOOL_CALLS], a control token, as its text', async () => {
    const chat = createChat(engines[1]);
    const r = await chat.completions.create({ messages: ask, tools: [strictWeather], max_tokens: 60, ...GREEDY });
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ type: 'function', function: rome }] } });
    expect(r.choices[0].message.tool_calls![0].id).toMatch(/^[a-zA-Z0-9]{9}$/); // the model's own id is not in the grammar's call
  });

  it("mistral: [TOOL_CALLS], a control token that decodes to nothing, opens the call; the model's id is kept", async () => {
    const chat = createChat(engines[1]);
    expect([...markerIds(engines[1].tokenizer, 'mistral')]).toEqual([[mistral.id('[TOOL_CALLS]'), '[TOOL_CALLS]']]);
    const r = await chat.completions.create({ messages: ask, tools, ...GREEDY });
    expect(r.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { content: null, tool_calls: [{ id: 'abcdefghi', type: 'function', function: weather }] } });
    const chunks = await collect(await chat.completions.create({ messages: ask, tools, stream: true, ...GREEDY }));
    expect(chunks.flatMap((c) => c.choices[0].delta.tool_calls ?? [])).toEqual([{ index: 0, id: 'abcdefghi', type: 'function', function: weather }]);
    // Without tools the same reply is text: the control token is not in it.
    const plain = await chat.completions.create({ messages: ask, ...GREEDY });
    expect(plain.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: LIST } });
    // A bad request leaves the engine as it was: the next one runs.
    await expectEmberError(() => chat.completions.create({ messages: ask, tools: [{ type: 'function' }] as never }), 'BAD_ARGUMENT', /tools\[0\]/);
    await expectEmberError(() => chat.completions.create({ messages: ask, tools, response_format: { type: 'json_object' } }), 'UNSUPPORTED', /together with tools/);
    expect((await chat.completions.create({ messages: ask, tools, ...GREEDY })).choices[0].finish_reason).toBe('tool_calls');
  });
});

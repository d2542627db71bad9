/**
 * A llama GGUF whose greedy reply is known in advance: a bigram model. Every layer's weights are zero, so the
 * residual stream stays the token's embedding and the next token depends on the last one only; the embedding of
 * each token in `chain` is a unit vector of its own and the output projection maps it to the token after it.
 * Extra tokens (control or user-defined: `<|im_start|>`, a whole tool call as one token) replace the last
 * entries of a generated SentencePiece vocabulary, so a chat template's text and a reply's pieces tokenize as
 * the test needs. The engine runs it on its real kernels like any model.
 */
import { meta, writeGGUF, type MetaValue } from '../../src/gguf/writer.ts';
import { readFileSync } from 'node:fs';
import { randomModel, TOKEN_TYPE } from '../../models/generate.ts';

export interface BigramToken {
  text: string;
  type: 'control' | 'user';
}

export interface BigramModel {
  bytes: Uint8Array;
  /** Id of each token by its text (the extra tokens, '</s>', and byte tokens as '<0x0A>'). */
  id(text: string): number;
}

/**
 * `chain`: token texts in the order the model writes them, each followed by the next; a token that comes again
 * closes a loop. Texts are the extra tokens', '</s>', or byte tokens' ('<0x0A>').
 */
export function bigramModel(extra: readonly BigramToken[], chain: readonly string[], template: string, contextLength = 2048): BigramModel {
  const nEmbd = 32;
  const m = randomModel({ vocab: 400, nEmbd, nHead: 2, nHeadKv: 2, nFf: 32, nLayer: 1, contextLength, seed: 5 });
  const tokens = [...(m.metadata.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as readonly string[])];
  const types = Int32Array.from(m.metadata.find(([k]) => k === 'tokenizer.ggml.token_type')![1].value as ArrayLike<number>);
  extra.forEach((t, i) => {
    const at = tokens.length - extra.length + i;
    tokens[at] = t.text;
    types[at] = t.type === 'control' ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  });
  const id = (text: string) => {
    const i = tokens.indexOf(text);
    if (i < 0) throw new Error(`bigram model: no token ${JSON.stringify(text)}`);
    return i;
  };
  const dims = new Map<string, number>(); // a dimension for each token of the chain
  for (const text of chain) if (!dims.has(text)) dims.set(text, dims.size);
  if (dims.size > nEmbd) throw new Error(`bigram model: ${dims.size} tokens need more than ${nEmbd} dimensions`);
  const vocab = tokens.length;
  const embd = new Float32Array(nEmbd * vocab);
  const out = new Float32Array(nEmbd * vocab);
  const next = new Map<string, string>();
  for (const [text, d] of dims) embd[id(text) * nEmbd + d] = 1;
  chain.slice(1).forEach((text, i) => {
    const before = chain[i];
    if (next.has(before) && next.get(before) !== text) throw new Error(`bigram model: ${JSON.stringify(before)} is followed by two tokens`);
    next.set(before, text);
    out[id(text) * nEmbd + dims.get(before)!] = 1;
  });
  const tensors = m.tensors.map((t) => {
    const data = t.name === 'token_embd.weight' ? embd : t.name === 'output.weight' ? out
      : t.name.endsWith('norm.weight') ? new Float32Array(t.data.length).fill(1) : new Float32Array(t.data.length);
    return { ...t, type: 'F32' as const, data };
  });
  const metadata: Array<readonly [string, MetaValue]> = m.metadata.map(([k, v]) =>
    k === 'tokenizer.ggml.tokens' ? [k, meta.strs(tokens)] : k === 'tokenizer.ggml.token_type' ? [k, meta.i32s(types)] : [k, v]);
  metadata.push(['tokenizer.chat_template', meta.str(template)]);
  return { bytes: writeGGUF({ metadata, tensors }), id };
}

/** A real model's chat template from test/fixtures/chat_tools. */
export const toolTemplate = (name: string) => readFileSync(new URL(`../fixtures/chat_tools/${name}.jinja`, import.meta.url), 'utf8');

/** The one call the Mistral bigram model makes, as the API returns it. */
export const MISTRAL_CALL = { id: 'abcdefghi', name: 'get_weather', arguments: '{"city":"Paris"}' };

/**
 * Mistral Nemo's template and control tokens; after its prompt the model writes [TOOL_CALLS] (a control token,
 * which decodes to nothing), a list of one call as one token, then EOS.
 */
export function mistralToolModel(): BigramModel & { list: string } {
  const list = '[{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcdefghi"}]';
  const controls = ['[INST]', '[/INST]', '[AVAILABLE_TOOLS]', '[/AVAILABLE_TOOLS]', '[TOOL_CALLS]', '[TOOL_RESULTS]', '[/TOOL_RESULTS]'];
  const extra = controls.map((text): BigramToken => ({ text, type: 'control' })).concat([{ text: list, type: 'user' }]);
  return { ...bigramModel(extra, ['[/INST]', '[TOOL_CALLS]', list, '</s>'], toolTemplate('mistralai-Mistral-Nemo-Instruct-2407')), list };
}

/**
 * Logprobs: each generated token's log-probability and its likeliest alternatives', reported by the sampler's
 * `logprobs` pass, against the log-softmax of transformers' full logits (hf-oracle's first 4 steps of each prompt),
 * with steps ahead or one at a time, and with a constraint's mask; then as chat's OpenAI-style `logprobs`.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { createChat } from '../src/chat/index.ts';
import { expectEmberError } from './helpers/errors.ts';
import { testGpu } from './helpers/gpu.ts';
import { hfOracleFolder, hfOraclePath, sharedModelPath } from './helpers/models.ts';

interface Prompt { prompt: string; generated_ids: number[]; full_logits: number[][] }
const oracle = JSON.parse(readFileSync(hfOraclePath('llama-gqa'), 'utf8')) as { prompts: Prompt[] };

/** log-softmax in float64. */
function logSoftmax(logits: readonly number[]): number[] {
  const m = Math.max(...logits);
  const lse = m + Math.log(logits.reduce((a, v) => a + Math.exp(v - m), 0));
  return logits.map((v) => v - lse);
}

describe('logprobs on llama-gqa against transformers', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(hfOracleFolder('llama-gqa'), { gpu: await testGpu(), contextLength: 256, kvCache: 'f32' });
  });
  afterAll(() => engine?.dispose());

  it("each token's log-probability and its 20 likeliest alternatives equal the log-softmax of transformers' logits", async () => {
    let worst = 0;
    for (const ahead of [1, 3]) {
      engine.tuning.decodeAhead = ahead;
      for (const p of oracle.prompts) {
        const steps = p.full_logits.length;
        const r = await engine.complete(p.prompt, { temperature: 0, maxTokens: steps, logprobs: 20 });
        expect(r.ids).toEqual(p.generated_ids.slice(0, steps));
        expect(r.logprobs).toHaveLength(steps);
        for (let k = 0; k < steps; k++) {
          const want = logSoftmax(p.full_logits[k]);
          const order = [...want.keys()].sort((a, b) => want[b] - want[a]);
          const got = r.logprobs![k];
          expect(got.top.map((t) => t.id), `${p.prompt} step ${k}`).toEqual(order.slice(0, 20));
          for (const t of got.top) worst = Math.max(worst, Math.abs(t.logprob - want[t.id]));
          worst = Math.max(worst, Math.abs(got.logprob - want[r.ids[k]]));
        }
      }
    }
    console.log(`[logprobs] llama-gqa: max |dlogprob| ${worst.toExponential(2)} over 4 prompts x 4 steps x 21`);
    expect(worst).toBeLessThan(5e-4); // hf-oracle's README: 2e-4 on logits; the log-sum-exp adds as much
  });

  it('streamed tokens carry them; a constraint leaves the ruled-out tokens out; 21 alternatives are refused', async () => {
    const p = oracle.prompts[0];
    const streamed = [];
    for await (const t of engine.generate(p.prompt, { temperature: 0, maxTokens: 3, logprobs: 2 })) streamed.push(t);
    expect(streamed.map((t) => t.topLogprobs!.length)).toEqual([2, 2, 2]);
    expect(streamed.every((t) => t.logprob === t.topLogprobs![0].logprob)).toBe(true); // greedy: the likeliest
    const rows = engine.config.vocab;
    const only = [5, 9];
    const mask = new Uint32Array(Math.ceil(rows / 32));
    for (const id of only) mask[id >>> 5] |= 1 << (id & 31);
    const r = await engine.complete(p.prompt, { temperature: 0, maxTokens: 2, logprobs: 20, constraint: { allowed: async () => mask, accept: () => {} } });
    for (const lp of r.logprobs!) expect(lp.top.map((t) => t.id).sort()).toEqual(only);
    expect(Math.exp(r.logprobs![0].top[0].logprob) + Math.exp(r.logprobs![0].top[1].logprob)).toBeCloseTo(1, 5); // renormalized
    await expectEmberError(() => engine.complete('x', { logprobs: 21 }), 'BAD_ARGUMENT', /logprobs must be an integer in 0\.\.20/);
    expect((await engine.complete(p.prompt, { temperature: 0, maxTokens: 2 })).logprobs).toBeUndefined();
  });
});

describe("chat's logprobs on stories260K", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(sharedModelPath('stories260K/stories260K.gguf'), { gpu: await testGpu(), contextLength: 256 });
  });
  afterAll(() => engine?.dispose());

  it("OpenAI's shape: every reply token's text, bytes, log-probability and alternatives, whole and streamed", async () => {
    const chat = createChat(engine);
    const request = { messages: [{ role: 'user' as const, content: 'Once upon a time' }], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 };
    const r = await chat.completions.create(request);
    const content = r.choices[0].logprobs!.content;
    expect(content).toHaveLength(8);
    expect(content.map((e) => e.token).join('')).toBe(r.choices[0].message.content);
    for (const e of content) {
      expect(e.top_logprobs).toHaveLength(3);
      expect(e.top_logprobs[0]).toEqual({ token: e.token, logprob: e.logprob, bytes: e.bytes }); // greedy: the likeliest
      expect(e.top_logprobs[1].logprob).toBeLessThanOrEqual(e.logprob);
      expect(new TextDecoder().decode(Uint8Array.from(e.bytes))).toBe(e.token);
    }
    const streamed = [];
    for await (const c of await chat.completions.create({ ...request, stream: true })) streamed.push(...(c.choices[0].logprobs?.content ?? []));
    expect(streamed).toEqual(content);
    expect((await chat.completions.create({ ...request, logprobs: undefined, top_logprobs: undefined })).choices[0].logprobs).toBeUndefined();
    await expectEmberError(() => chat.completions.create({ ...request, logprobs: undefined }), 'BAD_ARGUMENT', /top_logprobs needs logprobs: true/);
    await expectEmberError(() => chat.completions.create({ ...request, top_logprobs: 21 }), 'BAD_ARGUMENT', /top_logprobs must be an integer in 0\.\.20/);
  });
});

/**
 * The hf-oracle folders converted to GGUF by our writer (models/hf_to_gguf.ts: llama.cpp's tensor names
 * and metadata keys) run to transformers' prompt ids, 32 greedy ids and logits, and keep the chat
 * template, as the folders themselves do (test/hf_oracle.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../src/engine.ts';
import { forward, readLogits } from '../src/model/model.ts';
import { readGGUF, readTensorBytes } from '../src/gguf/reader.ts';
import { toF32 } from '../src/gguf/convert.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { configFromGGUF } from '../src/model/config.ts';
import { chatPromptIds } from '../src/chat/template.ts';
import { hfToGGUF, permuteQK, withMupFolded } from '../models/hf_to_gguf.ts';
import { hfOracleFolder, hfOraclePath } from './helpers/models.ts';
import { testGpu } from './helpers/gpu.ts';
import { expectEmberError } from './helpers/errors.ts';

interface OraclePrompt { prompt: string; prompt_ids: number[]; generated_ids: number[]; steps: { top_ids: number[]; top_logits: number[] }[] }
interface HFOracle { prompts: OraclePrompt[]; chat?: { messages: { role: string; content: string }[]; ids: number[] } }

const GREEDY = { temperature: 0, topK: 0, topP: 1 };
const MODELS = [
  { name: 'llama-gqa', arch: 'llama' }, { name: 'llama3-rope', arch: 'llama' }, { name: 'mistral-swa', arch: 'llama' },
  { name: 'qwen2', arch: 'qwen2' }, { name: 'qwen3', arch: 'qwen3' }, { name: 'qwen3-fp8', arch: 'qwen3' },
  { name: 'gemma2', arch: 'gemma2' }, { name: 'gemma3', arch: 'gemma3' }, { name: 'phi3', arch: 'phi3' }, { name: 'phi3-longrope', arch: 'phi3' },
  { name: 'llama-smollm2-bf16', arch: 'llama' }, { name: 'smollm3', arch: 'smollm3' }, { name: 'ernie4_5', arch: 'ernie4_5' },
  { name: 'qwen3-yarn', arch: 'qwen3' }, { name: 'granite', arch: 'granite' },
  { name: 'olmo2', arch: 'olmo2' }, { name: 'olmo3', arch: 'olmo2' }, { name: 'lfm2', arch: 'lfm2' },
  { name: 'granite4', arch: 'granite' }, { name: 'granite4h', arch: 'granitehybrid' }, { name: 'falcon_h1', arch: 'falcon-h1' }, { name: 'ministral3', arch: 'mistral3' },
  { name: 'qwen3_5', arch: 'qwen35' }, { name: 'qwen3_moe', arch: 'qwen3moe' },
];
/** As test/hf_oracle.test.ts's: 1e-3 for gemma2 and for qwen3_5 (whose oracle is itself 6.6e-4 from float64), else 2e-4. */
const TOLERANCE: Record<string, number> = { gemma2: 1e-3, qwen3_5: 1e-3 };

it('permuteQK turns half-split rows into adjacent pairs, per head', () => {
  // 2 heads of 4 rows, 1 column: rows (0 1 2 3)(4 5 6 7) -> (0 2 1 3)(4 6 5 7)
  expect(Array.from(permuteQK(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 8, 1, 2))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
});

describe.each(MODELS)('$name as GGUF', ({ name, arch }) => {
  const oracle = JSON.parse(readFileSync(hfOraclePath(name), 'utf8')) as HFOracle;
  let engine: Engine;
  let bytes: Uint8Array;
  beforeAll(async () => {
    bytes = await hfToGGUF(hfOracleFolder(name));
    engine = await Engine.load(bytes, { gpu: await testGpu('f16'), contextLength: 128, maxBatch: 16, kvCache: 'f32' }); // transformers' logits: an f32 K/V cache
  });
  afterAll(() => engine?.dispose());

  it('has llama.cpp\'s architecture and the folder\'s forward-pass config', async () => {
    const hf = await Engine.load(hfOracleFolder(name), { gpu: await testGpu('f16'), contextLength: 16 });
    try {
      const f = await readGGUF(sourceFromBuffer(bytes));
      expect(f.metadata.get('general.architecture')).toBe(arch);
      // names differ; llama rotates adjacent pairs after the permutation; f32 metadata rounds eps and the scales
      const { name: _a, arch: _b, ropeNeox: _c, ropeScaling: r1, attnScale: s1, eps: e1, embedScale: m1, residualScale: q1, logitScale: l1, attnTemperature: t1, ropeBase: b1, ...ours } = configFromGGUF(f);
      const { name: _d, arch: _e, ropeNeox: _f, ropeScaling: r2, attnScale: s2, eps: e2, embedScale: m2, residualScale: q2, logitScale: l2, attnTemperature: t2, ropeBase: b2, ...theirs } = withMupFolded(hf.config); // (Falcon-H1's GGUF: its muP multipliers in the weights, its LM head apart)
      // (Qwen3.5's GGUF: the value heads in llama.cpp's tiled order wherever a key head serves several)
      const delta = theirs.delta && { ...theirs.delta, vTiled: theirs.delta.nVHead !== theirs.delta.nKHead };
      expect(ours).toEqual({ ...theirs, delta });
      for (const [a, b] of [[s1, s2], [m1, m2], [q1, q2], [l1, l2], [t1?.beta ?? 0, t2?.beta ?? 0]]) expect(a).toBeCloseTo(b, 6);
      expect(t1?.floor).toBe(t2?.floor);
      expect(e1).toBe(Math.fround(e2));
      expect(b1).toBe(Math.fround(b2)); // (Falcon-H1's 1e11 is 99999997952 in f32, for llama.cpp too)
      expect(r1.type === r2.type || (r2.type === 'llama3' && r1.type === 'none')).toBe(true); // llama3: rope_freqs.weight
      if (r2.type === 'yarn') {
        expect(r1).toMatchObject({ factor: r2.factor, originalContext: r2.originalContext, betaFast: 32, betaSlow: 1, truncate: true });
        expect(r1.attnFactor).toBeCloseTo(r2.attnFactor!, 6);
      }
    } finally {
      hf.dispose();
    }
  });

  it('prompt ids, greedy ids and top logits equal transformers\'', async () => {
    let worst = 0;
    for (const p of oracle.prompts) {
      const ids = engine.tokenize(p.prompt);
      expect(ids, p.prompt).toEqual(p.prompt_ids);
      let next = 0;
      for (let i = 0; i < ids.length; i += 16) next = await forward(engine.model, ids.slice(i, i + 16), i, GREEDY, 0);
      const got: number[] = [];
      for (let k = 0; k < p.generated_ids.length; k++) {
        const logits = await readLogits(engine.model);
        p.steps[k].top_ids.forEach((id, i) => (worst = Math.max(worst, Math.abs(logits[id] - p.steps[k].top_logits[i]))));
        got.push(next);
        if (k + 1 < p.generated_ids.length) next = await forward(engine.model, [p.generated_ids[k]], ids.length + k, GREEDY, 0);
      }
      expect(got, p.prompt).toEqual(p.generated_ids);
    }
    console.log(`[gguf from hf] ${name}: max |dlogit| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE[name] ?? 2e-4);
  });

  it('keeps the chat template and its control tokens', () => {
    expect(engine.chatTemplate).not.toBeNull();
    if (oracle.chat) expect(chatPromptIds(engine.tokenizer, engine.chatTemplate, oracle.chat.messages as never)).toEqual(oracle.chat.ids);
  });
});

/**
 * llama.cpp's own conversions of the qwen3_5 and qwen3_moe folders (test/fixtures/<name>/README.md: BF16; qwen3_5
 * --no-mtp). It wrote its matrices BF16 (the folder's type) and its norms and vectors F32; ours are all F32 (BF16 widened
 * exactly, as for every family here), so each tensor's bytes are compared with llama.cpp's values widened to F32: equal
 * bit for bit, Qwen3.5's value heads' tiled order, A = -exp(A_log) and the (1 + w) norms, Qwen3-MoE's stacked experts
 * included.
 */
it.each([['qwen3_5', 'qwen35'], ['qwen3_moe', 'qwen3moe']])('writes the %s folder as llama.cpp\'s converter does: every tensor\'s name, shape and values, and the %s.* keys', async (name, arch) => {
  const ours = await readGGUF(sourceFromBuffer(await hfToGGUF(hfOracleFolder(name)), 'ours'));
  const theirs = await readGGUF(sourceFromBuffer(new Uint8Array(readFileSync(resolve(import.meta.dirname, `fixtures/${name}/${name}.llama-cpp.gguf`))), 'llama.cpp'));
  expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
  const differ: string[] = [];
  for (const [name, t] of theirs.tensors) {
    const o = ours.tensors.get(name)!;
    expect(o.ne, name).toEqual(t.ne);
    expect(o.type, name).toBe('F32');
    expect(['F32', 'BF16'], name).toContain(t.type);
    const want = toF32(t, await readTensorBytes(theirs, t));
    if (!Buffer.from(await readTensorBytes(ours, o)).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))) differ.push(name);
  }
  expect(differ).toEqual([]);
  // the forward pass's keys: llama.cpp's, and the vocab_size ours writes for every architecture (and the rotated dims,
  // which llama.cpp's qwen3moe leaves to their default, the head's)
  const keys = (f: typeof ours) => [...f.metadata.keys()].filter((k) => k.startsWith(`${arch}.`)).sort();
  const rot = `${arch}.rope.dimension_count`;
  if (!theirs.metadata.has(rot)) expect(ours.metadata.get(rot)).toBe(theirs.metadata.get(`${arch}.attention.key_length`));
  expect(keys(ours)).toEqual([...new Set([...keys(theirs), `${arch}.vocab_size`, rot])].sort());
  for (const k of keys(theirs)) expect(ours.metadata.get(k), k).toEqual(theirs.metadata.get(k));
  expect(ours.metadata.get(`${arch}.vocab_size`)).toBe(theirs.tensors.get('token_embd.weight')!.ne[1]);
});

/** An oracle folder with its config.json patched, in a temp folder (its other files linked). */
async function withConfig(name: string, patch: (c: Record<string, unknown>) => Record<string, unknown>, use: (dir: string) => Promise<void>): Promise<void> {
  const src = hfOracleFolder(name);
  const dir = mkdtempSync(join(tmpdir(), `emberlm-${name}-patched-`));
  try {
    for (const f of readdirSync(src)) if (f !== 'config.json') symlinkSync(join(src, f), join(dir, f));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(patch(JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>)));
    await use(dir);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

it('refuses a smollm3 whose NoPE layers are not every 4th: GGUF has no key for them (llama.cpp fixes the step at 4)', async () => {
  await withConfig('smollm3', (c) => ({ ...c, no_rope_layers: [1, 0, 1, 0] }), async (dir) => {
    await expectEmberError(() => hfToGGUF(dir), 'UNSUPPORTED', /no_rope_layers other than every 4th layer cannot be written to GGUF/);
  });
});

it('refuses YaRN whose ramp llama.cpp cannot read (betas other than 32 and 1, or not truncated), and writes an attention factor it can', async () => {
  const yarn = (extra: Record<string, unknown>) => (c: Record<string, unknown>) => ({ ...c, rope_parameters: { ...(c.rope_parameters as object), ...extra } });
  await withConfig('qwen3-yarn', yarn({ beta_fast: 16 }), async (dir) => {
    await expectEmberError(() => hfToGGUF(dir), 'UNSUPPORTED', /YaRN with beta_fast 16, beta_slow 1, truncate true: llama\.cpp reads only 32, 1 and true/);
  });
  await withConfig('qwen3-yarn', yarn({ truncate: false }), async (dir) => {
    await expectEmberError(() => hfToGGUF(dir), 'UNSUPPORTED', /truncate false/);
  });
  await withConfig('qwen3-yarn', yarn({ attention_factor: 0.75 }), async (dir) => {
    const f = await readGGUF(sourceFromBuffer(await hfToGGUF(dir)));
    expect(f.metadata.get('qwen3.rope.scaling.attn_factor')).toBeCloseTo(0.75 / (1 + 0.1 * Math.log(4)), 6);
    expect(configFromGGUF(f).ropeScaling.attnFactor).toBeCloseTo(0.75, 6);
  });
});

it('runs as the command models/README.md gives (npx tsx models/hf_to_gguf.ts <folder> <out.gguf>), writing what hfToGGUF returns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-hf-to-gguf-cli-'));
  try {
    const out = join(dir, 'ernie4_5.gguf');
    const run = spawnSync('npx', ['tsx', 'models/hf_to_gguf.ts', hfOracleFolder('ernie4_5'), out], { encoding: 'utf8', timeout: 120_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(await hfToGGUF(hfOracleFolder('ernie4_5')));
    const missing = spawnSync('npx', ['tsx', 'models/hf_to_gguf.ts', join(dir, 'nothing'), out], { encoding: 'utf8', timeout: 120_000 });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nothing\/config\.json: file is missing/);
  } finally {
    rmSync(dir, { recursive: true });
  }
}, 300_000);

/**
 * The random-model generator: deterministic bytes, a valid llama GGUF with llama.cpp's tensor
 * names and shapes, an SPM vocabulary whose pieces SPM merges can reach, and the CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateModel, parseArgs, randomModel, spmVocab, TOKEN_TYPE, type GenerateOptions } from '../models/generate.ts';
import { toF32 } from '../src/gguf/convert.ts';
import { readGGUF, readTensorBytes, type GGUFFile } from '../src/gguf/reader.ts';
import { sourceFromBuffer } from '../src/gguf/source.ts';
import { expectEmberError } from './helpers/errors.ts';
import { REPO_ROOT } from './helpers/models.ts';

const read = (b: Uint8Array) => readGGUF(sourceFromBuffer(b, 'generated.gguf'));
const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;

describe('generateModel', () => {
  it('the same options give byte-identical files; another seed or type does not', () => {
    for (const type of ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'] as const) {
      const a = generateModel({ type, seed: 5 });
      expect(same(a, generateModel({ type, seed: 5 })), type).toBe(true);
      expect(same(a, generateModel({ type, seed: 6 })), type).toBe(false);
    }
    expect(same(generateModel({ type: 'F32' }), generateModel({ type: 'F16' }))).toBe(false);
  });

  it('writes llama hyperparameters and tokenizer metadata', async () => {
    const f = await read(generateModel({ nEmbd: 64, nLayer: 3, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 128 }));
    const m = Object.fromEntries(f.metadata);
    expect(m).toMatchObject({
      'general.architecture': 'llama', 'general.file_type': 0,
      'llama.context_length': 128, 'llama.embedding_length': 64, 'llama.feed_forward_length': 96, 'llama.block_count': 3,
      'llama.attention.head_count': 4, 'llama.attention.head_count_kv': 2, 'llama.rope.dimension_count': 16,
      'llama.attention.layer_norm_rms_epsilon': Math.fround(1e-5), 'llama.rope.freq_base': 10000, 'llama.vocab_size': 300,
      'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.bos_token_id': 1, 'tokenizer.ggml.eos_token_id': 2,
      'tokenizer.ggml.unknown_token_id': 0, 'tokenizer.ggml.add_bos_token': true, 'tokenizer.ggml.add_eos_token': false,
    });
    expect((m['tokenizer.ggml.tokens'] as string[]).length).toBe(300);
    expect((m['tokenizer.ggml.scores'] as Float32Array).length).toBe(300);
    expect((m['tokenizer.ggml.token_type'] as Int32Array).length).toBe(300);
  });

  it("names and shapes tensors as llama.cpp does (ggml order, [in, out])", async () => {
    const D = 64, L = 2, H = 4, KV = 2, F = 96, V = 300, hd = D / H;
    const f = await read(generateModel({ nEmbd: D, nLayer: L, nHead: H, nHeadKv: KV, nFf: F, vocab: V }));
    const want: Record<string, number[]> = { 'token_embd.weight': [D, V], 'output_norm.weight': [D], 'output.weight': [D, V] };
    for (let l = 0; l < L; l++) {
      Object.assign(want, {
        [`blk.${l}.attn_norm.weight`]: [D], [`blk.${l}.attn_q.weight`]: [D, H * hd], [`blk.${l}.attn_k.weight`]: [D, KV * hd],
        [`blk.${l}.attn_v.weight`]: [D, KV * hd], [`blk.${l}.attn_output.weight`]: [H * hd, D], [`blk.${l}.ffn_norm.weight`]: [D],
        [`blk.${l}.ffn_gate.weight`]: [D, F], [`blk.${l}.ffn_up.weight`]: [D, F], [`blk.${l}.ffn_down.weight`]: [F, D],
      });
    }
    expect(Object.fromEntries([...f.tensors].map(([n, t]) => [n, t.ne]))).toEqual(want);
    const tied = await read(generateModel({ tied: true }));
    expect(tied.tensors.has('output.weight')).toBe(false);
    expect(tied.tensors.size).toBe(f.tensors.size - 1);
  });

  it.each([
    ['F16', 1, { 'token_embd.weight': 'F16', 'blk.0.ffn_down.weight': 'F16', 'blk.0.attn_norm.weight': 'F32' }],
    ['BF16', 32, { 'output.weight': 'BF16', 'output_norm.weight': 'F32' }],
    ['Q8_0', 7, { 'blk.0.attn_q.weight': 'Q8_0', 'blk.0.ffn_gate.weight': 'Q8_0', 'blk.0.ffn_down.weight': 'F32', 'blk.0.ffn_norm.weight': 'F32' }],
    ['Q4_0', 2, { 'output.weight': 'Q4_0', 'blk.1.ffn_up.weight': 'Q4_0', 'blk.1.ffn_down.weight': 'F32' }],
  ] as const)('--type %s: weights in that type (rows not a multiple of 32 stay F32), norms F32, file_type %i', async (type, ftype, types) => {
    const f = await read(generateModel({ type, nFf: 72 })); // ffn_down rows are 72 long
    expect(f.metadata.get('general.file_type')).toBe(ftype);
    for (const [n, t] of Object.entries(types)) expect(f.tensors.get(n)?.type, n).toBe(t);
  });

  it('a quantized type with nEmbd and nFf not multiples of 32 leaves every weight F32', async () => {
    const f = await read(generateModel({ type: 'Q4_0', nEmbd: 48, nHead: 4, nFf: 80 }));
    expect(new Set([...f.tensors.values()].map((t) => t.type))).toEqual(new Set(['F32']));
  });

  it('weights are finite, not degenerate, and what randomModel returned (after encoding)', async () => {
    for (const type of ['F32', 'Q8_0'] as const) {
      const opts: GenerateOptions = { type, seed: 9 };
      const model = randomModel(opts);
      const f: GGUFFile = await read(generateModel(opts));
      for (const t of model.tensors) {
        const info = f.tensors.get(t.name)!;
        const x = toF32(info, await readTensorBytes(f, info));
        let sum = 0, sq = 0, maxErr = 0;
        for (let i = 0; i < x.length; i++) {
          if (!Number.isFinite(x[i])) throw new Error(`${t.name}[${i}] = ${x[i]}`);
          sum += x[i]; sq += x[i] * x[i];
          maxErr = Math.max(maxErr, Math.abs(x[i] - t.data[i]));
        }
        const mean = sum / x.length;
        const std = Math.sqrt(sq / x.length - mean * mean);
        if (info.type === 'F32') expect(maxErr, t.name).toBe(0);
        else expect(maxErr, t.name).toBeLessThan(0.02);
        if (t.name.endsWith('norm.weight')) {
          expect(mean, t.name).toBeGreaterThan(0.9);
          expect(mean, t.name).toBeLessThan(1.1);
          expect(std, t.name).toBeGreaterThan(0.05);
        } else {
          expect(Math.abs(mean), t.name).toBeLessThan(0.05);
          expect(std, t.name).toBeGreaterThan(0.02 * 0.8);
          expect(std, t.name).toBeLessThan(0.2 * 1.2);
        }
      }
    }
  });

  it.each<[GenerateOptions, string, RegExp]>([
    [{ nEmbd: 60, nHead: 8 }, 'BAD_ARGUMENT', /nEmbd 60 is not a multiple of nHead 8/],
    [{ nEmbd: 24, nHead: 8 }, 'BAD_ARGUMENT', /head dimension 3 must be even/],
    [{ nHead: 4, nHeadKv: 3 }, 'BAD_ARGUMENT', /nHead 4 is not a multiple of nHeadKv 3/],
    [{ vocab: 100 }, 'BAD_ARGUMENT', /vocab size 100 is too small/],
    [{ nLayer: 0 }, 'BAD_ARGUMENT', /nLayer must be a positive integer, got 0/],
    [{ type: 'Q4_K' as never }, 'BAD_ARGUMENT', /type Q4_K is not one of/],
    [{ arch: 'gpt2' as never }, 'UNSUPPORTED', /architecture gpt2 is not supported \(supported: llama\)/],
  ])('rejects %o', async (opts, code, msg) => {
    await expectEmberError(() => generateModel(opts), code as 'BAD_ARGUMENT', msg);
  });
});

describe('spmVocab', () => {
  it('<unk>, <s>, </s>, 256 byte tokens, then unique pieces with falling scores', () => {
    const v = spmVocab(2000);
    expect(v.tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect([...v.types.slice(0, 3)]).toEqual([TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL]);
    for (let i = 0; i < 256; i++) {
      expect(v.tokens[3 + i]).toBe(`<0x${i.toString(16).toUpperCase().padStart(2, '0')}>`);
      expect(v.types[3 + i]).toBe(TOKEN_TYPE.BYTE);
    }
    expect(new Set(v.tokens).size).toBe(2000);
    expect(v.tokens.slice(259, 262)).toEqual(['▁', 'e', 't']);
    expect(v.tokens).toContain('▁the');
    for (const c of 'abcdefghijklmnopqrstuvwxyz') expect(v.tokens).toContain(c);
    for (let i = 259; i < 2000; i++) {
      expect(v.types[i]).toBe(TOKEN_TYPE.NORMAL);
      if (i > 259) expect(v.scores[i]).toBeLessThan(v.scores[i - 1]);
    }
  });

  it('every multi-character piece is two earlier pieces joined, so SPM merges can reach it', () => {
    const v = spmVocab(3000);
    const seen = new Set<string>();
    for (const p of v.tokens.slice(259)) {
      const chars = [...p];
      if (chars.length > 1) {
        const ok = chars.some((_, k) => k > 0 && seen.has(chars.slice(0, k).join('')) && seen.has(chars.slice(k).join('')));
        expect(ok, p).toBe(true);
      }
      seen.add(p);
    }
  });
});

describe('CLI', () => {
  it('parseArgs maps flags to options', () => {
    expect(parseArgs(['--arch', 'llama', '--out', 'x.gguf', '--n-embd', '32', '--n-layer', '1', '--n-head', '2', '--n-head-kv', '1',
      '--n-ff', '64', '--vocab', '260', '--ctx', '64', '--type', 'Q4_0', '--seed', '42', '--tied'])).toEqual({
      out: 'x.gguf',
      opts: { arch: 'llama', nEmbd: 32, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 64, vocab: 260, contextLength: 64, type: 'Q4_0', seed: 42, tied: true },
    });
  });

  it.each<[string[], RegExp]>([
    [['--n-embd', '64'], /--out is required/],
    [['--out', 'x', '--bogus'], /unknown argument --bogus/],
    [['--out', 'x', '--seed', 'abc'], /--seed abc is not an integer/],
    [['--out'], /--out needs a value/],
  ])('parseArgs rejects %j', async (argv, msg) => {
    await expectEmberError(() => parseArgs(argv), 'BAD_ARGUMENT', msg);
  });

  it('npx tsx models/generate.ts writes the same bytes as generateModel', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-gen-'));
    try {
      const out = join(dir, 'm.gguf');
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'models/generate.ts', '--arch', 'llama', '--out', out, '--n-embd', '32',
        '--n-layer', '1', '--n-head', '2', '--n-head-kv', '1', '--n-ff', '64', '--type', 'Q8_0', '--seed', '3'], { cwd: REPO_ROOT, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/wrote .*m\.gguf/);
      const want = generateModel({ nEmbd: 32, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 64, type: 'Q8_0', seed: 3 });
      expect(same(new Uint8Array(readFileSync(out)), want)).toBe(true);
      const bad = spawnSync(process.execPath, ['--import', 'tsx', 'models/generate.ts', '--out', out, '--n-head', '5'], { cwd: REPO_ROOT, encoding: 'utf8' });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/\[BAD_ARGUMENT\] generate: nEmbd 64 is not a multiple of nHead 5/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

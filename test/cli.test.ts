/** The CLI as a user runs it: `npx emberlm ...` → bin/emberlm.js → dist/cli.js (built by vite). */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { embeddingFolder, embeddingGemmaFolder, hfOracleFolder, REPO_ROOT, sharedModelPath } from './helpers/models.ts';
import { readOracle } from './helpers/oracle.ts';
import { standardHub } from './helpers/mock_hub.ts';
import { SYNTHETIC_MODELS } from '../src/bench/synthetic.ts';

const BIN = join(REPO_ROOT, 'bin/emberlm.js');
function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `emberlm generate <args> --json`'s generated ids; the command must succeed. */
function generatedIds(args: string[]): number[] {
  const r = cli(['generate', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).ids as number[];
}

/** As `cli`, without blocking this process (which serves the mock Hub). */
function cliAsync(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, XDG_RUNTIME_DIR: '/tmp', ...env } });
  let stdout = '', stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('emberlm CLI', () => {
  beforeAll(() => {
    if (!existsSync(join(REPO_ROOT, 'dist/cli.js'))) execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit' });
  });

  it('generate --json --temperature 0 prints llama.cpp\'s ids', () => {
    const o = readOracle('stories260K.llama-cpp.json').results[2];
    const r = cli(['generate', '--model', sharedModelPath('stories260K/stories260K.gguf'), '--prompt', o.prompt, '--max-tokens', '32', '--temperature', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.prompt_ids).toEqual(o.prompt_token_ids);
    expect(out.ids).toEqual(o.generated_token_ids);
    expect(o.full_text).toBe(o.prompt + out.text.replace(/^ /, ' '));
    expect(out.stats.decode_tok_s).toBeGreaterThan(0);
    expect(out.stats.ttft_ms).toBeGreaterThan(0);
  });

  it('generate --lora merges GGUF LoRA adapters at load, each at its @scale: llama.cpp\'s greedy ids with them', () => {
    const run = (JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures/lora/lora.llama_cpp.json'), 'utf8')) as { runs: { base: string; setting: string; prompt: number[]; ids: number[] }[] })
      .runs.find((x) => x.base === 'F32' && x.setting === 'wide@0.5+keys@1.5')!;
    const lora = ['wide@0.5', 'keys@1.5'].map((a) => resolve(import.meta.dirname, `fixtures/lora/stories260K-lora-${a.replace('@', '.gguf@')}`)).join(',');
    const r = cli(['generate', '--model', sharedModelPath('stories260K/stories260K.gguf'), '--prompt', 'Once upon a time, there was a little girl named Lily.', '--lora', lora, '--max-tokens', '24', '--temperature', '0', '--kv', 'f32', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.prompt_ids).toEqual(run.prompt);
    expect(out.ids).toEqual(run.ids);
  });

  it('generate takes the sampling options: --logit-bias forces a token, --frequency-penalty changes greedy ids', () => {
    const model = sharedModelPath('stories260K/stories260K.gguf');
    const run = (...extra: string[]) => generatedIds(['--model', model, '--prompt', 'Once upon a time', '--max-tokens', '64', '--temperature', '0', ...extra]);
    expect(run('--logit-bias', '300:100,5:-100')).toEqual(new Array(64).fill(300));
    const plain = run();
    const penalized = run('--frequency-penalty', '2', '--presence-penalty', '2', '--repetition-penalty', '1.5', '--min-p', '0.1');
    expect(penalized).not.toEqual(plain);
    const repeats = (ids: number[]) => ids.length - new Set(ids).size;
    expect(repeats(penalized)).toBeLessThan(repeats(plain));
    const bad = cli(['generate', '--model', model, '--prompt', 'x', '--logit-bias', '5']);
    expect(bad.stderr).toMatch(/--logit-bias expects ID:BIAS pairs/);
  });

  it('generate holds the output to a JSON Schema (--json-schema FILE) and reports logprobs (--logprobs K)', () => {
    const model = sharedModelPath('stories260K/stories260K.gguf');
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-cli-schema-'));
    const schema = join(dir, 'kid.json');
    writeFileSync(schema, JSON.stringify({ type: 'object', properties: { name: { enum: ['Lily', 'Tom'] }, age: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['name', 'age'] }));
    const args = ['generate', '--model', model, '--prompt', 'Once upon a time', '--max-tokens', '40', '--temperature', '0', '--json'];
    const r = cli([...args, '--json-schema', schema, '--logprobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.finish_reason).toBe('stop');
    expect(JSON.parse(out.text)).toMatchObject({ name: expect.stringMatching(/^(Lily|Tom)$/), age: expect.any(Number) });
    expect(out.logprobs).toHaveLength(out.ids.length - 1); // every token but the end of generation, which is not streamed
    // Two alternatives where the grammar allows two or more tokens; where it allows one, that one, certain.
    for (const lp of out.logprobs) expect(lp.top.length === 2 || (lp.top.length === 1 && lp.top[0].logprob === 0)).toBe(true);
    expect(out.logprobs.some((lp: { top: unknown[] }) => lp.top.length === 2)).toBe(true);
    const object = JSON.parse(cli([...args, '--json-object']).stdout);
    expect(object.text).toMatch(/^\{/);
    writeFileSync(schema, '{ not json');
    expect(cli([...args, '--json-schema', schema]).stderr).toMatch(/--json-schema .*kid\.json/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('generate streams text to stdout', () => {
    const r = cli(['generate', '--model', sharedModelPath('stories260K/stories260K.gguf'), '--prompt', 'Once upon a time', '--max-tokens', '8', '--temperature', '0']);
    expect(r.code, r.stderr).toBe(0);
    const full = readOracle('stories260K.llama-cpp.json').results[0].generated_text; // ", there was a little girl named Lily. ..."
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.length).toBeGreaterThan(10);
    expect(full.startsWith(r.stdout.slice(0, -1))).toBe(true);
  });

  it('tokenize --json prints the ids with BOS, --no-bos without', () => {
    const m = sharedModelPath('stories260K/stories260K.gguf');
    expect(JSON.parse(cli(['tokenize', '--model', m, '--text', 'Once upon a time', '--json']).stdout)).toEqual({ ids: [1, 403, 407, 261, 378] });
    expect(JSON.parse(cli(['tokenize', '--model', m, '--text', 'Once upon a time', '--no-bos', '--json']).stdout)).toEqual({ ids: [403, 407, 261, 378] });
  });

  it('tokenize takes a Hugging Face folder; --parse-special matches special tokens written in the text', () => {
    // Expected ids: the `tokenizers` library (transformers' tokenizer) on the same tokenizer.json; without
    // special-token parsing that is `encode_special_tokens = True`.
    const m = sharedModelPath('hf-oracle/llama-gqa');
    const text = '<|im_start|>user hi<|im_end|>';
    const parsed = [1, 512, 318, 419, 285, 270, 417, 513];
    const plain = [1, 410, 504, 506, 288, 98, 356, 295, 413, 506, 505, 425, 419, 285, 270, 417, 504, 506, 288, 98, 367, 506, 505];
    expect(JSON.parse(cli(['tokenize', '--model', m, '--text', text, '--parse-special', '--json']).stdout)).toEqual({ ids: parsed });
    expect(JSON.parse(cli(['tokenize', '--model', m, '--text', text, '--json']).stdout)).toEqual({ ids: plain });
  });

  it('generate --attention wide (decode_wide) prints llama.cpp\'s ids too; a bad value is a typed error', () => {
    const o = readOracle('stories260K.llama-cpp.json').results[2];
    const args = ['generate', '--model', sharedModelPath('stories260K/stories260K.gguf'), '--prompt', o.prompt, '--max-tokens', '32', '--temperature', '0', '--json'];
    const r = cli([...args, '--attention', 'wide']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ids).toEqual(o.generated_token_ids);
    const bad = cli([...args, '--attention', 'wide,default']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] --attention takes one of wide or default here, got "wide,default"/);
  });

  it('embed prints transformers\' embeddings (--json, --file, --dimensions); a missing input is a typed error', () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/qwen3_embedding/qwen3_embedding.transformers.json'), 'utf8')) as { prompts: { text: string; embedding: number[]; hidden: number[] }[] };
    const m = embeddingFolder();
    const near = (e: number[], want: number[]) => e.length === want.length && want.every((v, i) => Math.abs(e[i] - v) < 1e-3); // f16 K/V by default
    const one = cli(['embed', '--model', m, '--text', o.prompts[0].text, '--json']);
    expect(one.code, one.stderr).toBe(0);
    const r = JSON.parse(one.stdout) as { embeddings: number[][]; prompt_tokens: number };
    expect(near(r.embeddings[0], o.prompts[0].embedding)).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-embed-'));
    try {
      writeFileSync(join(dir, 'in.txt'), `${o.prompts[2].text}\n\n${o.prompts[3].text}\n`);
      const lines = cli(['embed', '--model', m, '--file', join(dir, 'in.txt'), '--dimensions', '8', '--no-normalize']);
      expect(lines.code, lines.stderr).toBe(0);
      const rows = lines.stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
      expect(rows).toHaveLength(2);
      expect(near(rows[1], o.prompts[3].hidden.slice(0, 8))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const none = cli(['embed', '--model', m]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] embed takes --text "<text>" \(once or more\) or --file FILE/);
  });

  it('embed --prompt-name puts an EmbeddingGemma-shaped folder\'s prompt in front, and pools as its modules say', () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/embeddinggemma/embeddinggemma.sentence_transformers.json'), 'utf8')) as { prompts: { text: string; embedding: number[] }[] };
    const query = 'task: search result | query: ';
    const r = cli(['embed', '--model', embeddingGemmaFolder(), '--text', o.prompts[1].text.slice(query.length), '--prompt-name', 'query', '--ctx', '64', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [e] = (JSON.parse(r.stdout) as { embeddings: number[][] }).embeddings;
    expect(e.every((v, i) => Math.abs(v - o.prompts[1].embedding[i]) < 1e-3)).toBe(true); // f16 K/V by default
    const bad = cli(['embed', '--model', embeddingGemmaFolder(), '--text', 'x', '--prompt-name', 'passage', '--ctx', '64']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] promptName must be one of the model's prompts \(query, document\), got "passage"$/m);
  });

  it('rerank prints transformers\' scores, one a document (--file) or as JSON; a missing query is a typed error', () => {
    const o = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/qwen3_reranker/qwen3_reranker.transformers.json'), 'utf8')) as { cases: { instruction: string | null; query: string; document: string; score: number }[] };
    const m = hfOracleFolder('llama-smollm2-bf16');
    const cases = o.cases.filter((c) => c.query === o.cases[0].query && c.instruction === null);
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-rerank-'));
    try {
      writeFileSync(join(dir, 'docs.txt'), cases.map((c) => c.document).join('\n') + '\n');
      const r = cli(['rerank', '--model', m, '--query', cases[0].query, '--file', join(dir, 'docs.txt'), '--quant', 'f32']);
      expect(r.code, r.stderr).toBe(0);
      const scores = r.stdout.trim().split('\n').map(Number);
      scores.forEach((s, i) => expect(Math.abs(s - cases[i].score) / cases[i].score).toBeLessThan(1e-2)); // f16 K/V by default
      const c = o.cases.find((x) => x.instruction !== null)!;
      const one = cli(['rerank', '--model', m, '--query', c.query, '--text', c.document, '--instruction', c.instruction!, '--quant', 'f32', '--json']);
      expect(one.code, one.stderr).toBe(0);
      expect(Math.abs((JSON.parse(one.stdout) as { scores: number[] }).scores[0] - c.score) / c.score).toBeLessThan(1e-2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const none = cli(['rerank', '--model', m, '--text', 'x']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] rerank takes --query "<text>"/);
  });

  it('--text given more than once: each a document for rerank (a ModernBERT cross-encoder here), an error where a command takes one', () => {
    const pairs = (JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/modernbert_reranker/modernbert_reranker.cross_encoder.json'), 'utf8')) as { cases: { query: string; document: string; score: number }[] }).cases.slice(0, 3);
    const model = join(REPO_ROOT, 'test/fixtures/modernbert_reranker');
    const r = cli(['rerank', '--model', model, '--query', pairs[0].query, ...pairs.flatMap((p) => ['--text', p.document]), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { scores } = JSON.parse(r.stdout) as { scores: number[] };
    expect(scores).toHaveLength(3);
    scores.forEach((s, i) => expect(Math.abs(s - pairs[i].score), pairs[i].document).toBeLessThan(1e-3)); // (f16 K/V by default)
    const twice = cli(['tokenize', '--model', model, '--text', 'a', '--text', 'b']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] --text is given 2 times; tokenize takes one/);
    const models = cli(['embed', '--model', model, '--model', model, '--text', 'a']);
    expect(models.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] --model is given 2 times; embed takes one/);
  });

  it('bad input exits non-zero with a one-line typed error', () => {
    const r = cli(['generate', '--model', '/nonexistent.gguf', '--prompt', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^emberlm: \[BAD_FILE\] \/nonexistent\.gguf: cannot open/);
    const u = cli(['generate', '--model', sharedModelPath('stories260K/stories260K.gguf'), '--temperature', 'hot']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--temperature expects a number/);
  });

  it('generate runs a Hugging Face folder re-quantized to FP8 (--quant fp8-e4m3)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { writeHFModel } = await import('../models/generate_hf.ts');
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-cli-hf-'));
    try {
      await writeHFModel(dir, { modelType: 'qwen3', dtype: 'BF16', seed: 3 });
      const args = ['generate', '--model', dir, '--prompt', 'once upon', '--max-tokens', '6', '--temperature', '0', '--json'];
      const a = cli([...args, '--quant', 'fp8-e4m3']);
      expect(a.code, a.stderr).toBe(0);
      const out = JSON.parse(a.stdout);
      expect(out.ids).toHaveLength(6);
      expect(out.prompt_ids.length).toBeGreaterThan(1);
      const bad = cli([...args, '--quant', 'fp9']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/quant "fp9"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--model takes a Hub id (EMBERLM_HUB_URL, HF_TOKEN for a gated repo), downloads into EMBERLM_CACHE once; cache lists and clears it', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const hub = await standardHub().start();
    const cacheDir = mkdtempSync(join(tmpdir(), 'emberlm-cli-cache-'));
    const env = { EMBERLM_HUB_URL: hub.url, EMBERLM_CACHE: cacheDir };
    try {
      const o = readOracle('stories260K-Q8_0.llama-cpp.json').results[2];
      const args = ['generate', '--model', 'ember/stories260K-GGUF:Q8_0', '--prompt', o.prompt, '--max-tokens', '32', '--temperature', '0', '--json'];
      for (const run of [1, 2]) {
        const r = await cliAsync(args, env);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout).ids, `run ${run}`).toEqual(o.generated_token_ids);
        expect(hub.fileRequests().length, `run ${run}`).toBe(1); // the second run reads the cache
      }
      hub.gated.set('ember/llama-gqa', 'hf_tok'); // a gated repo: $HF_TOKEN is the token
      const denied = await cliAsync(['tokenize', '--model', 'ember/llama-gqa', '--text', 'x'], env);
      expect(denied.code).toBe(2);
      expect(denied.stderr).toMatch(/^emberlm: \[NETWORK\] .*HTTP 401 \(access denied: .*HF_TOKEN/);
      const t = await cliAsync(['tokenize', '--model', 'ember/llama-gqa', '--text', 'Once upon a time', '--json'], { ...env, HF_TOKEN: 'hf_tok' });
      expect(JSON.parse(t.stdout), t.stderr).toEqual({ ids: [1, 403, 407, 261, 378] });
      hub.gated.clear();
      const list = JSON.parse((await cliAsync(['cache', 'list', '--json'], env)).stdout);
      expect(list.where).toBe(join(cacheDir, 'files'));
      expect(list.entries.map((e: { url: string }) => e.url.slice(hub.url.length))).toContain('/ember/stories260K-GGUF/resolve/main/stories260K-Q8_0.gguf');
      expect((await cliAsync(['cache', 'clear'], env)).stdout).toMatch(new RegExp(`deleted ${list.entries.length} entries`));
      const missing = await cliAsync(['generate', '--model', 'ember/stories260K-GGUF:Q3_K', '--prompt', 'x'], env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^emberlm: \[BAD_ARGUMENT\] ember\/stories260K-GGUF@main: no \.gguf file whose name carries Q3_K/);
    } finally {
      await hub.stop();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('each command takes only its own options and no stray arguments', () => {
    const m = sharedModelPath('stories260K/stories260K.gguf');
    const refused: [string[], RegExp][] = [
      [['generate', '--model', m, '--text', 'hi'], /unknown option --text for generate; it takes --model, --prompt/],
      [['tokenize', '--model', m, '--prompt', 'hi'], /unknown option --prompt for tokenize; it takes --model, --text/],
      [['tokenize', '--model', m, '--text', 'hi', '--quant', 'bogus'], /unknown option --quant for tokenize/],
      [['tokenize', '--model', m, '-n', '3'], /unknown option -n for tokenize/],
      [['tokenize', '--model', m], /--text is required/],
      [['quality', '--model', m, '--temperature', '0'], /unknown option --temperature for quality/],
      [['bench', '--prompt', 'hello'], /unknown option --prompt for bench/],
      [['generate', '--model', m, '--bogus'], /unknown option --bogus for generate/],
      [['generate', '--model', m, 'hi'], /unexpected argument "hi" for generate/],
      [['cache', 'list', 'extra'], /cache takes list, clear or delete <url>/],
      [['generate', '--model', m, '--max-tokens', ''], /--max-tokens expects a number, got ""/],
      [['generate', '--model', m, '--max-tokens', '0x10'], /--max-tokens expects a number, got "0x10"/],
      [['bench', '--model', m, '--repeats', '0x10'], /--repeats expects positive integers, got "0x10"/],
      [['bench', '--embed'], /bench --embed takes --model .* or --synthetic <name>\[:type\]/],
      [['bench', '--embed', '--model', m, '--batch', 'maybe'], /--batch takes on or off, got "maybe"/],
      [['bench', '--embed', '--model', m, '--inputs', '0'], /--inputs expects positive integers, got "0"/],
      [['generate', '--model', m, '--max-tokens'], /\[BAD_ARGUMENT\] Option '-n, --max-tokens <value>' argument missing/],
    ];
    for (const [args, message] of refused) {
      const r = cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^emberlm: \[BAD_ARGUMENT\] /);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('numeric options take negative numbers without "=" (--frequency-penalty -0.5, -n with --seed -1)', () => {
    const m = sharedModelPath('stories260K/stories260K.gguf');
    const run = (...extra: string[]) => generatedIds(['-m', m, '-p', 'Once upon a time', '-n', '16', '--temperature', '0', ...extra]);
    expect(run('--frequency-penalty', '-0.5', '--presence-penalty', '-1', '--seed', '-1')).toEqual(run('--frequency-penalty=-0.5', '--presence-penalty=-1', '--seed=-1'));
  });

  it('bad --cache, --out and --text paths are one-line BAD_ARGUMENTs naming the flag, raised before any work', async () => {
    const { mkdtempSync, rmSync, writeFileSync, existsSync: exists } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const m = sharedModelPath('stories260K/stories260K.gguf');
    const dir = mkdtempSync(join(tmpdir(), 'emberlm-cli-paths-'));
    try {
      const file = join(dir, 'a-file');
      writeFileSync(file, 'x');
      writeFileSync(join(dir, 'bad.json'), '{bad');
      const gen = ['generate', '--model', m, '--prompt', 'x', '--max-tokens', '2'];
      const refused: [string[], RegExp][] = [
        [[...gen, '--cache', file], /--cache .*a-file: cannot create or write to this folder \(EEXIST/],
        [[...gen, '--cache', join(file, 'sub')], /--cache .*a-file\/sub: cannot create or write to this folder \(ENOTDIR/],
        [[...gen, '--cache', ''], /--cache is empty; expected a folder/],
        [['bench', '--model', m, '--out', join(file, 'x.json')], /--out .*a-file\/x\.json: cannot create its folder .*a-file \(EEXIST/],
        [['quality', '--model', m, '--out', dir], /--out .*: cannot write this file \(EISDIR/],
        [['quality', '--model', m, '--text', join(dir, 'bad.json')], /--text .*bad\.json: not valid JSON/],
        [['quality', '--model', m, '--text', dir], /--text .*: is a folder; expected a text or JSON file/],
      ];
      for (const [args, message] of refused) {
        const r = cli(args);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr, args.join(' ')).toMatch(/^emberlm: \[BAD_ARGUMENT\] [^\n]*\n$/);
        expect(r.stderr, args.join(' ')).toMatch(message);
      }
      // --out is opened before the run; a run that fails leaves no empty file behind
      const out = join(dir, 'new', 'report.json');
      expect(cli(['quality', '--model', m, '--text', dir, '--out', out]).code).toBe(2);
      expect(exists(out)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generate stops quietly when its reader goes away (emberlm generate ... | head -c 20)', async () => {
    const args = ['generate', '--model', sharedModelPath('stories260K/stories260K.gguf'), '--prompt', 'Once', '--max-tokens', '2000', '--temperature', '0'];
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.stdout.once('data', () => p.stdout.destroy()); // as head does after its 20 bytes
    const code = await new Promise((resolve) => p.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Unhandled|\n\s+at /);
  });

  it('--help lists the commands, quant schemes and every synthetic bench model', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/generate/);
    expect(r.stdout).toMatch(/int8-g32/);
    for (const name of Object.keys(SYNTHETIC_MODELS)) expect(r.stdout).toContain(name);
  });
});

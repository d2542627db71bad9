/**
 * Paths to the shared model fixtures (../shared/models relative to the repo root, or
 * $EMBERLM_MODELS). A missing fixture is an error, never a skip: tests that need real files must
 * fail loudly when the files are not there.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGGUF, type GGUFFile } from '../../src/gguf/reader.ts';
import { sourceFromBuffer } from '../../src/gguf/source.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED_MODELS = process.env.EMBERLM_MODELS ?? resolve(REPO_ROOT, '../shared/models');

/** Absolute path of a fixture under the shared models folder; throws if it is missing. */
export function sharedModelPath(rel: string): string {
  const p = resolve(SHARED_MODELS, rel);
  if (!existsSync(p)) {
    throw new Error(`shared model fixture ${rel} is missing: expected ${p} (../shared/models relative to the repo root ${REPO_ROOT}, or set EMBERLM_MODELS)`);
  }
  return p;
}

/** The whole fixture file in memory (they are small). */
export function readSharedBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(sharedModelPath(rel)));
}

/** A parsed fixture, read from memory. */
export async function openShared(rel: string): Promise<GGUFFile> {
  return readGGUF(sourceFromBuffer(readSharedBytes(rel), rel));
}

/**
 * An hf-oracle model folder and its transformers oracle JSON: ../shared/models/hf-oracle/<name>, or for the models whose
 * oracle this repository made (test/fixtures/make_hf_oracle.py: smollm3, ernie4_5, qwen3-yarn, granite, granite4, granite4h, granite4h-groups, falcon_h1, olmo2, olmo3, lfm2, ministral3, qwen3_5, qwen3_moe, granitemoe, lfm2_moe, granite4h-moe, olmoe) a folder in the temp directory joining
 * the fixture's config and weights to the shared tokenizer it names (hf-oracle/llama-gqa's, not copied here).
 */
const OWN_ORACLES: Record<string, string> = { smollm3: 'hf-oracle/llama-gqa', ernie4_5: 'hf-oracle/llama-gqa', 'qwen3-yarn': 'hf-oracle/llama-gqa', granite: 'hf-oracle/llama-gqa',
  olmo2: 'hf-oracle/llama-gqa', olmo3: 'hf-oracle/llama-gqa', lfm2: 'hf-oracle/llama-gqa',
  granite4: 'hf-oracle/llama-gqa', granite4h: 'hf-oracle/llama-gqa', 'granite4h-groups': 'hf-oracle/llama-gqa', falcon_h1: 'hf-oracle/llama-gqa', ministral3: 'hf-oracle/llama-gqa',
  qwen3_5: 'hf-oracle/llama-gqa',
  qwen3_moe: 'hf-oracle/llama-gqa',
  granitemoe: 'hf-oracle/llama-gqa',
  lfm2_moe: 'hf-oracle/llama-gqa',
  'granite4h-moe': 'hf-oracle/llama-gqa',
  olmoe: 'hf-oracle/llama-gqa',
  phi2: 'hf-oracle/llama-gqa', stablelm: 'hf-oracle/llama-gqa', gpt_neox: 'hf-oracle/llama-gqa', starcoder2: 'hf-oracle/llama-gqa', gpt2: 'hf-oracle/llama-gqa',
};

export function hfOracleFolder(name: string): string {
  const tokenizerFrom = OWN_ORACLES[name];
  if (!tokenizerFrom) return sharedModelPath(`hf-oracle/${name}`);
  return hfOracleFolderOf(name, tokenizerFrom, ['config.json', 'generation_config.json', 'model.safetensors'], ['tokenizer.json', 'tokenizer_config.json']);
}

/** A folder in the temp directory linking the fixture's `own` files and the shared tokenizer folder's `shared` ones. */
function hfOracleFolderOf(name: string, tokenizerFrom: string, own: string[], shared: string[]): string {
  // One folder per checkout and model, made once and reused (links only; test workers may make it at the same time).
  const checkout = createHash('sha256').update(`${REPO_ROOT}\0${SHARED_MODELS}`).digest('hex').slice(0, 12);
  const dir = resolve(tmpdir(), `emberlm-oracle-${name}-${checkout}`);
  mkdirSync(dir, { recursive: true });
  const link = (target: string, file: string) => {
    try {
      symlinkSync(target, resolve(dir, file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  };
  for (const file of own) link(resolve(REPO_ROOT, 'test/fixtures', name, file), file);
  for (const file of shared) link(sharedModelPath(`${tokenizerFrom}/${file}`), file);
  return dir;
}

/**
 * test/fixtures/qwen3_embedding as a folder (test/fixtures/make_embedding_oracle.py): its config and weights, and
 * hf-oracle/qwen3's tokenizer with the post-processor that script gives it (appending `</s>` to a text, as
 * Qwen3-Embedding's appends its end token), written to the temp directory.
 */
export function embeddingFolder(): string {
  const dir = hfOracleFolderOf('qwen3_embedding', 'hf-oracle/qwen3', ['config.json', 'model.safetensors'], ['tokenizer_config.json']);
  writeTemplateTokenizer(dir, 'hf-oracle/qwen3', [], '</s>');
  return dir;
}

/**
 * test/fixtures/embeddinggemma as a folder (test/fixtures/make_embeddinggemma_oracle.py): its config, weights and
 * sentence-transformers modules, and hf-oracle/gemma3's tokenizer with that script's post-processor (`<s>` before a
 * text, `</s>` after, as EmbeddingGemma's puts its BOS and EOS), written to the temp directory.
 */
export function embeddingGemmaFolder(): string {
  const own = ['config.json', 'model.safetensors', 'modules.json', 'config_sentence_transformers.json', 'sentence_bert_config.json', '1_Pooling', '2_Dense', '3_Dense'];
  const dir = hfOracleFolderOf('embeddinggemma', 'hf-oracle/gemma3', own, ['tokenizer_config.json']);
  writeTemplateTokenizer(dir, 'hf-oracle/gemma3', ['<s>'], '</s>');
  return dir;
}

/** `from`'s tokenizer.json into dir, its post-processor a TemplateProcessing that puts the `before` tokens in front of a text and `end` after it. */
function writeTemplateTokenizer(dir: string, from: string, before: string[], end: string): void {
  const tokenizer = JSON.parse(readFileSync(sharedModelPath(`${from}/tokenizer.json`), 'utf8')) as { added_tokens: { id: number; content: string }[]; post_processor?: unknown };
  const special = (content: string) => ({ id: content, ids: [tokenizer.added_tokens.find((t) => t.content === content)!.id], tokens: [content] });
  const token = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const sequence = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  tokenizer.post_processor = {
    type: 'TemplateProcessing',
    single: [...before.map((b) => token(b, 0)), sequence('A', 0), token(end, 0)],
    pair: [...before.map((b) => token(b, 0)), sequence('A', 0), sequence('B', 1), token(end, 1)],
    special_tokens: Object.fromEntries([...before, end].map((t) => [t, special(t)])),
  };
  // Whole or not at all: test workers and the fuzz workers read this file while others make it (a write in place let a
  // fuzz worker read it empty: a crash in CI), so it goes in under another name and is renamed over, when it differs.
  const path = resolve(dir, 'tokenizer.json');
  const text = JSON.stringify(tokenizer);
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  const part = `${path}.${process.pid}.${threadId}.part`;
  writeFileSync(part, text);
  renameSync(part, path);
}

export function hfOraclePath(name: string): string {
  return OWN_ORACLES[name] ? resolve(REPO_ROOT, 'test/fixtures', name, `${name}.transformers.json`) : sharedModelPath(`hf-oracle/${name}.transformers.json`);
}

/**
 * The CLI's retrieval commands: `embed` (each text's vector) and `rerank` (each document's score against a query), their
 * texts from --text or a --file of one a line.
 */
import { readFile } from 'node:fs/promises';
import type { Engine } from '../engine.ts';
import { EmberError } from '../errors.ts';
import { num, type Flags } from './args.ts';

/** Loads the --model the command names (with its --quant and --ctx). */
export type LoadFor = (flags: Flags) => Promise<Engine>;

export async function embed(flags: Flags, load: LoadFor): Promise<void> {
  const inputs = await texts(flags, 'embed', 'input');
  const opts = { dimensions: num(flags, 'dimensions'), normalize: flags['no-normalize'] === true ? false : undefined, promptName: flags['prompt-name'] as string | undefined, prompt: flags.prompt as string | undefined, truncate: flags.truncate === true };
  await withEngine(flags, load, async (engine) => {
    const r = await engine.embed(inputs, opts);
    if (flags.json) process.stdout.write(JSON.stringify({ embeddings: r.embeddings.map((e) => Array.from(e)), prompt_tokens: r.promptTokens }) + '\n');
    else for (const e of r.embeddings) process.stdout.write(Array.from(e).join(' ') + '\n');
  });
}

export async function rerank(flags: Flags, load: LoadFor): Promise<void> {
  const query = flags.query;
  if (typeof query !== 'string') throw new EmberError('BAD_ARGUMENT', 'rerank takes --query "<text>"');
  const documents = await texts(flags, 'rerank', 'document');
  const instruction = flags.instruction as string | undefined;
  await withEngine(flags, load, async (engine) => {
    const r = await engine.rerank(query, documents, { instruction, truncate: flags.truncate === true });
    if (flags.json) process.stdout.write(JSON.stringify({ scores: r.scores, prompt_tokens: r.promptTokens }) + '\n');
    else for (const s of r.scores) process.stdout.write(`${s}\n`);
  });
}

async function withEngine(flags: Flags, load: LoadFor, use: (engine: Engine) => Promise<void>): Promise<void> {
  const engine = await load(flags);
  try {
    await use(engine);
  } finally {
    await engine.dispose();
  }
}

/** --text (one, or several: each its own input) or --file (one a line, blank lines skipped). */
async function texts(flags: Flags, command: string, what: string): Promise<string[]> {
  const { text, file } = flags;
  if ((text === undefined) === (typeof file !== 'string')) throw new EmberError('BAD_ARGUMENT', `${command} takes --text "<text>" (once or more) or --file FILE`);
  if (Array.isArray(text)) return text;
  if (typeof text === 'string') return [text];
  let lines: string[];
  try {
    lines = (await readFile(file as string, 'utf8')).split(/\r?\n/).filter((l) => l.trim() !== '');
  } catch (e) {
    throw new EmberError('BAD_ARGUMENT', `--file ${file as string}: ${(e as Error).message}`);
  }
  if (lines.length === 0) throw new EmberError('BAD_ARGUMENT', `--file ${file as string} holds no text (one ${what} a line)`);
  return lines;
}

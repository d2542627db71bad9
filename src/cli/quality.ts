/**
 * `emberlm quality`: src/bench/quality.ts from Node. The default text is the llama.cpp oracle's
 * prompts + greedy continuations for stories260K (`full_text` of each result), found under
 * $EMBERLM_MODELS or ../shared/models from the working directory.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { EmberError } from '../errors.ts';
import { createGpu } from '../gpu/device.ts';
import { QUANT_SCHEMES, type QuantScheme } from '../model/weight_source.ts';
import { runQuality, type QualityReport } from '../bench/quality.ts';
import { runEmbedQuality, type EmbedQualityReport } from '../bench/quality_embed.ts';
import { formatEmbedQuality, formatQuality, roundDeep } from '../bench/report.ts';
import { hubEnv, strFlag, type Flags } from './args.ts';
import { parseKvList, parseList } from './bench.ts';
import { openOut, printThenSave, readTextFile } from './files.ts';

export function defaultTextFile(): string {
  return resolve(process.env.EMBERLM_MODELS ?? resolve(process.cwd(), '../shared/models'), 'oracle/stories260K.llama-cpp.json');
}

/** A .json file with `results[].full_text` (the oracle format) gives one text per result; any other file is one text. */
export function readTexts(file: string): string[] {
  if (!existsSync(file)) throw new EmberError('BAD_ARGUMENT', `text file ${file} does not exist (pass --text FILE)`);
  const raw = readTextFile(file);
  if (file.endsWith('.json')) {
    const json = parseJson(file, raw) as { results?: { full_text?: unknown }[] } | null;
    const texts = json?.results?.map?.((r) => r?.full_text);
    if (!texts?.length || texts.some((t) => typeof t !== 'string')) throw new EmberError('BAD_ARGUMENT', `${file}: expected {"results": [{"full_text": "..."}, ...]}`);
    return texts as string[];
  }
  return [raw];
}

function parseJson(file: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (e) {
    const why = `not valid JSON (${(e as Error).message}); a file not named .json is read as plain text`;
    throw new EmberError('BAD_ARGUMENT', `--text ${file}: ${why}`, { flag: 'text', path: file });
  }
}

/** Every scheme but the reference, so schemes added to QUANT_SCHEMES appear here without a change. */
export const DEFAULT_QUALITY_SCHEMES = (): QuantScheme[] => QUANT_SCHEMES.filter((s) => s !== 'f32');

/**
 * --quant LIST and --kv LIST: with --kv alone only the K/V cache types run; without either, every weight scheme.
 */
export async function runQualityCommand(o: {
  model: string; quant?: string; kv?: string; text?: string; embed?: boolean; log?: (l: string) => void;
}): Promise<QualityReport | EmbedQualityReport> {
  const kvCaches = parseKvList(o.kv) ?? [];
  const schemes = (parseList(o.quant, 'quant') ?? (kvCaches.length ? [] : DEFAULT_QUALITY_SCHEMES())) as QuantScheme[];
  const texts = readTexts(o.text ?? defaultTextFile());
  const gpu = await createGpu();
  try {
    // The model as generate takes it: a GGUF file, a Hugging Face folder, a URL or a Hub id.
    const opts = { model: basename(o.model), gpu, schemes, kvCaches, texts, onProgress: o.log, load: hubEnv() };
    return await (o.embed ? runEmbedQuality : runQuality)(o.model, opts);
  } finally {
    gpu.device.destroy();
  }
}

export async function quality(flags: Flags): Promise<void> {
  const str = (k: string) => strFlag(flags, k);
  const model = str('model');
  if (!model) throw new EmberError('BAD_ARGUMENT', '--model is required (see emberlm --help)');
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const out = str('out') === undefined ? undefined : openOut(str('out')!);
  let report: QualityReport | EmbedQualityReport;
  try {
    report = await runQualityCommand({ model, quant: str('quant'), kv: str('kv'), text: str('text'), embed: flags.embed === true, log });
  } catch (e) {
    out?.discard();
    throw e;
  }
  const rounded = roundDeep(report, 6);
  const style = flags.markdown ? 'markdown' : 'text';
  const table = 'inputs' in report ? formatEmbedQuality(report, style) : formatQuality(report, style);
  const printed = flags.json ? JSON.stringify(rounded) + '\n' : table;
  printThenSave(printed, rounded, out);
}

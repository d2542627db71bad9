/**
 * The command line: each subcommand takes only its own options, so a flag meant for another command
 * (`generate --text`, `tokenize --prompt`) is an error rather than silently ignored, and numbers are
 * plain decimals (Number() would take "" as 0 and "0x10" as 16).
 */
import { parseArgs } from 'node:util';
import { EmberError } from '../errors.ts';
import { printableJson, printableName } from '../util/printable.ts';

type Option = { type: 'string' | 'boolean'; short?: string };
type Options = Record<string, Option>;

const str: Option = { type: 'string' };
const bool: Option = { type: 'boolean' };

/** Options every command takes. */
const SHARED: Options = { help: { type: 'boolean', short: 'h' } };
const MODEL: Options = { model: { type: 'string', short: 'm' } };
const AUTOTUNE: Options = { autotune: bool, 'no-autotune': bool };

/** Each command's options; a name shared by two commands has the same type in both (one parse reads them all). */
export const COMMAND_OPTIONS = {
  generate: {
    ...MODEL,
    prompt: { type: 'string', short: 'p' },
    'max-tokens': { type: 'string', short: 'n' },
    temperature: str, 'top-k': str, 'top-p': str, 'min-p': str, seed: str,
    'repetition-penalty': str, 'presence-penalty': str, 'frequency-penalty': str, 'logit-bias': str,
    'parse-special': bool,
    quant: str, ctx: str, kv: str, attention: str, 'no-f16': bool, ...AUTOTUNE, cache: str, lora: str,
    json: bool, logprobs: str, 'json-object': bool, 'json-schema': str,
  },
  tokenize: { ...MODEL, text: str, 'no-bos': bool, 'parse-special': bool, json: bool },
  // (an option of one name is one option for every command: embed's prompt keeps generate's -p)
  embed: { ...MODEL, text: str, file: str, 'prompt-name': str, prompt: { type: 'string', short: 'p' }, dimensions: str, 'no-normalize': bool, truncate: bool, quant: str, ctx: str, lora: str, json: bool },
  rerank: { ...MODEL, query: str, text: str, file: str, instruction: str, truncate: bool, quant: str, ctx: str, lora: str, json: bool },
  cache: { json: bool },
  bench: {
    ...MODEL, synthetic: str, quant: str, 'prompt-tokens': str, 'gen-tokens': str, repeats: str,
    'decode-ahead': str, kv: str, scales: str, fuse: str, attention: str, convert: str, ...AUTOTUNE,
    peer: str, 'peer-timeout': str, embed: bool, inputs: str, batch: str, out: str, json: bool, markdown: bool,
  },
  quality: { ...MODEL, quant: str, kv: str, text: str, embed: bool, out: str, json: bool, markdown: bool },
} satisfies Record<string, Options>;

export type Command = keyof typeof COMMAND_OPTIONS;
/** Each option's value; a list where a command takes the option more than once (REPEATABLE). */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/** Options a command takes more than once, every value kept in order: embed's inputs, rerank's documents. */
const REPEATABLE: Partial<Record<Command, readonly string[]>> = { embed: ['text'], rerank: ['text'] };

/** Positional arguments after the command: cache's subcommand and URL; none for the others. */
const MAX_ARGS: Record<Command, number> = { generate: 0, tokenize: 0, embed: 0, rerank: 0, cache: 2, bench: 0, quality: 0 };

/** Options whose value is one number, so `--seed -1` means the value -1, not an option named "-1". */
const NUMERIC = new Set([
  'max-tokens', 'temperature', 'top-k', 'top-p', 'min-p', 'seed', 'repetition-penalty', 'presence-penalty',
  'frequency-penalty', 'ctx', 'gen-tokens', 'repeats', 'peer-timeout', 'dimensions', 'inputs',
]);

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** `value` as a number when it is written as a plain decimal (1, -0.5, 1e-3); undefined otherwise. */
export function decimal(value: string): number | undefined {
  return DECIMAL.test(value) ? Number(value) : undefined;
}

const ALL_OPTIONS: Options = Object.assign({}, SHARED, ...Object.values(COMMAND_OPTIONS));
const LONG_OF_SHORT = new Map(Object.entries(ALL_OPTIONS).flatMap(([name, o]) => (o.short ? [[o.short, name]] : [])));

/**
 * parseArgs reads `--seed -1` as an option with no value followed by an option "-1"; a numeric option
 * followed by a negative number becomes `--seed=-1`.
 */
function joinNegativeNumbers(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return [...out, ...argv.slice(i)];
    const name = a.startsWith('--') ? a.slice(2) : /^-[a-zA-Z]$/.test(a) ? LONG_OF_SHORT.get(a[1]) : undefined;
    const next = argv[i + 1];
    if (name && NUMERIC.has(name) && next?.startsWith('-') && decimal(next) !== undefined) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

const isCommand = (c: string): c is Command => Object.hasOwn(COMMAND_OPTIONS, c);
const listOptions = (cmd: Command) => Object.keys(COMMAND_OPTIONS[cmd]).map((n) => `--${n}`).join(', ');

function unknownOption(raw: string, cmd: Command | undefined): EmberError {
  const takes = cmd ? ` for ${cmd}; it takes ${listOptions(cmd)}` : '';
  return new EmberError('BAD_ARGUMENT', `unknown option ${printableName(raw)}${takes} (see emberlm --help)`, { option: raw });
}

/** parseArgs' own errors (an option no command takes, a missing value) as BAD_ARGUMENT. */
function parseError(e: unknown, argv: string[]): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const raw = /'([^']+)'/.exec((e as Error).message)?.[1] ?? '?';
    return unknownOption(raw, argv.find(isCommand));
  }
  return code?.startsWith('ERR_PARSE_ARGS') ? new EmberError('BAD_ARGUMENT', (e as Error).message) : e;
}

export interface CommandLine {
  command?: Command; // undefined: none was given (help)
  flags: Flags;
  args: string[]; // positionals after the command
}

/** argv as a command, its options and its positional arguments; anything the command does not take is a BAD_ARGUMENT. */
export function parseCommandLine(argv: string[]): CommandLine {
  // One parse with every command's options finds the command wherever it stands; then each option is
  // checked against that command's own set.
  let parsed;
  try {
    const args = joinNegativeNumbers(argv);
    parsed = parseArgs({ args, allowPositionals: true, strict: true, tokens: true, options: ALL_OPTIONS });
  } catch (e) {
    throw parseError(e, argv);
  }
  const { values, positionals, tokens } = parsed;
  const [cmd, ...args] = positionals;
  if (cmd === undefined) return { flags: values, args };
  if (!isCommand(cmd)) {
    const known = Object.keys(COMMAND_OPTIONS).join(', ');
    throw new EmberError('BAD_ARGUMENT', `unknown command ${printableJson(cmd)} (${known})`);
  }
  const own: Options = { ...SHARED, ...COMMAND_OPTIONS[cmd] };
  const unknown = tokens.find((t) => t.kind === 'option' && !Object.hasOwn(own, t.name));
  if (unknown?.kind === 'option') throw unknownOption(unknown.rawName, cmd);
  if (args.length > MAX_ARGS[cmd]) {
    const stray = printableJson(args[MAX_ARGS[cmd]]);
    throw new EmberError('BAD_ARGUMENT', `unexpected argument ${stray} for ${cmd} (options take --name value; see emberlm --help)`);
  }
  return { command: cmd, flags: { ...values, ...repeated(cmd, tokens) }, args };
}

/** The values of an option given more than once: a list where the command takes several, else BAD_ARGUMENT (parseArgs keeps the last alone). */
function repeated(cmd: Command, tokens: ReturnType<typeof parseArgs>['tokens'] = []): Flags {
  const seen = new Map<string, string[]>();
  for (const t of tokens) if (t.kind === 'option' && t.value !== undefined) seen.set(t.name, [...(seen.get(t.name) ?? []), t.value]);
  const lists: Flags = {};
  for (const [name, values] of seen) {
    if (values.length < 2) continue;
    if (!REPEATABLE[cmd]?.includes(name)) throw new EmberError('BAD_ARGUMENT', `--${name} is given ${values.length} times; ${cmd} takes one`, { option: name });
    lists[name] = values;
  }
  return lists;
}

/** A numeric flag's value, or `fallback` when it is absent. */
export function num(flags: Flags, name: string, fallback?: number): number | undefined {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = typeof v === 'string' ? decimal(v) : undefined;
  if (n === undefined) {
    throw new EmberError('BAD_ARGUMENT', `--${name} expects a number, got ${printableJson(v)} (written in decimal: 2, 0.5, -1, 1e-3)`);
  }
  return n;
}

/** A string flag's value (undefined when absent). */
export function strFlag(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** Where Hub ids resolve ($EMBERLM_HUB_URL) and the access token for gated repos ($HF_TOKEN, as the Hugging Face tools read it). */
export const hubEnv = () => ({ hubUrl: process.env.EMBERLM_HUB_URL, hubToken: process.env.HF_TOKEN || undefined });

/**
 * --lora's adapters: a comma-separated list of GGUF LoRA adapters, each with an optional @scale (a decimal: a Hub id's
 * own @revision stays part of its name).
 */
export function loraFlag(v: string | undefined): { adapter: string; scale?: number }[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((item) => {
    const m = /^(.+)@(-?\d+(?:\.\d+)?)$/.exec(item);
    if (!item) throw new EmberError('BAD_ARGUMENT', `--lora ${printableJson(v)} has an empty entry (a comma-separated list of FILE[@SCALE])`);
    return m ? { adapter: m[1], scale: Number(m[2]) } : { adapter: item };
  });
}

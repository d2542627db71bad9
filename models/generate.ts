/**
 * Deterministic random models: a seeded, valid GGUF of a given architecture and size with random
 * weights and a small SentencePiece ('llama') vocabulary, for tests and benchmarks. The same
 * options give a byte-identical file.
 *
 *   npx tsx models/generate.ts --arch llama --out file.gguf [--n-embd 64 --n-layer 2 --n-head 4
 *     --n-head-kv 2 --n-ff 96 --vocab 300 --ctx 256 --type F32|F16|BF16|Q8_0|Q4_0 --seed 1 --tied]
 */
import { EmberError } from '../src/errors.ts';
import type { TensorType } from '../src/gguf/reader.ts';
import { meta, writeGGUF, type GGUFToWrite, type MetaValue, type TensorToWrite } from '../src/gguf/writer.ts';
import { createRng, type Rng } from './rng.ts';
import { runIfMain } from './cli.ts';

export type Arch = 'llama';

export interface GenerateOptions {
  readonly arch?: Arch;
  readonly nEmbd?: number;
  readonly nLayer?: number;
  readonly nHead?: number;
  readonly nHeadKv?: number;
  readonly nFf?: number;
  readonly vocab?: number;
  readonly contextLength?: number;
  /** Type of the 2-D weights. Quantized types fall back to F32 for a weight whose rows are not a multiple of 32; norms are always F32. */
  readonly type?: TensorType;
  readonly seed?: number;
  /** Share token_embd.weight as the output projection (no output.weight tensor). */
  readonly tied?: boolean;
  readonly rmsEps?: number;
  readonly ropeFreqBase?: number;
}

export type ModelConfig = Required<GenerateOptions>;

const DEFAULTS: ModelConfig = {
  arch: 'llama', nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 96, vocab: 300, contextLength: 256,
  type: 'F32', seed: 1, tied: false, rmsEps: 1e-5, ropeFreqBase: 10000,
};

/** A tensor before encoding: its f32 values (what `type` then rounds or quantizes). */
export interface GeneratedTensor {
  readonly name: string;
  readonly ne: readonly number[];
  readonly type: TensorType;
  readonly data: Float32Array;
}

export interface GeneratedModel {
  readonly config: ModelConfig;
  readonly metadata: ReadonlyArray<readonly [string, MetaValue]>;
  readonly tensors: readonly GeneratedTensor[];
}

/** What a weight is, which decides its type and initial distribution. */
type Kind = 'embed' | 'weight' | 'norm' | 'output';
interface WeightSpec { readonly name: string; readonly ne: readonly number[]; readonly kind: Kind }

/**
 * One entry per architecture: its metadata prefix and tensor list. Another architecture (qwen2:
 * q/k/v biases, a BPE vocabulary) is a new entry here, not a new generator.
 */
interface ArchSpec {
  readonly tensors: (c: ModelConfig) => WeightSpec[];
  readonly hparams: (c: ModelConfig) => Array<[string, MetaValue]>;
}

const ARCHS: Record<Arch, ArchSpec> = {
  llama: {
    tensors(c) {
      const hd = c.nEmbd / c.nHead;
      const t: WeightSpec[] = [
        { name: 'token_embd.weight', ne: [c.nEmbd, c.vocab], kind: 'embed' },
        { name: 'output_norm.weight', ne: [c.nEmbd], kind: 'norm' },
      ];
      if (!c.tied) t.push({ name: 'output.weight', ne: [c.nEmbd, c.vocab], kind: 'output' });
      for (let l = 0; l < c.nLayer; l++) {
        const p = `blk.${l}.`;
        t.push(
          { name: `${p}attn_norm.weight`, ne: [c.nEmbd], kind: 'norm' },
          { name: `${p}attn_q.weight`, ne: [c.nEmbd, c.nHead * hd], kind: 'weight' },
          { name: `${p}attn_k.weight`, ne: [c.nEmbd, c.nHeadKv * hd], kind: 'weight' },
          { name: `${p}attn_v.weight`, ne: [c.nEmbd, c.nHeadKv * hd], kind: 'weight' },
          { name: `${p}attn_output.weight`, ne: [c.nHead * hd, c.nEmbd], kind: 'weight' },
          { name: `${p}ffn_norm.weight`, ne: [c.nEmbd], kind: 'norm' },
          { name: `${p}ffn_gate.weight`, ne: [c.nEmbd, c.nFf], kind: 'weight' },
          { name: `${p}ffn_up.weight`, ne: [c.nEmbd, c.nFf], kind: 'weight' },
          { name: `${p}ffn_down.weight`, ne: [c.nFf, c.nEmbd], kind: 'weight' },
        );
      }
      return t;
    },
    hparams(c) {
      return [
        ['llama.context_length', meta.u32(c.contextLength)],
        ['llama.embedding_length', meta.u32(c.nEmbd)],
        ['llama.feed_forward_length', meta.u32(c.nFf)],
        ['llama.block_count', meta.u32(c.nLayer)],
        ['llama.attention.head_count', meta.u32(c.nHead)],
        ['llama.attention.head_count_kv', meta.u32(c.nHeadKv)],
        ['llama.rope.dimension_count', meta.u32(c.nEmbd / c.nHead)],
        ['llama.attention.layer_norm_rms_epsilon', meta.f32(c.rmsEps)],
        ['llama.rope.freq_base', meta.f32(c.ropeFreqBase)],
        ['llama.vocab_size', meta.u32(c.vocab)],
      ];
    },
  },
};

/** llama.cpp's `general.file_type` (LLAMA_FTYPE_*) for a model whose weights are mostly `type`. */
const FILE_TYPE: Record<TensorType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, BF16: 32 };

/** Token types of tokenizer.ggml.token_type. */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

const hex2 = (i: number) => i.toString(16).toUpperCase().padStart(2, '0');

/** Every piece is one character or the concatenation of two earlier pieces, so SPM merges can reach it. */
const BASE_PIECES = ['▁', 'e', 't', 'a', 'o', 'n', 'i', 'h', 's', 'r', 'd', 'l', 'u', 'y', 'w', 'm', 'g', 'c', 'f', 'b', 'p', 'k', 'v', '.', ',', '!', '"', "'", 'T', 'O', 'S', 'L', 'I'];
const MERGES: Array<[string, string]> = [
  ['▁', 't'], ['h', 'e'], ['▁', 'a'], ['▁', 's'], ['▁t', 'he'], ['n', 'd'], ['▁', 'w'], ['▁', 'b'], ['i', 'n'], ['e', 'r'],
  ['a', 'n'], ['e', 'd'], ['▁', 'h'], ['o', 'n'], ['▁', 'l'], ['a', 'y'], ['o', 'u'], ['i', 't'], ['▁a', 'nd'], ['▁w', 'a'],
  ['▁wa', 's'], ['▁', 'T'], ['▁', 'O'], ['▁', 'L'], ['▁', 'S'], ['▁', 'I'], ['▁O', 'n'], ['▁On', 'e'], ['▁T', 'he'], ['▁', 'p'],
  ['▁p', 'l'], ['▁pl', 'ay'], ['▁', 'd'], ['▁', 'f'], ['▁', 'm'], ['▁', 'g'], ['▁', 'c'], ['▁h', 'e'], ['▁s', 'he'], ['in', 'g'],
];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/**
 * Pieces after the hand-written ones: every lowercase letter, then all lowercase strings (and
 * '▁'+string) by length, each reachable as its prefix plus one letter.
 */
function* morePieces(): Generator<string> {
  let level = [...LETTERS];
  yield* level;
  for (;;) {
    const next: string[] = [];
    for (const p of level) for (const c of LETTERS) next.push(p + c);
    for (const p of level) yield `▁${p}`;
    for (const p of next) yield p;
    level = next;
  }
}

/** A SentencePiece-style vocabulary of `n` tokens: <unk>, <s>, </s>, the 256 byte tokens, then pieces with scores. */
export function spmVocab(n: number): { tokens: string[]; scores: Float32Array; types: Int32Array } {
  if (!Number.isInteger(n) || n < 259) throw new EmberError('BAD_ARGUMENT', `vocab size ${n} is too small: an SPM vocabulary needs at least 259 tokens (3 special + 256 bytes)`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL] as number[];
  for (let i = 0; i < 256; i++) { tokens.push(`<0x${hex2(i)}>`); types.push(TOKEN_TYPE.BYTE); }
  const seen = new Set<string>();
  const pieces = [...BASE_PIECES, ...MERGES.map(([a, b]) => a + b)][Symbol.iterator]();
  const more = morePieces();
  while (tokens.length < n) {
    const r = pieces.next();
    const p = r.done ? more.next().value as string : r.value;
    if (seen.has(p)) continue;
    seen.add(p);
    tokens.push(p);
    types.push(TOKEN_TYPE.NORMAL);
  }
  const scores = new Float32Array(n);
  for (let i = 259; i < n; i++) scores[i] = -(i - 259); // earlier pieces merge first
  return { tokens, scores, types: Int32Array.from(types) };
}

function checkConfig(c: ModelConfig): void {
  const bad = (msg: string) => new EmberError('BAD_ARGUMENT', `generate: ${msg}`);
  if (!ARCHS[c.arch]) throw new EmberError('UNSUPPORTED', `generate: architecture ${String(c.arch)} is not supported (supported: ${Object.keys(ARCHS).join(', ')})`);
  for (const k of ['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'nFf', 'vocab', 'contextLength'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw bad(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.nEmbd % c.nHead !== 0) throw bad(`nEmbd ${c.nEmbd} is not a multiple of nHead ${c.nHead}`);
  if ((c.nEmbd / c.nHead) % 2 !== 0) throw bad(`head dimension ${c.nEmbd / c.nHead} must be even for RoPE`);
  if (c.nHead % c.nHeadKv !== 0) throw bad(`nHead ${c.nHead} is not a multiple of nHeadKv ${c.nHeadKv}`);
  if (!(c.type in FILE_TYPE)) throw bad(`type ${String(c.type)} is not one of ${Object.keys(FILE_TYPE).join(', ')}`);
  if (!Number.isInteger(c.seed)) throw bad(`seed must be an integer, got ${c.seed}`);
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/**
 * Initial values, chosen so that activations and logits are neither tiny nor saturated: projections
 * ~N(0, 1/sqrt(in)) clamped to [0.02, 0.2], embeddings and the output projection ~N(0, 0.2), norm
 * weights ~N(1, 0.1) (not all ones, so a kernel that ignores them is caught).
 */
function initTensor(rng: Rng, s: WeightSpec): Float32Array {
  const n = s.ne.reduce((a, b) => a * b, 1);
  switch (s.kind) {
    case 'norm': return rng.normals(n, 0.1, 1);
    case 'embed':
    case 'output': return rng.normals(n, 0.2);
    default: return rng.normals(n, clamp(1 / Math.sqrt(s.ne[0]), 0.02, 0.2));
  }
}

function tensorType(c: ModelConfig, s: WeightSpec): TensorType {
  if (s.kind === 'norm' || s.ne.length < 2) return 'F32';
  if ((c.type === 'Q8_0' || c.type === 'Q4_0') && s.ne[0] % 32 !== 0) return 'F32';
  return c.type;
}

/** The model as metadata plus f32 tensors (before encoding to their types). */
export function randomModel(opts: GenerateOptions = {}): GeneratedModel {
  const config: ModelConfig = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  checkConfig(config);
  const arch = ARCHS[config.arch];
  const vocab = spmVocab(config.vocab);
  const metadata: Array<[string, MetaValue]> = [
    ['general.architecture', meta.str(config.arch)],
    ['general.name', meta.str(`emberlm-random-${config.arch}`)],
    ['general.file_type', meta.u32(FILE_TYPE[config.type])],
    ...arch.hparams(config),
    ['tokenizer.ggml.model', meta.str('llama')],
    ['tokenizer.ggml.tokens', meta.strs(vocab.tokens)],
    ['tokenizer.ggml.scores', meta.f32s(vocab.scores)],
    ['tokenizer.ggml.token_type', meta.i32s(vocab.types)],
    ['tokenizer.ggml.unknown_token_id', meta.u32(0)],
    ['tokenizer.ggml.bos_token_id', meta.u32(1)],
    ['tokenizer.ggml.eos_token_id', meta.u32(2)],
    ['tokenizer.ggml.add_bos_token', meta.bool(true)],
    ['tokenizer.ggml.add_eos_token', meta.bool(false)],
  ];
  const rng = createRng(config.seed);
  const tensors = arch.tensors(config).map((s) => ({ name: s.name, ne: s.ne, type: tensorType(config, s), data: initTensor(rng, s) }));
  return { config, metadata, tensors };
}

/** The GGUF writer's input for a random model. */
export function randomModelFile(opts: GenerateOptions = {}): GGUFToWrite {
  const m = randomModel(opts);
  return { metadata: m.metadata, tensors: m.tensors as TensorToWrite[] };
}

/** A random model as GGUF bytes; the same options give the same bytes. */
export function generateModel(opts: GenerateOptions = {}): Uint8Array {
  return writeGGUF(randomModelFile(opts));
}

// ---- CLI ------------------------------------------------------------------------------------

const USAGE = `usage: npx tsx models/generate.ts --arch llama --out FILE.gguf [--n-embd 64] [--n-layer 2] [--n-head 4]
  [--n-head-kv 2] [--n-ff 96] [--vocab 300] [--ctx 256] [--type F32|F16|BF16|Q8_0|Q4_0] [--seed 1] [--tied]`;

const NUM_FLAGS: Record<string, keyof GenerateOptions> = {
  '--n-embd': 'nEmbd', '--n-layer': 'nLayer', '--n-head': 'nHead', '--n-head-kv': 'nHeadKv', '--n-ff': 'nFf',
  '--vocab': 'vocab', '--ctx': 'contextLength', '--seed': 'seed',
};

/** Parses CLI arguments into options and the output path. */
export function parseArgs(argv: readonly string[]): { out: string; opts: GenerateOptions } {
  const opts: Record<string, unknown> = {};
  let out = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new EmberError('BAD_ARGUMENT', `${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--tied') opts.tied = true;
    else if (a === '--out') out = value();
    else if (a === '--arch') opts.arch = value();
    else if (a === '--type') opts.type = value();
    else if (a in NUM_FLAGS) {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n)) throw new EmberError('BAD_ARGUMENT', `${a} ${v} is not an integer`);
      opts[NUM_FLAGS[a]] = n;
    } else throw new EmberError('BAD_ARGUMENT', `unknown argument ${a}\n${USAGE}`);
  }
  if (!out) throw new EmberError('BAD_ARGUMENT', `--out is required\n${USAGE}`);
  return { out, opts: opts as GenerateOptions };
}

async function main(): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  const { out, opts } = parseArgs(process.argv.slice(2));
  const bytes = generateModel(opts);
  await writeFile(out, bytes);
  console.log(`wrote ${out} (${bytes.byteLength} bytes)`);
}

runIfMain(import.meta.url, main);

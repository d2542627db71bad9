import '../node/host.ts';
import { Engine } from '../engine.ts';
import { EmberError } from '../errors.ts';
import { QUANT_SCHEMES, quantLabel } from '../model/weight_source.ts';
import { readGGUF } from '../gguf/reader.ts';
import { loadHFTokenizer } from '../hf/model.ts';
import { nodeFileCache } from '../loader/node_cache.ts';
import { openModel } from '../loader/open_model.ts';
import type { LoadProgress } from '../loader/progress.ts';
import { tokenizerFromGGUF, type Tokenizer } from '../tokenizer/index.ts';
import { attentionFlag, autotuneFlag, bench, kvCacheFlag } from './bench.ts';
import { quality } from './quality.ts';
import { grammarConstraint, type OutputFormat } from '../grammar/constraint.ts';
import { readFile } from 'node:fs/promises';
import { decimal, hubEnv, loraFlag, num, parseCommandLine, type Flags } from './args.ts';
import { cacheFolder } from './files.ts';
import { embed, rerank } from './retrieval.ts';

const HELP = `emberlm — LLM inference on WebGPU

Usage:
  emberlm generate --model <model> --prompt "<text>" [options]
  emberlm tokenize --model <model> --text "<text>" [--no-bos] [--parse-special] [--json]
  emberlm embed --model <model> (--text "<text>"... | --file FILE) [--prompt-name NAME | --prompt P] [--dimensions N] [--no-normalize] [--truncate] [--lora A] [--json]
  emberlm rerank --model <model> --query "<text>" (--text "<document>"... | --file FILE) [--instruction I] [--truncate] [--lora A] [--json]
  emberlm cache [list | clear | delete <url>] [--json]
  emberlm bench (--model <file.gguf> | --synthetic <name>[:type],...) [bench options]
  emberlm bench --embed --model <model> | --synthetic <name> [--quant a,b] [--prompt-tokens L] [--inputs N] [--batch on,off] [--repeats N] [--kv T]
  emberlm quality --model <model> [--quant a,b] [--kv a,b] [--text FILE] [--embed] [--out FILE] [--json|--markdown]

A <model> is a GGUF file, a Hugging Face folder, a URL, or a Hugging Face Hub id: org/name (a model
folder), org/name/path/file.gguf, or org/name:Q4_K_M (the GGUF of that quant), each with an optional
@revision. Hub ids resolve at $EMBERLM_HUB_URL (default https://huggingface.co), with $HF_TOKEN as the
access token for gated and private repos; downloads are kept in $EMBERLM_CACHE/files (default
~/.cache/emberlm), so the second run makes no request.

generate options:
  --max-tokens N      tokens to generate (default 128)
  --temperature T     0 = greedy (default 0.8)
  --top-k K           0 = off (default 40)
  --top-p P           1 = off (default 0.95)
  --min-p P           keep tokens with p >= P * p_max; 0 = off (default)
  --repetition-penalty R   > 1 discourages every token of the prompt and the output; 1 = off (default)
  --presence-penalty P     -2..2, OpenAI's: taken off the logit of every generated token; 0 = off (default)
  --frequency-penalty F    -2..2, OpenAI's: F times a token's count in the output is taken off its logit
  --logit-bias ID:B,...    add B (-100..100) to token ID's logit, e.g. 42:100 forces token 42
  --seed S            sampling seed (default random)
  --parse-special     match special tokens written in the prompt (<|im_start|>); off by default
  --quant Q           weight storage (default auto = as in the file): ${QUANT_SCHEMES.filter((q) => q !== 'auto').map((q) => `\n                      ${quantLabel(q)}`).join('')}
  --ctx N             context length (default: the model's, at most 4096)
  --kv T              K/V cache storage: f16 (default), int8, fp8-e4m3, f32
  --attention A       decode attention: default (the device's own kernel) or wide (a key a lane in
                      workgroups of 64, written for GPUs)
  --no-f16            do not use shader-f16 or subgroups (test the f32 fallback)
  --autotune          time the matmul launch variants at load and keep the fastest (default on GPUs, off
                      on CPU adapters such as lavapipe); --no-autotune: static defaults everywhere
  --cache DIR         keep weights converted to the ggml schemes in DIR, so --quant runs once per model file
  --lora A[@S],...    LoRA adapters (GGUF, as llama.cpp's convert_lora_to_gguf.py writes them) merged into the
                      weights at load, each at scale S (default 1)
  --json              print one JSON object at the end instead of streaming text
  --logprobs K        with --json: each token's log-probability and its K likeliest alternatives' (0..20)
  --json-object       the output held to a JSON object by a grammar (each token chosen among those that continue it)
  --json-schema FILE  the output held to JSON that the JSON Schema in FILE accepts

embed options (each input's last-token embedding, L2-normalised: Qwen3-Embedding's pooling; a sentence-transformers
folder's own pooling and Dense layers: EmbeddingGemma's, BERT's):
  --text T            one input
  --file FILE         one input a line
  --prompt-name NAME  a prompt the model's folder names (EmbeddingGemma: query, document, ...) before each input
  --prompt P          a prompt of your own before each input (an INSTRUCTOR instruction), as sentence-transformers' prompt=
  --dimensions N      keep the first N values (Matryoshka models), then normalise
  --no-normalize      the embedding as the model gives it, not normalised
  --truncate          cut a text past the model's max_seq_length (or context), keeping its end tokens, as
                      sentence-transformers does; without it such a text is an error
  --quant Q, --ctx N  as for generate
  --json              {"embeddings": [[...], ...], "prompt_tokens": N}; else one line of numbers an input

rerank options (each document's score against the query: Qwen3-Reranker's P("yes"), or a cross-encoder's):
  --query Q           the query
  --text T            one document
  --file FILE         one document a line
  --instruction I     what a relevant document is (default: Qwen3-Reranker's web search instruction; a cross-encoder
                      takes none)
  --truncate          cut a pair past the model's context (a cross-encoder's as sentence-transformers does)
  --quant Q, --ctx N  as for generate
  --json              {"scores": [...], "prompt_tokens": N}; else one score a line, in document order

bench options (speed; medians over repeats, warm-up excluded):
  --synthetic LIST    random-weight models of real shapes, written once to $EMBERLM_CACHE (default
                      <tmp>/emberlm-bench): smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, qwen3-0.6b,
                      lfm2-350m, granite-4.0-h-350m, qwen3.5-0.8b, granite-3.0-1b-a400m,
                      lfm2-8b-a1b,
                      each with :q8_0 (default), :f16,
                      :f32, :bf16, a ggml block type (:q4_0,
                      :q4_k, :q6_k ...)
                      or a llama.cpp file type (:q4_k_m, :q5_k_m ...), e.g. smollm2-135m:q8_0,smollm2-135m:q4_k_m
  --quant LIST        weight storage schemes to run, comma-separated (default auto)
  --prompt-tokens L   prompt lengths, comma-separated (default 128)
  --gen-tokens N      tokens generated per run (default 64)
  --repeats N         timed runs per prompt length (default 3)
  --decode-ahead L    decode steps in flight, comma-separated, each run side by side (default 2, 3 where
                      readbacks are paced: Dawn in Node on a CPU adapter; 1 = wait for each sampled id)
  --kv T              K/V cache storage (default f16)
  --scales L          Q8_0/Q4_0 block scales on the GPU, comma-separated, each run side by side: f16 (pairs,
                      where every scale is an f16 value as in GGUF files; the default on GPUs) or f32 (the
                      default on CPU adapters such as lavapipe)
  --fuse L            decode's GEMVs taking in RMSNorm and x's Q8_0 in their prologue, comma-separated, each
                      run side by side: on (the default on GPUs), off (separate norm and quantize kernels)
  --attention L       decode attention, comma-separated, each run side by side: wide (a key a lane in
                      workgroups of 64, written for GPUs) or default (the device's own kernel)
  --convert L         where --quant's conversions at load run, comma-separated, each run side by side: gpu
                      (the default) or cpu (the load's time is the report's load ms)
  --peer llama.cpp    also run llama.cpp (node-llama-cpp) on the same file: CPU with 1 and 2 threads,
                      and Vulkan where present; llama.cpp:cpu-t1,cpu-t2,vulkan picks backends
  --peer-timeout S    seconds one peer phase (loading, a warm-up, a timed run) may take before the peer is
                      ended and reported as an error (default 600)
  --embed             time embed instead (an embedding model, --model): --inputs inputs (default 1) of each
                      --prompt-tokens length (default 16,64,256), --repeats times, each --quant; --batch on,off
                      runs several inputs a pass and one a pass side by side (default on)
  --out FILE          also write the JSON report to FILE (e.g. bench/results/<name>.json)
  --json | --markdown JSON report, or markdown tables (default: plain tables)

quality options (each scheme against the f32 run of the same model):
  --quant LIST        schemes (default: every one but f32: ${QUANT_SCHEMES.filter((s) => s !== 'f32').join(', ')})
  --kv LIST           K/V cache types to score against the f32 cache, with f32 weights (e.g. f16,int8,fp8-e4m3);
                      given alone, only these run
  --text FILE         text to score: a plain text file, or JSON with results[].full_text
                      (default: ../shared/models/oracle/stories260K.llama-cpp.json)
  --embed             an embedding model: each text's embedding against the f32 run's (cosine mean and worst,
                      how often each text's nearest other text stays the same), not next-token distributions
`;

/** --logit-bias 42:100,7:-100 as { 42: 100, 7: -100 } (the engine checks the ids and values). */
function logitBias(flags: Flags): Record<number, number> | undefined {
  const v = flags['logit-bias'];
  if (v === undefined) return undefined;
  const entries = String(v).split(',').map((pair) => {
    const m = /^\s*(\d+)\s*:\s*(\S+)\s*$/.exec(pair);
    const bias = m ? decimal(m[2]) : undefined;
    if (bias === undefined) {
      throw new EmberError('BAD_ARGUMENT', `--logit-bias expects ID:BIAS pairs separated by commas, got ${JSON.stringify(pair)}`);
    }
    return [Number(m![1]), bias] as const;
  });
  return Object.fromEntries(entries);
}

function need(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new EmberError('BAD_ARGUMENT', `--${name} is required (see emberlm --help)`);
  return v;
}

let compileStart = 0; // the time of the load's last event before its compiling (a CPU adapter's precompile: 'compile' events with a total)

/**
 * Download progress, and a CPU adapter's compiling at the end of a load once it has taken a second (Mesa's shader cache
 * was empty: a first run), on a terminal's stderr (nothing when piped).
 */
function showProgress(_f: number, _what: string, e: LoadProgress): void {
  if (!process.stderr.isTTY) return;
  const end = e.loaded === e.total ? '\n' : '';
  if (e.phase !== 'compile') compileStart = performance.now(); // the compiling follows the load's last upload
  else if (e.total !== null && performance.now() - compileStart > 1000) process.stderr.write(`\rcompiling kernels (once per machine): ${e.loaded} / ${e.total}${end}`);
  if (e.phase !== 'download') return;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  const of = e.total === null ? '' : ` / ${mb(e.total)}`;
  process.stderr.write(`\r${e.what.split('/').pop()}: ${mb(e.loaded)}${of} MB${end}`);
}

async function generate(flags: Flags): Promise<void> {
  const json = flags.json === true;
  // Every flag is read before the model loads, so a typo fails at once.
  const options = {
    maxTokens: num(flags, 'max-tokens', 128),
    temperature: num(flags, 'temperature', 0.8),
    topK: num(flags, 'top-k', 40),
    topP: num(flags, 'top-p', 0.95),
    minP: num(flags, 'min-p'),
    repetitionPenalty: num(flags, 'repetition-penalty'),
    presencePenalty: num(flags, 'presence-penalty'),
    frequencyPenalty: num(flags, 'frequency-penalty'),
    logitBias: logitBias(flags),
    seed: num(flags, 'seed'),
    parseSpecial: flags['parse-special'] === true,
    logprobs: num(flags, 'logprobs'),
  };
  const output = await outputFlag(flags);
  const engine = await Engine.load(need(flags, 'model'), {
    ...hubEnv(),
    onProgress: showProgress,
    quant: (flags.quant as never) ?? 'auto',
    contextLength: num(flags, 'ctx'),
    kvCache: kvCacheFlag(typeof flags.kv === 'string' ? flags.kv : undefined),
    gpuOptions: flags['no-f16'] ? { disable: ['shader-f16', 'subgroups'] } : {},
    ...autotuneFlag(flags),
    ...attentionFlag(flags.attention),
    cache: typeof flags.cache === 'string' ? await cacheFolder(flags.cache) : undefined,
    lora: loraFlag(typeof flags.lora === 'string' ? flags.lora : undefined),
  });
  try {
    const prompt = typeof flags.prompt === 'string' ? flags.prompt : '';
    const constraint = output ? await grammarConstraint(engine.tokenizer, engine.config.vocab, output) : undefined;
    const it = engine.generate(prompt, { ...options, constraint });
    for await (const t of it) {
      if (stdoutGone) break; // `emberlm generate ... | head`: nobody reads the rest (break ends the generation)
      if (!json) process.stdout.write(t.text);
    }
    if (stdoutGone) return;
    const res = await it.result;
    if (json) {
      const s = res.stats;
      const round = (x: number) => Math.round(x * 100) / 100;
      process.stdout.write(
        JSON.stringify({
          prompt_ids: res.promptIds,
          ids: res.ids,
          text: res.text,
          finish_reason: res.finishReason,
          ...(res.logprobs ? { logprobs: res.logprobs } : {}),
          stats: { prefill_tok_s: round(s.prefillTokS), decode_tok_s: round(s.decodeTokS), ttft_ms: round(s.ttftMs), prompt_tokens: s.promptTokens, generated_tokens: s.generatedTokens },
        }) + '\n',
      );
    } else process.stdout.write('\n');
  } finally {
    engine.dispose();
  }
}

/** --json-object or --json-schema FILE: the output held to a JSON object, or to JSON the schema (a file) accepts. */
async function outputFlag(flags: Flags): Promise<OutputFormat | undefined> {
  const file = flags['json-schema'];
  if (file !== undefined) {
    if (typeof file !== 'string') throw new EmberError('BAD_ARGUMENT', '--json-schema needs a file holding a JSON Schema');
    let schema: unknown;
    try {
      schema = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new EmberError('BAD_ARGUMENT', `--json-schema ${file}: ${(e as Error).message}`);
    }
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new EmberError('BAD_ARGUMENT', `--json-schema ${file}: not a JSON Schema object`);
    return { type: 'json_schema', schema: schema as Record<string, unknown> };
  }
  return flags['json-object'] === true ? { type: 'json' } : undefined;
}

/** The tokenizer alone (no weights read) of whatever `generate` takes: a GGUF file, an HF folder, a Hub id. */
async function loadTokenizer(name: string): Promise<Tokenizer> {
  const model = await openModel(name, { ...hubEnv(), fileCache: nodeFileCache() });
  if (model.kind === 'hf') return loadHFTokenizer(model.folder);
  try {
    return tokenizerFromGGUF(await readGGUF(model.source));
  } finally {
    await model.source.close?.();
  }
}

/** emberlm cache [list | clear | delete URL]: the downloads kept in $EMBERLM_CACHE/files. */
async function cache(flags: Flags, args: string[]): Promise<void> {
  const files = nodeFileCache();
  const [sub = 'list', url] = args;
  const fits = sub === 'delete' ? url !== undefined : (sub === 'list' || sub === 'clear') && url === undefined;
  if (!fits) {
    throw new EmberError('BAD_ARGUMENT', `emberlm cache takes list, clear or delete <url>, got "${args.join(' ')}"`);
  }
  if (sub === 'list') {
    const entries = await files.list();
    if (flags.json) return void process.stdout.write(JSON.stringify({ where: files.store.where, entries }) + '\n');
    for (const e of entries) process.stdout.write(`${e.complete ? '' : '(partial) '}${e.storedBytes}\t${e.url}\n`);
    process.stdout.write(`${entries.length} entries, ${await files.size()} bytes in ${files.store.where}\n`);
  } else if (sub === 'clear') process.stdout.write(`deleted ${await files.clear()} entries\n`);
  else process.stdout.write(`deleted ${await files.delete(url)} entries\n`);
}

/** The engine of embed and rerank. */
const loadFor = (flags: Flags) => Engine.load(need(flags, 'model'), {
  ...hubEnv(), onProgress: showProgress, quant: (flags.quant as never) ?? 'auto', contextLength: num(flags, 'ctx'),
  lora: loraFlag(typeof flags.lora === 'string' ? flags.lora : undefined),
});

async function tokenize(flags: Flags): Promise<void> {
  const text = flags.text;
  if (typeof text !== 'string') throw new EmberError('BAD_ARGUMENT', '--text is required (an empty text is --text "")');
  const tok = await loadTokenizer(need(flags, 'model'));
  const ids = tok.encode(text, { addBos: flags['no-bos'] ? false : tok.addBos, parseSpecial: flags['parse-special'] === true });
  process.stdout.write(flags.json ? JSON.stringify({ ids }) + '\n' : ids.join(' ') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const { command, flags, args } = parseCommandLine(argv);
  if (flags.help || !command) {
    process.stdout.write(HELP);
    return flags.help ? 0 : 1;
  }
  if (command === 'generate') await generate(flags);
  else if (command === 'tokenize') await tokenize(flags);
  else if (command === 'embed') await embed(flags, loadFor);
  else if (command === 'rerank') await rerank(flags, loadFor);
  else if (command === 'cache') await cache(flags, args);
  else if (command === 'bench') await bench(flags);
  else await quality(flags);
  return 0;
}

/** Set when stdout's reader has gone (a closed pipe): output stops and the CLI ends quietly. */
let stdoutGone = false;

export async function runCli(argv: string[]): Promise<void> {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    stdoutGone = true;
    if (e.code !== 'EPIPE') process.stderr.write(`emberlm: cannot write to stdout: ${e.message}\n`);
  });
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    if (e instanceof EmberError) process.stderr.write(`emberlm: ${e.message}\n`);
    else process.stderr.write(`emberlm: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 2;
  }
  // Dawn keeps the event loop alive; leave once the output is flushed (or at once when nobody reads it).
  if (stdoutGone) process.exit();
  process.stdout.write('', () => process.exit());
}

/**
 * Checks of the options the public API takes, each failing with a BAD_ARGUMENT that names the option,
 * what it must be and what it was. They run before anything touches the GPU.
 */
import { EmberError } from './errors.ts';
import { CONTEXT_OVERFLOW_POLICIES, type ContextOverflow } from './context.ts';
import { DEFAULT_KV_CACHE, KV_CACHE_TYPES, type KvCacheType } from './kernels/kv_layout.ts';

/** A value as a message shows it: JSON where it can, else its type (never pages of text). */
export function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v === undefined) return 'undefined';
  if (typeof v === 'function' || typeof v === 'symbol') return typeof v;
  let s: string;
  try {
    s = JSON.stringify(v) ?? typeof v;
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The BAD_ARGUMENT every option check throws: `name must be expected, got found`. */
export function bad(name: string, expected: string, found: unknown): never {
  throw new EmberError('BAD_ARGUMENT', `${name} must be ${expected}, got ${show(found)}`, { option: name });
}

/** An optional integer in [min, max]. */
export function intOption(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(name, `an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '' : max}`.replace(/\.\.$/, ' or more'), v);
  }
  return v;
}

/** An optional finite number in [min, max] (or (min, max] when minOpen). */
export function numberOption(name: string, v: unknown, min: number, max: number, minOpen = false): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v > max || (minOpen ? v <= min : v < min)) {
    bad(name, `a number in ${minOpen ? '(' : '['}${min}, ${max === Infinity ? '∞)' : `${max}]`}`, v);
  }
  return v;
}

export function boolOption(name: string, v: unknown): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') bad(name, 'true or false', v);
  return v as boolean | undefined;
}

export function overflowOption(name: string, v: unknown): ContextOverflow | undefined {
  if (v !== undefined && !CONTEXT_OVERFLOW_POLICIES.includes(v as ContextOverflow)) {
    bad(name, `one of ${CONTEXT_OVERFLOW_POLICIES.join(', ')}`, v);
  }
  return v as ContextOverflow | undefined;
}

/** The K/V cache storage, default f16. */
export function kvCacheOption(v: unknown): KvCacheType {
  if (v === undefined) return DEFAULT_KV_CACHE;
  if (!KV_CACHE_TYPES.includes(v as KvCacheType)) bad('kvCache', `one of ${KV_CACHE_TYPES.join(', ')}`, v);
  return v as KvCacheType;
}

export function signalOption(v: unknown): AbortSignal | undefined {
  const s = v as AbortSignal | undefined;
  const isSignal = s !== null && typeof s === 'object' && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function';
  if (s !== undefined && !isSignal) {
    bad('signal', 'an AbortSignal', v);
  }
  return s;
}

/** The load options that are plain values: contextLength and maxBatch (integers of at least 1), autotune, fuseDecode, wideAttention, gpuQuantize and precompile (booleans). */
export function checkLoadOptions(o: {
  contextLength?: unknown; maxBatch?: unknown; autotune?: unknown; fuseDecode?: unknown; wideAttention?: unknown; gpuQuantize?: unknown; precompile?: unknown; hubToken?: unknown; lora?: unknown;
}): void {
  if (o.lora !== undefined) {
    if (!Array.isArray(o.lora)) bad('lora', 'an array of { adapter, scale? }', o.lora);
    o.lora.forEach((l: unknown, i) => {
      if (typeof l !== 'object' || l === null || !('adapter' in l)) bad(`lora[${i}]`, 'an object { adapter, scale? } (adapter: a GGUF LoRA adapter\'s path, URL, Hub id, File or bytes)', l);
      const scale = (l as { scale?: unknown }).scale;
      if (scale !== undefined && !(typeof scale === 'number' && Number.isFinite(scale))) bad(`lora[${i}].scale`, 'a finite number', scale);
    });
  }
  // (a token is not echoed into a message that may be logged)
  if (o.hubToken !== undefined && (typeof o.hubToken !== 'string' || o.hubToken === '')) bad('hubToken', 'a non-empty string (a Hugging Face access token)', `a ${typeof o.hubToken}`);
  intOption('contextLength', o.contextLength, 1);
  intOption('maxBatch', o.maxBatch, 1);
  boolOption('autotune', o.autotune);
  boolOption('fuseDecode', o.fuseDecode);
  boolOption('wideAttention', o.wideAttention);
  boolOption('gpuQuantize', o.gpuQuantize);
  boolOption('precompile', o.precompile);
}

/** A prompt: a string, or an array of integer token ids inside the vocabulary. */
export function checkPrompt(prompt: unknown, vocab: number): void {
  if (typeof prompt === 'string') return;
  if (!Array.isArray(prompt)) bad('the prompt', 'a string or an array of token ids', prompt);
  for (let i = 0; i < prompt.length; i++) {
    const t: unknown = prompt[i];
    if (typeof t !== 'number' || !Number.isInteger(t)) bad(`prompt[${i}]`, `an integer token id in 0..${vocab - 1}`, t);
    if (t < 0 || t >= vocab) bad(`prompt[${i}]`, `inside the vocabulary (an integer token id in 0..${vocab - 1})`, t);
  }
}

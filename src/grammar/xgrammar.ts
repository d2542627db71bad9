/**
 * XGrammar (MLC's grammar engine, compiled to wasm; WebLLM, vLLM and SGLang constrain with it), loaded only when
 * a request asks for structured output: it is 1.1 MB, in a chunk of its own.
 *
 * Its package is a UMD bundle in a package marked as ES modules: imported as ESM it exports nothing and sets
 * `globalThis.xgrammar` instead, and in Node its start reads `require` unless a `location` exists. So Node gets a
 * `location` while the module loads and its wasm starts only, and the API is taken from the exports or that global.
 */
import type * as XGrammar from '@mlc-ai/web-xgrammar';
import { EmberError } from '../errors.ts';

export type XGrammarApi = typeof XGrammar;

let loading: Promise<XGrammarApi> | null = null;

export function loadXGrammar(): Promise<XGrammarApi> {
  loading ??= importXGrammar().catch((e: unknown) => {
    loading = null;
    throw new EmberError('UNSUPPORTED', `structured output needs the XGrammar library (@mlc-ai/web-xgrammar), which did not load: ${(e as Error).message}`);
  });
  return loading;
}

async function importXGrammar(): Promise<XGrammarApi> {
  const g = globalThis as { location?: unknown; xgrammar?: XGrammarApi };
  const lent = g.location === undefined;
  if (lent) g.location = { href: 'file:///' };
  try {
    const mod = (await import('@mlc-ai/web-xgrammar')) as Partial<XGrammarApi>;
    const api = mod.GrammarCompiler ? (mod as XGrammarApi) : g.xgrammar;
    if (!api?.GrammarCompiler) throw new Error('the module has no GrammarCompiler');
    // Its wasm starts at the first call, which reads `location` again: start it now.
    (await api.TokenizerInfo.createTokenizerInfo(['a'], 'raw', false, 1, [])).dispose();
    return api;
  } finally {
    if (lent) delete g.location;
  }
}

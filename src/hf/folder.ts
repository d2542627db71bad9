import { EmberError } from '../errors.ts';
import { htmlError, httpGet, isHtml, statusError } from '../loader/http.ts';
import { sourceFromURL, type ByteSource } from '../gguf/source.ts';
import { isNode, requireNodeHost } from '../node_host.ts';

/**
 * The files of a Hugging Face model folder: a local directory (Node) or a base URL whose files are
 * `base + name` (the Hub's `https://huggingface.co/<repo>/resolve/main/`, or any static server with
 * HTTP Range support).
 */
export interface ModelFolder {
  /** The model's name when the folder knows it (a Hub repo); else the last part of its path. */
  readonly name?: string;
  /** How `file` is named in messages: its path or URL. */
  label(file: string): string;
  /**
   * The parsed JSON of `file`, or undefined when the folder has no such file. By URL an HTML answer counts as no file
   * (a dev server's or a single-page app host's fallback page: Vite serves index.html for a path it does not have),
   * unless the file is `required`: then it is a BAD_FILE that says so.
   */
  json(file: string, required?: boolean): Promise<unknown>;
  /** Random access to `file` (raises BAD_FILE when it is missing). */
  source(file: string): Promise<ByteSource>;
}

export function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const loose = pythonFloats(text); // Python's json.dump writes inf and nan as bare Infinity and NaN (a Mamba config's time_step_limit)
    if (loose !== null) return loose;
    throw new EmberError('BAD_FILE', `${label}: not valid JSON (${(e as Error).message})`, { file: label });
  }
}

const PY_FLOAT = '\u0000py-float:';

/** JSON with Python's bare Infinity, -Infinity and NaN as values (outside strings), or null where it is not that either. */
function pythonFloats(text: string): unknown {
  let out = '';
  let found = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') { // copy a string whole, escapes included
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
      continue;
    }
    const word = /^(-?Infinity|NaN)\b/.exec(text.slice(i, i + 9));
    if (word) {
      out += JSON.stringify(PY_FLOAT + word[1]);
      i += word[1].length - 1;
      found = true;
      continue;
    }
    out += ch;
  }
  if (!found) return null;
  try {
    return JSON.parse(out, (_k, v) => (typeof v === 'string' && v.startsWith(PY_FLOAT) ? Number(v.slice(PY_FLOAT.length)) : v));
  } catch {
    return null;
  }
}

export async function openFolder(base: string | URL): Promise<ModelFolder> {
  const s = String(base);
  if (s.startsWith('file:') || (isNode() && !/^(https?|blob):/i.test(s))) return requireNodeHost(`reading ${s}`).openFolder(s);
  if (/^(https?|blob):/i.test(s)) return urlFolder(s);
  return urlFolder(new URL(s, globalThis.location?.href).href);
}

function urlFolder(base: string): ModelFolder {
  const root = base.endsWith('/') ? base : `${base}/`;
  const label = (file: string) => new URL(file, root).href;
  return {
    label,
    async json(file, required = false) {
      const r = await httpGet(label(file));
      if (r.status === 404) return undefined;
      if (!r.ok) throw statusError(label(file), r);
      if (isHtml(r)) {
        await r.body?.cancel();
        if (required) throw htmlError(label(file), file);
        return undefined; // a fallback page for a file the server lacks
      }
      return parseJson(await r.text(), label(file));
    },
    source: (file) => sourceFromURL(label(file)),
  };
}

import { EmberError } from '../errors.ts';
import { openSource, sourceFromURL, type ByteSource } from '../gguf/source.ts';
import { openFolder, type ModelFolder } from '../hf/folder.ts';
import { isHFFolder, type ModelInput } from '../model_input.ts';
import type { DownloadProgress, FileCache } from './file_cache.ts';
import { DEFAULT_HUB, expectedFromTree, hubFileUrl, hubTreeUrl, parseHubId, pickQuantFile, type ExpectedFile, type HubId, type TreeEntry } from './hub_id.ts';
import { htmlError, httpGet, isHtml, isHtmlError, statusError } from './http.ts';
import { isNode, requireNodeHost } from '../node_host.ts';
import { defaultFileCache } from './platform.ts';
import { printable } from '../util/printable.ts';

/** A model input resolved to what the readers take: one GGUF file, or a Hugging Face folder. */
export type OpenedModel =
  | { readonly kind: 'gguf'; readonly source: ByteSource; readonly key: string }
  | { readonly kind: 'hf'; readonly folder: ModelFolder; readonly key: string };

export interface OpenOptions {
  /** Where Hub ids resolve (default https://huggingface.co). */
  hubUrl?: string;
  /** A Hugging Face access token, sent to the Hub (hubUrl) alone, for gated and private repos. */
  hubToken?: string;
  /** Where http(s) downloads are kept ('default': the platform's, made when first needed); null: read by Range requests, nothing kept. */
  fileCache: FileCache | null | 'default';
  onDownload?: DownloadProgress;
  signal?: AbortSignal;
}

/**
 * Resolves what a user names as a model: bytes, a Blob/File, a path (Node), a URL, or a Hub id
 * (src/loader/hub_id.ts). In Node a path that exists wins over a Hub id of the same spelling.
 */
export async function openModel(input: ModelInput, opts: OpenOptions): Promise<OpenedModel> {
  // The default cache is made only for what downloads: a path or bytes need none (nor, in Node, the host's).
  let made: Promise<FileCache | null> | null = null;
  const cache = opts.fileCache;
  const o: Ctx = { ...opts, files: () => (made ??= cache === 'default' ? defaultFileCache() : Promise.resolve(cache)) };
  if (typeof input !== 'string' && !(input instanceof URL)) return gguf(await openSource(input));
  let s = String(input);
  // '' would resolve to the page itself (then fail as "an HTML page"), and Node has no file named ''
  if (s.trim() === '') throw new EmberError('BAD_ARGUMENT', `the model is ${printable(s)}; expected a URL, a path, a Hub id, a File/Blob or bytes`, { input: s });
  if (opts.hubUrl !== undefined) checkUrl(opts.hubUrl, 'hubUrl');
  if (/^https?:/i.test(s)) checkUrl(s, 'the model URL'); // 'http://' would fail later as a bare TypeError
  if (isNode() && !/^[a-z][a-z\d+.-]*:\/\//i.test(s) && (await requireNodeHost(`reading ${s}`).exists(s))) return local(s);
  const id = typeof input === 'string' ? parseHubId(s) : null;
  if (id) return openHub(id, o);
  const page = (globalThis as { location?: { href: string } }).location?.href;
  if (!isNode() && page && !/^[a-z][a-z\d+.-]*:/i.test(s)) s = checkUrl(s, 'the model URL', page); // relative to the page
  const files = /^https?:/i.test(s) ? await o.files() : null;
  if (files) {
    if (await isHFFolder(s)) return hfFolder(cachedFolder(s.replace(/config\.json$/, ''), o, null));
    return gguf(await files.open(s, { onProgress: o.onDownload, signal: o.signal }));
  }
  return local(s);
}

/**
 * `s` (resolved against `base`) as an absolute URL, or a BAD_ARGUMENT naming it: the URL constructor's
 * own TypeError ("Invalid base URL") names neither the input nor the option it came from.
 */
function checkUrl(s: string, what: string, base?: string): string {
  try {
    return new URL(s, base).href;
  } catch {
    throw new EmberError('BAD_ARGUMENT', `${what} ${printable(s, 200)} is not a valid URL`, { input: s });
  }
}

/** A path, a file: / blob: / data: URL, an uncached URL: as the readers always took them. */
async function local(s: string): Promise<OpenedModel> {
  if (await isHFFolder(s)) return hfFolder(await openFolder(s.replace(/config\.json$/, '')), s);
  return gguf(await openSource(s));
}

/** OpenOptions with the cache made on first use; `headers` go with every request (a Hub id's token). */
interface Ctx extends Omit<OpenOptions, 'fileCache'> {
  files(): Promise<FileCache | null>;
  headers?: Record<string, string>;
}

const gguf = (source: ByteSource): OpenedModel => ({ kind: 'gguf', source, key: `gguf|${source.name}|${source.size}` });
const hfFolder = (folder: ModelFolder, key = folder.label('')): OpenedModel => ({ kind: 'hf', folder, key: `hf|${key}` });

async function openHub(id: HubId, ctx: Ctx): Promise<OpenedModel> {
  const hub = ctx.hubUrl ?? DEFAULT_HUB;
  const o: Ctx = { ...ctx, headers: ctx.hubToken ? { Authorization: `Bearer ${ctx.hubToken}` } : undefined };
  const where = `${id.repo}@${id.revision}`;
  if (id.quant) {
    const listing = await treeListing(hub, id, '', o, false);
    const entry = pickQuantFile(listing!, id.quant, where);
    return gguf(await fetchFile(hubFileUrl(hub, id, entry.path), expectedFromTree(entry), o, 'a GGUF file'));
  }
  if (id.file) {
    const dir = id.file.includes('/') ? id.file.slice(0, id.file.lastIndexOf('/')) : '';
    const listing = await treeListing(hub, id, dir, o, true);
    const entry = listing?.find((e) => e.path === id.file);
    if (listing && !entry) {
      const names = listing.filter((e) => e.type === 'file').map((e) => e.path).join(', ');
      throw new EmberError('NETWORK', `${hubFileUrl(hub, id, id.file)}: ${where} has no file ${id.file} (it has: ${names})`, { url: hubFileUrl(hub, id, id.file), status: 404 });
    }
    return gguf(await fetchFile(hubFileUrl(hub, id, id.file), entry && expectedFromTree(entry), o, 'a GGUF file'));
  }
  const dir = id.dir ?? '';
  const listing = await treeListing(hub, id, dir, o, true);
  const base = hubFileUrl(hub, id, dir);
  const name = dir.replace(/\/+$/, '').split('/').pop() || id.repo.split('/')[1];
  const files = listing && new Map(listing.filter((e) => e.type === 'file').map((e) => [e.path.slice(dir.length), e]));
  const dirs = new Set(listing?.filter((e) => e.type === 'directory').map((e) => e.path.slice(dir.length).replace(/^\/+/, '')));
  const folder = cachedFolder(base.endsWith('/') ? base : `${base}/`, o, files, name, dirs);
  // No listing (a 404 from the API: a mirror without one, or no such repo) and no config.json: say which, not "config.json is missing"
  if (!listing && (await folder.json('config.json')) === undefined) {
    throw new EmberError('NETWORK', `${where}${dir ? `/${dir}` : ''}: not found on ${hub} (HTTP 404 for its listing and its config.json): check the repo id, the revision and the folder`, { url: base, status: 404 });
  }
  return hfFolder(folder);
}

/** The file at `url`, through the downloads cache when there is one, else by Range requests. */
async function fetchFile(url: string, expect: ExpectedFile | undefined, o: Ctx, what: string): Promise<ByteSource> {
  const files = await o.files();
  if (files) return files.open(url, { expect, onProgress: o.onDownload, signal: o.signal, what, headers: o.headers });
  return sourceFromURL(url, o.headers);
}

async function readAllText(src: ByteSource): Promise<string> {
  try {
    return new TextDecoder().decode(await src.read(0, src.size));
  } finally {
    await src.close?.();
  }
}

function parseJson(text: string, url: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EmberError('BAD_FILE', `${url}: not valid JSON (${(e as Error).message})`, { url });
  }
}

/** A small JSON file, kept in the cache like any download (so a second load needs no request). */
async function fetchJson(url: string, expect: ExpectedFile | undefined, o: Ctx, what: string): Promise<unknown> {
  const files = await o.files();
  if (files) {
    const text = await readAllText(await files.open(url, { expect, signal: o.signal, what, headers: o.headers }));
    try {
      return parseJson(text, url);
    } catch (e) {
      await files.delete(url); // do not keep serving a broken answer
      throw e;
    }
  }
  const r = await httpGet(url, { signal: o.signal, headers: o.headers });
  if (!r.ok) throw statusError(url, r);
  if (isHtml(r)) throw htmlError(url, what);
  return parseJson(await r.text(), url);
}

/**
 * The Hub's listing of a folder of the repo (paths from the repo's root), or null when `optional`
 * and the server has no listing API (a plain mirror of the resolve URLs).
 */
async function treeListing(hub: string, id: HubId, dir: string, o: Ctx, optional: boolean): Promise<TreeEntry[] | null> {
  const url = hubTreeUrl(hub, id, dir);
  let v: unknown;
  try {
    v = await fetchJson(url, undefined, o, 'a Hub file listing (JSON)');
  } catch (e) {
    if (optional && e instanceof EmberError && e.code === 'NETWORK' && e.details.status === 404) return null;
    throw e;
  }
  if (!Array.isArray(v) || !v.every((e) => e && typeof e === 'object' && typeof e.path === 'string')) {
    throw new EmberError('BAD_FILE', `${url}: expected the Hub's listing (a JSON array of {type, path, size}), got ${JSON.stringify(v).slice(0, 80)}`, { url });
  }
  return v as TreeEntry[];
}

/**
 * A model folder at a base URL whose files are downloaded into the cache (or read by Range when
 * there is none). With the Hub's listing, absent files are known without a request, and each file's
 * size and sha256 are checked.
 */
function cachedFolder(base: string, o: Ctx, files: Map<string, TreeEntry> | null, name?: string, dirs = new Set<string>()): ModelFolder {
  const label = (file: string) => new URL(file, base).href;
  // The listing is of the folder's own files; one in a subfolder it lists (sentence-transformers' 1_Pooling/) is asked for.
  const absent = (file: string) => files !== null && !files.has(file) && !dirs.has(file.slice(0, file.lastIndexOf('/')));
  const expect = (file: string) => {
    const e = files?.get(file);
    return e && expectedFromTree(e);
  };
  return {
    name,
    label,
    async json(file, required = false) {
      if (absent(file)) return undefined;
      try {
        return await fetchJson(label(file), expect(file), o, file);
      } catch (e) {
        if (!files?.has(file) && e instanceof EmberError && e.code === 'NETWORK' && e.details.status === 404) return undefined;
        if (!files && !required && isHtmlError(e)) return undefined; // a fallback page for a file the server lacks
        throw e;
      }
    },
    async source(file) {
      if (absent(file)) throw new EmberError('BAD_FILE', `${label(file)}: file is missing (the repo's listing has no ${file})`, { file: label(file) });
      return fetchFile(label(file), expect(file), o, file);
    },
  };
}

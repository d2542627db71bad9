import { EmberError } from '../errors.ts';
import type { ByteSource } from '../gguf/source.ts';
import type { ExpectedFile } from './hub_id.ts';
import { htmlError, httpGet, isHtml, isStall, STALL_MS, statedEtag, statedSize, statusError } from './http.ts';
import { sha256, type Hasher } from './sha256.ts';

/** What a store keeps beside a downloaded file. */
export interface FileMeta {
  readonly url: string;
  /** -1 while unknown (a server that sends no length). */
  readonly size: number;
  /** The server's ETag (the Hub's X-Linked-Etag), used to resume only the same file. */
  readonly etag: string | null;
  /** Verified at the end of the download when known (the Hub's listing, an ETag that is one). */
  readonly sha256: string | null;
  /** Set only once every byte is stored and verified: an incomplete entry is never served. */
  readonly complete: boolean;
}

/** An entry as `list()` shows it. */
export interface CacheEntry {
  readonly url: string;
  /** The file's size (-1 when not known yet). */
  readonly size: number;
  /** Bytes kept: the whole file, or what an interrupted download left to resume from. */
  readonly storedBytes: number;
  readonly complete: boolean;
  readonly sha256: string | null;
}

export interface FileWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Marks the entry complete under `meta`. */
  commit(meta: FileMeta): Promise<void>;
  /** The download stopped early: keep what is stored for a resume. */
  close(): Promise<void>;
}

/** Where downloaded files live: Cache Storage in a page (browser_store.ts), a folder in Node (node_cache.ts). */
export interface FileStore {
  /** Where, for messages: "Cache Storage 'emberlm-files'", a folder path. */
  readonly where: string;
  meta(url: string): Promise<FileMeta | null>;
  /** The bytes of a complete entry, or null when what is stored does not add up to meta.size. */
  open(url: string, meta: FileMeta): Promise<ByteSource | null>;
  /** How many leading bytes of an incomplete entry are stored. */
  storedBytes(url: string, meta: FileMeta): Promise<number>;
  /** The first `bytes` stored bytes of an incomplete entry, in order (to resume the hash). */
  readPrefix(url: string, bytes: number): AsyncIterable<Uint8Array>;
  /** Starts (keep = 0) or continues (keep = stored bytes) writing an entry. */
  begin(url: string, meta: FileMeta, keep: number): Promise<FileWriter>;
  delete(url: string): Promise<boolean>;
  urls(): Promise<string[]>;
  /** A faster hasher than the portable one, where the platform has it. */
  hasher?(): Hasher;
}

/** Download progress: bytes of this file. `total` is null when the server does not say. */
export type DownloadProgress = (loaded: number, total: number | null, url: string) => void;

export interface DownloadOptions {
  /** What the file should be (the Hub's listing): checked, and the size known before the first byte. */
  expect?: ExpectedFile;
  onProgress?: DownloadProgress;
  signal?: AbortSignal;
  /** For messages: 'a model file', 'config.json'. */
  what?: string;
  /** How long the answer, and then each chunk, may take before the download fails (default STALL_MS, 60 s). */
  stallMs?: number;
  /** Sent with the request (a Hub token's Authorization). */
  headers?: Record<string, string>;
}

/**
 * Files fetched once and served from the store afterwards. An entry is read back only when complete
 * (every byte stored, the size and, where known, the sha256 checked); an interrupted download keeps
 * its stored prefix and the next open resumes it with a Range request (If-Range on its ETag, so a
 * changed file starts over). Entries are not revalidated: the second load makes no request.
 */
export class FileCache {
  /** The last open of each URL under way: opens of one URL run one after another, so a file downloads once. */
  private readonly opening = new Map<string, Promise<ByteSource>>();

  constructor(readonly store: FileStore) {}

  /** The cached file, downloading it (or the rest of it) first when needed. */
  open(url: string, o: DownloadOptions = {}): Promise<ByteSource> {
    const before = this.opening.get(url);
    const mine = (before ? before.then(() => {}, () => {}) : Promise.resolve()).then(() => this.openNow(url, o));
    this.opening.set(url, mine);
    const forget = () => {
      if (this.opening.get(url) === mine) this.opening.delete(url);
    };
    mine.then(forget, forget);
    return mine;
  }

  private async openNow(url: string, o: DownloadOptions): Promise<ByteSource> {
    const meta = await this.store.meta(url);
    if (meta?.complete && !conflicts(meta, o.expect)) {
      const src = await this.store.open(url, meta);
      if (src) return src;
    }
    return this.download(url, meta && !meta.complete && !conflicts(meta, o.expect) ? meta : null, o);
  }

  async list(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    for (const url of await this.store.urls()) {
      const m = await this.store.meta(url);
      if (!m) continue;
      const storedBytes = m.complete ? m.size : await this.store.storedBytes(url, m);
      out.push({ url, size: m.size, storedBytes, complete: m.complete, sha256: m.sha256 });
    }
    return out;
  }

  /** Bytes stored, all entries together. */
  async size(): Promise<number> {
    return (await this.list()).reduce((s, e) => s + e.storedBytes, 0);
  }

  /** Deletes the entries whose URL is `url`, or starts with it when it ends in '/' (a whole repo). */
  async delete(url: string): Promise<number> {
    let n = 0;
    for (const u of await this.store.urls()) {
      if (u === url || (url.endsWith('/') && u.startsWith(url))) n += (await this.store.delete(u)) ? 1 : 0;
    }
    return n;
  }

  async clear(): Promise<number> {
    let n = 0;
    for (const u of await this.store.urls()) n += (await this.store.delete(u)) ? 1 : 0;
    return n;
  }

  private async download(url: string, partial: FileMeta | null, o: DownloadOptions, retried = false): Promise<ByteSource> {
    const have = partial ? await this.store.storedBytes(url, partial) : 0;
    const headers: Record<string, string> = { ...o.headers };
    if (have > 0) {
      headers.Range = `bytes=${have}-`;
      if (partial?.etag) headers['If-Range'] = `"${partial.etag}"`;
    }
    // no-store: this cache keeps the file; the browser's HTTP cache would keep a second copy and resume on its own
    const r = await httpGet(url, { headers, signal: o.signal, cache: 'no-store' }, o.stallMs);
    if (r.status === 416 && have > 0 && !retried) {
      await r.body?.cancel();
      await this.store.delete(url); // the stored prefix is not a prefix of what the server has
      return this.download(url, null, o, true);
    }
    if (!r.ok) {
      await r.body?.cancel();
      throw statusError(url, r);
    }
    if (isHtml(r)) {
      await r.body?.cancel();
      throw htmlError(url, o.what);
    }
    let start = 0;
    if (r.status === 206) {
      const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(r.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        await r.body?.cancel();
        throw new EmberError('NETWORK', `${url}: asked for bytes from ${have}, the server sent "${r.headers.get('content-range')}"`, { url });
      }
      start = have;
    }
    const etag = statedEtag(r) ?? (start > 0 ? partial?.etag ?? null : null);
    const size = o.expect?.size ?? statedSize(r) ?? (start > 0 && partial ? partial.size : -1);
    const hashFromEtag = etag && /^[0-9a-f]{64}$/.test(etag) ? etag : null;
    const meta: FileMeta = { url, size, etag, sha256: o.expect?.sha256 ?? hashFromEtag, complete: false };
    const hasher = meta.sha256 ? (this.store.hasher?.() ?? sha256()) : null;
    if (hasher && start > 0) for await (const chunk of this.store.readPrefix(url, start)) hasher.update(chunk);

    const writer = await this.store.begin(url, meta, start);
    const total = size >= 0 ? size : null;
    let done = start;
    o.onProgress?.(done, total, url);
    const reader = r.body!.getReader();
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (e) {
          if (o.signal?.aborted) throw new EmberError('ABORTED', `the download of ${url} was aborted`, { url });
          throw interrupted(url, done, total, isStall(e) ? `no data for ${(o.stallMs ?? STALL_MS) / 1000} s` : (e as Error).message);
        }
        if (next.done) break;
        const chunk = next.value;
        if (done === 0 && isHtml(r, chunk)) throw htmlError(url, o.what);
        if (total !== null && done + chunk.length > total) {
          await this.store.delete(url);
          throw new EmberError('BAD_FILE', `${url}: the server sent more than the ${total} bytes it announced`, { url, size: total });
        }
        await writer.write(chunk);
        hasher?.update(chunk);
        done += chunk.length;
        o.onProgress?.(done, total, url);
      }
      if (total !== null && done < total) throw interrupted(url, done, total, 'the server ended the answer early');
    } catch (e) {
      await reader.cancel().catch(() => {});
      await writer.close().catch(() => {});
      throw e;
    }
    const digest = hasher?.digest();
    if (digest && digest !== meta.sha256) {
      await writer.close();
      await this.store.delete(url);
      throw new EmberError('BAD_FILE', `${url}: sha256 of the download is ${digest}, expected ${meta.sha256}; the entry was discarded`, { url, expected: meta.sha256, found: digest });
    }
    const final = { ...meta, size: done, complete: true };
    await writer.commit(final);
    const src = await this.store.open(url, final);
    if (!src) throw new EmberError('BAD_FILE', `${url}: ${this.store.where} did not keep the ${done} bytes just written`, { url });
    return src;
  }
}

/** A stored entry that the Hub's listing says is another file (a new revision of `main`). */
function conflicts(meta: FileMeta, expect: ExpectedFile | undefined): boolean {
  if (!expect) return false;
  if (expect.sha256 && meta.sha256 && expect.sha256 !== meta.sha256) return true;
  return expect.size !== undefined && meta.size >= 0 && expect.size !== meta.size;
}

function interrupted(url: string, done: number, total: number | null, why: string): EmberError {
  const of = total === null ? '' : ` of ${total}`;
  return new EmberError('NETWORK', `${url}: the download stopped after ${done}${of} bytes (${why}); loading again resumes from there`, { url, done, total });
}

import { sourceFromBlob, type ByteSource } from '../gguf/source.ts';
import { FileCache, type FileMeta, type FileStore, type FileWriter } from './file_cache.ts';

/** Parts a download is stored in: lost on an interruption is at most the part being filled. */
const PART_BYTES = 8 << 20;

/**
 * Downloads in the browser's Cache Storage (in a page or a worker of a secure context; survives
 * reloads). A file is kept as fixed-size parts `…/part/<i>` beside a JSON meta; a complete file is read
 * back as one Blob of its parts (the browser keeps them on disk, nothing is copied into memory).
 */
export function browserFileCache(name = 'emberlm-files', partBytes = PART_BYTES): FileCache {
  return new FileCache(cacheStorageStore(name, partBytes));
}

export const hasCacheStorage = (): boolean => typeof caches !== 'undefined' && typeof caches.open === 'function';

function cacheStorageStore(name: string, partBytes: number): FileStore {
  const root = 'https://emberlm.files/';
  const key = (url: string, what: string) => `${root}${encodeURIComponent(url)}/${what}`;
  const open = () => caches.open(name);
  const partCount = (size: number) => Math.ceil(size / partBytes);
  async function parts(c: Cache, url: string, max: number): Promise<Response[]> {
    const out: Response[] = [];
    for (let i = 0; i < max; i++) {
      const r = await c.match(key(url, `part/${i}`));
      if (!r) break;
      out.push(r);
    }
    return out;
  }
  const partSize = (r: Response) => Number(r.headers.get('x-part-bytes') ?? -1);
  const putMeta = async (c: Cache, meta: FileMeta) =>
    c.put(key(meta.url, 'meta'), new Response(JSON.stringify(meta), { headers: { 'content-type': 'application/json' } }));
  const store: FileStore = {
    where: `Cache Storage "${name}"`,
    async meta(url) {
      const r = await (await open()).match(key(url, 'meta'));
      if (!r) return null;
      try {
        const m = (await r.json()) as FileMeta;
        return m.url === url ? m : null;
      } catch {
        return null;
      }
    },
    async open(url, meta): Promise<ByteSource | null> {
      const c = await open();
      const n = partCount(meta.size);
      const found = await parts(c, url, n);
      if (found.length !== n) return null;
      const blob = new Blob(await Promise.all(found.map((r) => r.blob())));
      if (blob.size !== meta.size) return null; // a damaged part: not served
      return sourceFromBlob(blob, url);
    },
    async storedBytes(url) {
      // every kept part is full (only the last part of a complete file is shorter)
      const found = await parts(await open(), url, Number.MAX_SAFE_INTEGER);
      let n = 0;
      while (n < found.length && partSize(found[n]) === partBytes) n++;
      return n * partBytes;
    },
    async *readPrefix(url, bytes) {
      const found = await parts(await open(), url, Math.ceil(bytes / partBytes));
      for (const r of found) yield new Uint8Array(await r.arrayBuffer());
    },
    async begin(url, meta, keep): Promise<FileWriter> {
      const c = await open();
      let index = Math.floor(keep / partBytes);
      if (keep === 0) for (const k of await c.keys()) if (k.url.startsWith(key(url, 'part/'))) await c.delete(k);
      await putMeta(c, meta);
      let buf = new Uint8Array(partBytes);
      let fill = 0;
      const flush = async () => {
        const body = buf.slice(0, fill);
        await c.put(key(url, `part/${index++}`), new Response(body, { headers: { 'x-part-bytes': String(fill) } }));
        fill = 0;
      };
      return {
        async write(chunk) {
          let off = 0;
          while (off < chunk.length) {
            const take = Math.min(partBytes - fill, chunk.length - off);
            buf.set(chunk.subarray(off, off + take), fill);
            fill += take;
            off += take;
            if (fill === partBytes) await flush();
          }
        },
        async commit(final) {
          if (fill > 0) await flush();
          await putMeta(c, final);
        },
        async close() {
          buf = new Uint8Array(0); // a partly filled part is dropped: the resume refetches it
        },
      };
    },
    async delete(url) {
      const c = await open();
      let had = false;
      for (const k of await c.keys()) if (k.url.startsWith(key(url, ''))) had = (await c.delete(k)) || had;
      return had;
    },
    async urls() {
      const keys = await (await open()).keys();
      return keys.filter((k) => k.url.endsWith('/meta')).map((k) => decodeURIComponent(k.url.slice(root.length, -'/meta'.length)));
    },
  };
  return store;
}

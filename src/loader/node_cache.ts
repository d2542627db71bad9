/**
 * Node only (reached through the Node host, src/node/host.ts): downloads in a cache folder. `EMBERLM_CACHE`, else the platform's cache directory
 * (~/.cache/emberlm, or $XDG_CACHE_HOME/emberlm; ~/Library/Caches/emberlm on macOS; %LOCALAPPDATA%\emberlm
 * on Windows). Each file is `<root>/files/<sha256 of its URL>.bin` beside a `.json` of its FileMeta;
 * a download writes `.part` and renames it once complete and verified.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ByteSource } from '../gguf/source.ts';
import { sourceFromPath } from '../gguf/source_node.ts';
import type { WeightCache } from '../model/weight_cache.ts';
import { folderWeightCache } from '../model/weight_cache_node.ts';
import { FileCache, type FileMeta, type FileStore, type FileWriter } from './file_cache.ts';
import type { Hasher } from './sha256.ts';

export function defaultCacheRoot(): string {
  const env = process.env;
  if (env.EMBERLM_CACHE) return env.EMBERLM_CACHE;
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'emberlm');
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'emberlm');
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'emberlm');
}

/** Downloads cached in `<root>/files` (root: `defaultCacheRoot()`). */
export function nodeFileCache(root = defaultCacheRoot()): FileCache {
  return new FileCache(folderStore(join(root, 'files')));
}

/** Quantized weights cached in `<root>/weights` (see src/model/weight_cache.ts). */
export function nodeWeightCache(root = defaultCacheRoot()): Promise<WeightCache> {
  return folderWeightCache(join(root, 'weights'));
}

const nodeHasher = (): Hasher => {
  const h = createHash('sha256');
  return { update: (b) => void h.update(b), digest: () => h.digest('hex') };
};

function folderStore(dir: string): FileStore {
  const base = (url: string) => join(dir, createHash('sha256').update(url).digest('hex').slice(0, 40));
  const size = (p: string) => fs.stat(p).then((s) => s.size, () => -1);
  async function writeMeta(url: string, meta: FileMeta): Promise<void> {
    await fs.writeFile(`${base(url)}.json.tmp`, JSON.stringify(meta));
    await fs.rename(`${base(url)}.json.tmp`, `${base(url)}.json`); // never a half-written meta
  }
  return {
    where: dir,
    async meta(url) {
      const text = await fs.readFile(`${base(url)}.json`, 'utf8').catch(() => null);
      if (text === null) return null;
      try {
        const m = JSON.parse(text) as FileMeta;
        return m.url === url ? m : null;
      } catch {
        return null; // a damaged meta: the entry is downloaded again
      }
    },
    async open(url, meta): Promise<ByteSource | null> {
      if ((await size(`${base(url)}.bin`)) !== meta.size) return null; // truncated or replaced: not served
      const src = await sourceFromPath(`${base(url)}.bin`);
      return { name: url, size: src.size, read: (o, n) => src.read(o, n), close: () => src.close!() };
    },
    async storedBytes(url) {
      return Math.max(0, await size(`${base(url)}.part`));
    },
    async *readPrefix(url, bytes) {
      if (bytes > 0) yield* createReadStream(`${base(url)}.part`, { start: 0, end: bytes - 1 }) as AsyncIterable<Uint8Array>;
    },
    async begin(url, meta, keep): Promise<FileWriter> {
      await fs.mkdir(dir, { recursive: true });
      await fs.rm(`${base(url)}.bin`, { force: true });
      await writeMeta(url, meta);
      const part = `${base(url)}.part`;
      const fh = await fs.open(part, keep > 0 ? 'r+' : 'w');
      await fh.truncate(keep);
      let pos = keep;
      return {
        async write(chunk) {
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, pos);
            off += bytesWritten;
            pos += bytesWritten;
          }
        },
        async commit(final) {
          await fh.sync();
          await fh.close();
          await fs.rename(part, `${base(url)}.bin`);
          await writeMeta(url, final);
        },
        async close() {
          await fh.close();
        },
      };
    },
    async delete(url) {
      const had = (await size(`${base(url)}.json`)) >= 0;
      await Promise.all(['.json', '.bin', '.part'].map((ext) => fs.rm(`${base(url)}${ext}`, { force: true })));
      return had;
    },
    async urls() {
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      const out: string[] = [];
      for (const n of names.filter((f) => f.endsWith('.json'))) {
        const text = await fs.readFile(join(dir, n), 'utf8').catch(() => null);
        try {
          if (text) out.push((JSON.parse(text) as FileMeta).url);
        } catch {
          // a damaged meta is skipped; open() downloads its file again
        }
      }
      return out;
    },
    hasher: nodeHasher,
  };
}

import * as fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { WeightCache } from './weight_cache.ts';

/** A cache in a local folder (Node): one file per matrix, named by a hash of its key. */
export async function folderWeightCache(dir: string): Promise<WeightCache> {
  await fs.mkdir(dir, { recursive: true });
  const file = (key: string) => join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.bin`);
  return {
    async get(key) {
      return fs.readFile(file(key)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength), () => null);
    },
    async put(key, bytes) {
      const f = file(key);
      await fs.writeFile(`${f}.tmp`, bytes);
      await fs.rename(`${f}.tmp`, f); // never leave a half-written entry under the real name
    },
  };
}

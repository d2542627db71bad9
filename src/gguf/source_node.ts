import { open } from 'node:fs/promises';
import { EmberError } from '../errors.ts';
import { checkRange, type ByteSource } from './source.ts';

/** A local file (Node only). */
export async function sourceFromPath(path: string): Promise<ByteSource> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new EmberError('BAD_FILE', `${path}: cannot open (${(e as Error).message})`);
  }
  const stat = await fh.stat();
  if (!stat.isFile()) {
    await fh.close();
    throw new EmberError('BAD_FILE', `${path}: is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}; expected a model file`);
  }
  const size = stat.size;
  const handle = fh;
  const src: ByteSource = {
    name: path,
    size,
    async read(offset, length) {
      checkRange(src, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(out, done, length - done, offset + done));
        } catch (e) {
          throw new EmberError('BAD_FILE', `${path}: cannot read ${length} bytes at offset ${offset} (${(e as Error).message})`);
        }
        if (bytesRead === 0) throw new EmberError('BAD_FILE', `${path}: unexpected end of file at ${offset + done}`);
        done += bytesRead;
      }
      return out;
    },
    async close() {
      await handle.close();
    },
  };
  return src;
}

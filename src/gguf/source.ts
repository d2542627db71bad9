import { EmberError } from '../errors.ts';
import { isNode, requireNodeHost } from '../node_host.ts';

/**
 * Random-access bytes of a model file. Reads are by range so that a multi-GB file is never held
 * twice in memory: the reader parses the header from small reads and each tensor is read once,
 * converted, and uploaded.
 */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    throw new EmberError('BAD_FILE', `${src.name}: read of ${length} bytes at offset ${offset} runs past the end of the file (${src.size} bytes); the file is truncated or corrupt`, { offset, length, size: src.size });
  }
}

export function sourceFromBuffer(buf: ArrayBuffer | Uint8Array, name = 'buffer'): ByteSource {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const src: ByteSource = {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(src, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
  return src;
}

export function sourceFromBlob(blob: Blob, name = (blob as File).name ?? 'blob'): ByteSource {
  const src: ByteSource = {
    name,
    size: blob.size,
    async read(offset, length) {
      checkRange(src, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
  return src;
}

/** A URL read with HTTP Range requests (the server must support them, as the Hugging Face Hub does). */
export async function sourceFromURL(url: string): Promise<ByteSource> {
  const head = await fetch(url, { method: 'HEAD' });
  if (!head.ok) throw new EmberError('BAD_FILE', `${url}: HTTP ${head.status} ${head.statusText}`);
  const size = Number(head.headers.get('content-length'));
  if (!Number.isFinite(size) || size <= 0) throw new EmberError('BAD_FILE', `${url}: server sent no Content-Length, so the file cannot be read by range`);
  const src: ByteSource = {
    name: url,
    size,
    async read(offset, length) {
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      const r = await fetch(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      if (r.status !== 206 && !(r.status === 200 && offset === 0 && length === size)) {
        throw new EmberError('BAD_FILE', `${url}: expected a 206 partial response to a Range request, got HTTP ${r.status}`);
      }
      return new Uint8Array(await r.arrayBuffer());
    },
  };
  return src;
}

/** Resolves what a user passes as a model: a path (Node), a URL, a Blob/File, or bytes. */
export async function openSource(input: string | URL | Blob | ArrayBuffer | Uint8Array): Promise<ByteSource> {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return sourceFromBuffer(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return sourceFromBlob(input);
  const s = String(input);
  if (/^(https?|blob|data):/i.test(s)) return sourceFromURL(s);
  if (isNode()) return requireNodeHost(`reading ${s}`).openPath(s.replace(/^file:\/\//, ''));
  return sourceFromURL(new URL(s, globalThis.location?.href).href);
}

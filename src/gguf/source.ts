import { EmberError } from '../errors.ts';
import { isNode, requireNodeHost } from '../node_host.ts';
import { htmlError, httpGet, isHtml, isStall, statedSize, statusError } from '../loader/http.ts';

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

/**
 * A URL read with HTTP Range requests (as the Hugging Face Hub serves them). A server that states no
 * size, or ignores Range, is read whole into memory instead. Failures are EmberErrors naming the URL.
 */
export async function sourceFromURL(url: string, headers: Record<string, string> = {}): Promise<ByteSource> {
  const head = await httpGet(url, { method: 'HEAD', headers });
  if (!head.ok) throw statusError(url, head);
  if (isHtml(head)) throw htmlError(url);
  const size = statedSize(head);
  if (size === undefined || head.headers.get('accept-ranges') === 'none') return sourceFromBuffer(await readWhole(url, headers), url);
  const src: ByteSource = {
    name: url,
    size,
    async read(offset, length) {
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      const r = await httpGet(url, { headers: { ...headers, Range: `bytes=${offset}-${offset + length - 1}` } });
      if (!r.ok) throw statusError(url, r);
      if (r.status !== 206 && !(r.status === 200 && offset === 0 && length === size)) {
        throw new EmberError('BAD_FILE', `${url}: expected a 206 partial response to a Range request, got HTTP ${r.status}`, { url });
      }
      try {
        return new Uint8Array(await r.arrayBuffer());
      } catch (e) {
        if (isStall(e)) throw e;
        throw new EmberError('NETWORK', `${url}: the read of bytes ${offset}..${offset + length} stopped (${(e as Error).message})`, { url });
      }
    },
  };
  return src;
}

/** The whole body of `url` (a server without Content-Length or Range support). */
async function readWhole(url: string, headers: Record<string, string>): Promise<Uint8Array> {
  const r = await httpGet(url, { headers });
  if (!r.ok) throw statusError(url, r);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await r.arrayBuffer());
  } catch (e) {
    if (isStall(e)) throw e;
    throw new EmberError('NETWORK', `${url}: the download stopped (${(e as Error).message})`, { url });
  }
  if (isHtml(r, bytes)) throw htmlError(url);
  return bytes;
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

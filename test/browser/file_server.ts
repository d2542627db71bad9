/**
 * A static file server for browser tests, laid out as the Hugging Face Hub serves files
 * (`/<org>/<name>/resolve/<revision>/<path>`): HEAD, GET with a Range, ETag, a 404 for anything else, and
 * CORS headers unless `cors` is false (to see what a page meets on a server without them).
 */
import { createServer, type Server } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface FileServer {
  readonly url: string;
  /** Requests seen, as "METHOD path [range]". */
  readonly log: string[];
  close(): Promise<void>;
}

export async function serveFiles(files: Record<string, string>, { cors = true } = {}): Promise<FileServer> {
  const log: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    log.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Allow-Headers', 'Range');
      res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges, ETag');
    }
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    const file = files[path];
    if (!file) return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Entry not found');
    const size = statSync(file).size;
    const headers = { 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', ETag: `"${size}"` };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const [start, end] = range ? [Number(range[1]), range[2] ? Math.min(Number(range[2]), size - 1) : size - 1] : [0, size - 1];
    if (range && start >= size) return void res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
    res.writeHead(range ? 206 : 200, {
      ...headers, 'Content-Length': String(end - start + 1), ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : readFileSync(file).subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

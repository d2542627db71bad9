/**
 * A local stand-in for the Hugging Face Hub's URL layout, on 127.0.0.1, serving files of
 * ../shared/models: `api/models/<repo>/tree/<rev>[/<dir>]` (the listing, with `lfs.oid` = sha256 for
 * model files) and `<repo>/resolve/<rev>/<path>` (GET/HEAD with Range and If-Range, ETag, X-Linked-Etag,
 * X-Linked-Size, CORS). It logs every request and can be told to cut a download short, to answer
 * with an HTML page, or to serve other bytes than its listing promises.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sharedModelPath } from './models.ts';

export interface MockFile {
  /** Path in the repo. */
  readonly path: string;
  /** Fixture under ../shared/models (or an absolute path: a folder made for a test). */
  readonly fixture: string;
}

export interface MockRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | null;
  /** Whether it carried an Authorization header. */
  readonly auth?: true;
}

interface Stored {
  bytes: Uint8Array;
  sha256: string;
  lfs: boolean;
}

export class MockHub {
  readonly requests: MockRequest[] = [];
  /** Path (URL pathname) -> bytes after which the next GET of it is cut (the socket destroyed). */
  readonly cutAfter = new Map<string, number>();
  /** Pathnames answered with a 200 HTML page. */
  readonly html = new Set<string>();
  /** Pathnames answered without Content-Length or X-Linked-Size (chunked), as some servers and proxies do. */
  readonly noLength = new Set<string>();
  /** Pathnames whose bytes are altered (one byte flipped) while the listing keeps the true sha256. */
  readonly corrupt = new Set<string>();
  /** Gated repos and the token each wants (`Authorization: Bearer <token>`); others answer 401, as the Hub does. */
  readonly gated = new Map<string, string>();
  private readonly repos = new Map<string, Map<string, Stored>>();
  private server: Server | null = null;
  url = '';

  /** Adds a repo; revisions `main` and `v1` both serve it. */
  repo(id: string, files: readonly MockFile[]): this {
    const m = new Map<string, Stored>();
    for (const f of files) {
      const bytes = new Uint8Array(readFileSync(sharedModelPath(f.fixture)));
      const lfs = /\.(gguf|safetensors)$/.test(f.path);
      m.set(f.path, { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), lfs });
    }
    this.repos.set(id, m);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** Requests for resolve URLs (files), optionally only those whose path matches. */
  fileRequests(match?: RegExp): MockRequest[] {
    return this.requests.filter((r) => r.path.includes('/resolve/') && (!match || match.test(r.path)));
  }

  bytesOf(repo: string, path: string): Uint8Array {
    return this.repos.get(repo)!.get(path)!.bytes;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'ETag, X-Linked-Etag, X-Linked-Size, Content-Range, Accept-Ranges, Content-Length');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'Access-Control-Allow-Headers': 'Range, If-Range', 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    this.requests.push({ method: req.method!, path, range: req.headers.range ?? null, ...(req.headers.authorization ? { auth: true as const } : {}) });
    const repo = /^\/(?:api\/models\/)?([^/]+\/[^/]+)\//.exec(path)?.[1];
    const token = repo && this.gated.get(repo);
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'Content-Type': 'text/plain', 'X-Error-Code': 'GatedRepo' }).end('Access to this model is restricted');
      return;
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)\/?(.*)$/.exec(path);
    if (tree) return this.tree(res, tree[1], tree[2], tree[3]);
    const file = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (file) return this.file(req, res, path, file[1], file[2], file[3]);
    this.notFound(res);
  }

  private files(repo: string, rev: string): Map<string, Stored> | null {
    return rev === 'main' || rev === 'v1' ? (this.repos.get(repo) ?? null) : null;
  }

  private notFound(res: ServerResponse): void {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'X-Error-Code': 'EntryNotFound' }).end('Entry not found');
  }

  private tree(res: ServerResponse, repo: string, rev: string, dir: string): void {
    const files = this.files(repo, rev);
    if (!files) return this.notFound(res);
    const prefix = dir ? `${dir.replace(/\/$/, '')}/` : '';
    const entries: object[] = [...files].filter(([p]) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map(([p, f]) => ({
      type: 'file',
      oid: createHash('sha1').update(f.bytes).digest('hex'),
      size: f.bytes.length,
      path: p,
      ...(f.lfs ? { lfs: { oid: f.sha256, size: f.bytes.length, pointerSize: 134 } } : {}),
    }));
    // Subfolders as the Hub lists them: an entry each, their files not
    const dirs = new Set([...files.keys()].filter((p) => p.startsWith(prefix) && p.slice(prefix.length).includes('/')).map((p) => prefix + p.slice(prefix.length).split('/')[0]));
    for (const d of dirs) entries.push({ type: 'directory', oid: createHash('sha1').update(d).digest('hex'), size: 0, path: d });
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(entries));
  }

  private file(req: IncomingMessage, res: ServerResponse, path: string, repo: string, rev: string, name: string): void {
    const f = this.files(repo, rev)?.get(name);
    if (!f) return this.notFound(res);
    if (this.html.has(path)) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><html><body>Sign in</body></html>');
      return;
    }
    let bytes = f.bytes;
    if (this.corrupt.has(path)) {
      bytes = bytes.slice();
      bytes[bytes.length >> 1] ^= 0xff;
    }
    const etag = `"${f.lfs ? f.sha256 : createHash('sha1').update(f.bytes).digest('hex')}"`;
    const headers: Record<string, string | number> = {
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      ETag: etag,
      ...(f.lfs ? { 'X-Linked-Etag': etag, 'X-Linked-Size': f.bytes.length } : {}),
    };
    let start = 0;
    let end = bytes.length - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    let status = 200;
    if (range && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), bytes.length - 1) : bytes.length - 1;
      if (start >= bytes.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${bytes.length}`;
    }
    if (this.noLength.has(path)) delete headers['X-Linked-Size'];
    else headers['Content-Length'] = end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    const body = bytes.subarray(start, end + 1);
    const cut = this.cutAfter.get(path);
    if (cut !== undefined && req.method === 'GET') {
      this.cutAfter.delete(path);
      // the connection drops a while after the first bytes went out, so the client has them before the error
      res.write(body.subarray(0, Math.max(0, cut - start)), () => setTimeout(() => res.destroy(), 500));
      return;
    }
    res.end(body);
  }
}

/** The repos the tests load: a GGUF repo of stories260K quants, one file repo, and a Hugging Face folder. */
export function standardHub(): MockHub {
  return new MockHub()
    .repo('ember/stories260K-GGUF', [
      { path: 'stories260K-F16.gguf', fixture: 'stories260K-derived/stories260K-F16.gguf' },
      { path: 'stories260K-Q4_0.gguf', fixture: 'stories260K-derived/stories260K-Q4_0.gguf' },
      { path: 'stories260K-Q8_0.gguf', fixture: 'stories260K-derived/stories260K-Q8_0.gguf' },
    ])
    .repo('ember/stories260K', [{ path: 'gguf/stories260K.gguf', fixture: 'stories260K/stories260K.gguf' }])
    .repo('ember/llama-gqa', ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].map((p) => ({
      path: p,
      fixture: `hf-oracle/llama-gqa/${p}`,
    })));
}

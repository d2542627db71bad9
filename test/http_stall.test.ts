/**
 * Downloads that cannot hang: a server that never answers, or stops sending mid-body, fails with a NETWORK error
 * naming the stall once httpGet's watchdog has waited its time; the file cache keeps what came and says so.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../src/loader/http.ts';
import { nodeFileCache } from '../src/loader/node_cache.ts';
import { expectEmberError } from './helpers/errors.ts';

const STALL = 300; // ms: the watchdog's wait in these tests (60 s by default)
const SIZE = 100_000;

describe('a stalled download fails instead of hanging', () => {
  let server: Server;
  let base = '';
  const open: ServerResponse[] = []; // answers left hanging, ended after the tests
  beforeAll(async () => {
    server = createServer((req, res) => {
      open.push(res);
      if (req.url === '/silent') return; // never answers
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
      res.write(new Uint8Array(1000)); // then nothing more
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const res of open) res.destroy();
    await new Promise((r) => server.close(r));
  });

  it('no answer at all', async () => {
    await expectEmberError(() => httpGet(`${base}/silent`, {}, STALL), 'NETWORK', /\/silent: no answer for 0\.3 s \(the connection stalled\)/);
  });

  it('a body that stops', async () => {
    const r = await httpGet(`${base}/stops`, {}, STALL);
    expect(r.status).toBe(200);
    await expectEmberError(() => r.arrayBuffer(), 'NETWORK', /\/stops: no data for 0\.3 s \(the connection stalled\)/);
  });

  it('the file cache keeps the bytes that came and says the download stalled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'emberlm-stall-'));
    try {
      const cache = nodeFileCache(dir);
      const url = `${base}/model.gguf`;
      await expectEmberError(() => cache.open(url, { stallMs: STALL }), 'NETWORK', /model\.gguf: the download stopped after 1000 of 100000 bytes \(no data for 0\.3 s\); loading again resumes/);
      expect(await cache.list()).toMatchObject([{ url, complete: false, storedBytes: 1000 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

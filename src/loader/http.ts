import { EmberError } from '../errors.ts';
import { quietTimeout } from '../util/timers.ts';

/**
 * How long a download may wait for an answer, and then for each next chunk of its body, before it fails: a browser's
 * fetch has no timeout of its own and waits forever on a stalled connection (Node's undici gave up after 300 s).
 */
export const STALL_MS = 60_000;

/**
 * fetch with failures as EmberErrors that name the URL and the likely cause: `fetch` itself only
 * says "Failed to fetch" (browser) or "fetch failed" (Node), whether the server refused the
 * connection, the page is offline, or CORS blocked the answer. A watchdog aborts it when the answer,
 * or the next chunk of its body, does not come within `stallMs`: the body's reads then reject with a
 * NETWORK error that says so (`isStall`).
 */
export async function httpGet(url: string, init: RequestInit = {}, stallMs = STALL_MS): Promise<Response> {
  const watchdog = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => clearTimeout(timer);
  const arm = (what: string) => {
    stop();
    timer = quietTimeout(() => watchdog.abort(stallError(url, stallMs, what)), stallMs);
  };
  arm('no answer');
  const signal = init.signal ? AbortSignal.any([init.signal, watchdog.signal]) : watchdog.signal;
  let r: Response;
  try {
    r = await fetch(url, { ...init, signal });
  } catch (e) {
    stop();
    if (init.signal?.aborted) throw new EmberError('ABORTED', `the download of ${url} was aborted`, { url });
    if (watchdog.signal.aborted) throw watchdog.signal.reason as EmberError;
    throw connectError(url, e);
  }
  if (!r.body) {
    stop();
    return r;
  }
  arm('no data');
  const body = r.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, out) {
      arm('no data');
      out.enqueue(chunk);
    },
    flush: stop,
  }));
  return new Response(body, { status: r.status, statusText: r.statusText, headers: r.headers });
}

function stallError(url: string, ms: number, what: string): EmberError {
  return new EmberError('NETWORK', `${url}: ${what} for ${ms / 1000} s (the connection stalled)`, { url, stalled: true });
}

/** Whether a body read failed because httpGet's watchdog found the connection stalled. */
export function isStall(e: unknown): e is EmberError {
  return e instanceof EmberError && e.details.stalled === true;
}

/** The likely cause of a fetch that got no answer at all. */
export function connectError(url: string, e: unknown): EmberError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
  let why: string;
  if (offline) why = 'this browser is offline';
  else if (code === 'ECONNREFUSED') why = 'the connection was refused: is the server running on that host and port?';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = 'the host name did not resolve: offline, or a typo in the host?';
  else if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') why = 'the server closed the connection';
  else if (code.includes('TIMEOUT') || code === 'ETIMEDOUT') why = 'the connection timed out';
  else if (code) why = `${code}${cause?.message ? `: ${cause.message}` : ''}`;
  else {
    why = 'the server refused the connection or could not be reached (offline?), or it does not allow requests from ' +
      'this page (CORS: a server must send Access-Control-Allow-Origin for a page of another origin to read it)';
  }
  return new EmberError('NETWORK', `${url}: no answer (${why}; ${(e as Error).message})`, { url, cause: code || undefined });
}

/** An EmberError for an HTTP error status, naming what it likely means. */
export function statusError(url: string, r: Response): EmberError {
  const s = r.status;
  let why = r.statusText || 'error';
  if (s === 404) why = 'not found: check the repo id, revision and file name';
  else if (s === 401 || s === 403) why = 'access denied: the model may be gated or private: accept its terms on the Hub and pass an access token as hubToken (the CLI reads HF_TOKEN)';
  else if (s === 429) why = 'too many requests: the server is rate-limiting, try again later';
  else if (s >= 500) why = 'the server failed';
  return new EmberError('NETWORK', `${url}: HTTP ${s} (${why})`, { url, status: s });
}

/** A web page answered where a model file was asked for (a login or error page, a wrong URL). */
export function isHtml(r: Response, firstBytes?: Uint8Array): boolean {
  if (/^text\/html\b/i.test(r.headers.get('content-type') ?? '')) return true;
  if (!firstBytes) return false;
  const head = new TextDecoder().decode(firstBytes.subarray(0, 64)).trimStart().toLowerCase();
  return head.startsWith('<!doctype html') || head.startsWith('<html');
}

export function htmlError(url: string, what = 'a model file'): EmberError {
  return new EmberError('BAD_FILE', `${url}: the server answered with an HTML page, not ${what} (a wrong URL, or an error or login page)`, { url, html: true });
}

/** Whether `e` is htmlError's: a server's HTML page where a file was asked for. */
export const isHtmlError = (e: unknown) => e instanceof EmberError && e.code === 'BAD_FILE' && e.details.html === true;

/** The file's size a response states: X-Linked-Size (the Hub), Content-Range's total, or an unencoded Content-Length. */
export function statedSize(r: Response): number | undefined {
  const linked = Number(r.headers.get('x-linked-size') ?? NaN);
  if (Number.isSafeInteger(linked) && linked >= 0) return linked;
  const range = /\/(\d+)\s*$/.exec(r.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const encoded = (r.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const length = r.headers.get('content-length');
  if (r.status === 200 && !encoded && length !== null && /^\d+$/.test(length)) return Number(length);
  return undefined;
}

/** The Hub's X-Linked-Etag (the LFS sha256), else the ETag, without W/ and quotes. */
export function statedEtag(r: Response): string | null {
  const raw = r.headers.get('x-linked-etag') ?? r.headers.get('etag');
  return raw ? raw.replace(/^W\//, '').replace(/^"|"$/g, '') : null;
}

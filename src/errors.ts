/**
 * The few typed errors emberlm raises. Each carries a stable `code` so callers can branch on it,
 * and a message naming what was expected and what was found. They are plain data (code, message,
 * details) so they survive structured cloning across the worker boundary (see `toWire`/`fromWire`).
 */
export type ErrorCode =
  | 'BAD_FILE' // corrupt or truncated file, wrong magic
  | 'UNSUPPORTED' // a format version, tensor type, architecture or tokenizer we do not run
  | 'BAD_MODEL' // a missing or mis-shaped tensor, inconsistent metadata
  | 'CONTEXT_OVERFLOW' // prompt (plus generation) longer than the context
  | 'DEVICE' // no WebGPU, a limit or feature the device lacks, device lost
  | 'BAD_ARGUMENT' // an option out of range
  | 'NETWORK' // a download failed: no connection, CORS, an HTTP error status, an interrupted transfer
  | 'ABORTED'; // the caller's AbortSignal fired

export class EmberError extends Error {
  override readonly name = 'EmberError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(`[${code}] ${readable(message)}`);
  }
}

/** Longest message kept whole; longer ones keep their start and end (a file name, then what was found). */
const MAX_MESSAGE = 600;

/**
 * The last guard of "a message a person can read", whatever a caller quoted into it: control characters
 * other than newline and tab are escaped, and the text is cut to MAX_MESSAGE characters. Names and
 * values are made short and printable where they are quoted (src/util/printable.ts); this catches the rest.
 */
function readable(message: string): string {
  let m = message.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const head = MAX_MESSAGE - 160, tail = 150;
  if (m.length > MAX_MESSAGE) m = `${m.slice(0, head)} …(${m.length - head - tail} characters cut)… ${m.slice(-tail)}`;
  return m;
}

export interface WireError {
  readonly __emberError: true;
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

export function toWire(e: EmberError): WireError {
  return { __emberError: true, code: e.code, message: e.message.replace(/^\[[A-Z_]+\] /, ''), details: e.details };
}

export function fromWire(w: WireError): EmberError {
  return new EmberError(w.code, w.message, w.details);
}

export function isEmberError(e: unknown, code?: ErrorCode): e is EmberError {
  return e instanceof EmberError && (code === undefined || e.code === code);
}

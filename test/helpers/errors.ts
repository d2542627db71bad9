import { expect } from 'vitest';
import { EmberError, type ErrorCode } from '../../src/errors.ts';

/** Asserts that `fn` throws (or rejects with) an EmberError of `code` whose message matches `message`. */
export async function expectEmberError(fn: () => unknown, code: ErrorCode, message: RegExp): Promise<EmberError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected an EmberError ${code} matching ${message}, but nothing was thrown`).toBeInstanceOf(EmberError);
  const e = err as EmberError;
  expect(e.code, e.message).toBe(code);
  expect(e.message).toMatch(message);
  return e;
}

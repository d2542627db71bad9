/**
 * The paths a user passes on the command line (--cache, --out, --text), checked before any work is
 * done, so a typo costs a one-line BAD_ARGUMENT rather than a stack trace or a finished run's results.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { EmberError } from '../errors.ts';
import { folderWeightCache } from '../model/weight_cache_node.ts';
import type { WeightCache } from '../model/weight_cache.ts';
import { printableName } from '../util/printable.ts';

/** What went wrong, in words: Node's "ENOTDIR: not a directory, mkdir '/etc/passwd/x'" without the repeated path. */
const reason = (e: unknown) => (e instanceof Error ? e.message.split(',')[0] : String(e));

function badPath(flag: string, path: string, what: string, e?: unknown): EmberError {
  const why = e === undefined ? '' : ` (${reason(e)})`;
  return new EmberError('BAD_ARGUMENT', `--${flag} ${printableName(path, 200)}: ${what}${why}`, { flag, path });
}

function nonEmpty(flag: string, path: string, expected: string): void {
  if (path === '') throw new EmberError('BAD_ARGUMENT', `--${flag} is empty; expected ${expected}`, { flag });
}

/** --cache DIR as a weight cache: the folder is created (and must be writable) now, not at the first write. */
export async function cacheFolder(dir: string): Promise<WeightCache> {
  nonEmpty('cache', dir, 'a folder');
  let cache: WeightCache;
  try {
    cache = await folderWeightCache(dir);
    await access(dir, constants.W_OK);
  } catch (e) {
    throw badPath('cache', dir, 'cannot create or write to this folder', e);
  }
  return {
    get: (key) => cache.get(key),
    put: (key, bytes) => cache.put(key, bytes).catch((e) => {
      throw badPath('cache', dir, 'cannot write a cache entry', e);
    }),
  };
}

/** --out FILE, opened before the run; `write` saves the report, `discard` removes a file made for a run that failed. */
export interface OutFile {
  write(text: string): void;
  discard(): void;
}

export function openOut(path: string): OutFile {
  nonEmpty('out', path, 'a file');
  const existed = existsSync(path);
  const folder = dirname(resolve(path));
  try {
    mkdirSync(folder, { recursive: true });
  } catch (e) {
    throw badPath('out', path, `cannot create its folder ${printableName(folder, 200)}`, e);
  }
  try {
    closeSync(openSync(path, 'a')); // 'a': a file that exists is left as it is until the report is written
  } catch (e) {
    throw badPath('out', path, 'cannot write this file', e);
  }
  return {
    write(text) {
      try {
        writeFileSync(path, text);
      } catch (e) {
        throw badPath('out', path, 'cannot write this file', e);
      }
    },
    discard() {
      if (!existed) rmSync(path, { force: true });
    },
  };
}

/**
 * A finished run's report on stdout first, then as JSON in --out: a file that cannot be written
 * after all (the disk filled during the run) does not cost the results.
 */
export function printThenSave(printed: string, report: unknown, out: OutFile | undefined): void {
  process.stdout.write(printed);
  out?.write(JSON.stringify(report, null, 2) + '\n');
}

/** --text FILE's contents; a folder or an unreadable file is a BAD_ARGUMENT naming the flag. */
export function readTextFile(path: string): string {
  nonEmpty('text', path, 'a file');
  try {
    if (statSync(path).isDirectory()) throw badPath('text', path, 'is a folder; expected a text or JSON file');
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw e instanceof EmberError ? e : badPath('text', path, 'cannot read this file', e);
  }
}

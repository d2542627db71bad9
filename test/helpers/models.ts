/**
 * Paths to the shared model fixtures (../shared/models relative to the repo root, or
 * $EMBERLM_MODELS). A missing fixture is an error, never a skip: tests that need real files must
 * fail loudly when the files are not there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readGGUF, type GGUFFile } from '../../src/gguf/reader.ts';
import { sourceFromBuffer } from '../../src/gguf/source.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED_MODELS = process.env.EMBERLM_MODELS ?? resolve(REPO_ROOT, '../shared/models');

/** Absolute path of a fixture under the shared models folder; throws if it is missing. */
export function sharedModelPath(rel: string): string {
  const p = resolve(SHARED_MODELS, rel);
  if (!existsSync(p)) {
    throw new Error(`shared model fixture ${rel} is missing: expected ${p} (../shared/models relative to the repo root ${REPO_ROOT}, or set EMBERLM_MODELS)`);
  }
  return p;
}

/** The whole fixture file in memory (they are small). */
export function readSharedBytes(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(sharedModelPath(rel)));
}

/** A parsed fixture, read from memory. */
export async function openShared(rel: string): Promise<GGUFFile> {
  return readGGUF(sourceFromBuffer(readSharedBytes(rel), rel));
}

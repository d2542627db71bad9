/**
 * A model folder with one JSON file changed, as the tests that check what a config value does (or that it is refused)
 * need it: the folder copied into a temporary directory, `file` (config.json by default) replaced by the original with
 * `patch` spread over it, `fn` run on the copy, the copy removed after.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function withPatchedFolder<T>(folder: string, patch: Record<string, unknown>, fn: (dir: string) => Promise<T>, file = 'config.json'): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'emberlm-patched-'));
  try {
    cpSync(folder, dir, { recursive: true });
    const original = JSON.parse(readFileSync(join(folder, file), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, file), JSON.stringify({ ...original, ...patch }));
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

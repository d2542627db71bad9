import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmberError } from '../errors.ts';
import { sourceFromPath } from '../gguf/source_node.ts';
import { parseJson, type ModelFolder } from './folder.ts';

/** A model folder on disk: `dir` is a path or a file: URL. */
export async function pathFolder(dir: string): Promise<ModelFolder> {
  if (dir.startsWith('file:')) dir = fileURLToPath(dir);
  const label = (file: string) => join(dir, file);
  return {
    label,
    async json(file) {
      let text: string;
      try {
        text = await readFile(label(file), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new EmberError('BAD_FILE', `${label(file)}: cannot read (${(e as Error).message})`, { file: label(file) });
      }
      return parseJson(text, label(file));
    },
    source: (file) => sourceFromPath(label(file)),
  };
}

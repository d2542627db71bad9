// Node module hooks for running src/ outside vite (the fuzz workers): `import text from 'x.wgsl?raw'`
// becomes a module whose default export is the file's text, as vite makes it.
import { readFile } from 'node:fs/promises';
import { register } from 'node:module';

export async function load(url, context, nextLoad) {
  if (url.endsWith('?raw')) {
    const text = await readFile(new URL(url.slice(0, -4)), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}

if (!import.meta.url.includes('?hooks')) register(`${import.meta.url}?hooks`);

// Lets Node import shaders as vite does (`import code from './x.wgsl?raw'`), for TS scripts run with tsx:
//   npx tsx --import ./scripts/wgsl-loader.mjs bench/engine_latency.ts ...
import { register } from 'node:module';

const hooks = `
import { readFile } from 'node:fs/promises';
export async function load(url, context, next) {
  if (!/\\.wgsl\\?raw$/.test(url)) return next(url, context);
  const text = await readFile(new URL(url.replace(/\\?raw$/, '')), 'utf8');
  return { format: 'module', source: 'export default ' + JSON.stringify(text), shortCircuit: true };
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

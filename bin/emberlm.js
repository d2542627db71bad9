#!/usr/bin/env node
// The CLI is bundled by `npm run build` (vite) into dist/cli.js; `npm install` runs the build.
import { existsSync } from 'node:fs';
const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('emberlm: dist/cli.js is missing; run `npm run build` first\n');
  process.exit(2);
}
process.env.XDG_RUNTIME_DIR ??= '/tmp'; // quiets Mesa's warning when run outside a login session
const { runCli } = await import(cli.href);
await runCli(process.argv.slice(2));

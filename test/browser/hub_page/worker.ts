// A worker that keeps downloads in Cache Storage in 64 KiB parts (default 8 MiB), so that an interrupted
// download of a small test model leaves whole parts to resume from.
import { serveEngine } from '../../../src/worker/index.ts';
import { browserFileCache } from '../../../src/loader/browser_store.ts';

serveEngine({ fileCache: browserFileCache('emberlm-files', 64 << 10) });

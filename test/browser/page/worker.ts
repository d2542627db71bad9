// The whole worker file a user writes (with 'emberlm/worker' in place of the relative path).
import { serveEngine } from '../../../src/worker/index.ts';

serveEngine();

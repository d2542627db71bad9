import { serveEngine } from 'emberlm/worker';

serveEngine();

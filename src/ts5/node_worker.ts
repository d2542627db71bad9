/// <reference types="@webgpu/types" preserve="true" />
// the node condition of emberlm/worker for TypeScript 5 apps: see ./index.ts.
export * from '../node/worker.ts';

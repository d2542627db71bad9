/// <reference types="@webgpu/types" preserve="true" />
// emberlm/worker for TypeScript 5 apps: see ./index.ts.
export * from '../worker/index.ts';

/// <reference types="@webgpu/types" preserve="true" />
// emberlm/client for TypeScript 5 apps: see ./index.ts.
export * from '../client.ts';

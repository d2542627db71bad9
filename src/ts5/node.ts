/// <reference types="@webgpu/types" preserve="true" />
// emberlm/node (and the node condition of emberlm) for TypeScript 5 apps: see ./index.ts.
export * from '../node/index.ts';

/// <reference types="@webgpu/types" preserve="true" />
/**
 * The declarations of 'emberlm' as TypeScript 5 apps get them (the `types@<6` condition in package.json
 * "exports"): our .d.ts files name GPUDevice, GPUBuffer, ..., which TypeScript's DOM lib has only from 6
 * on, so these entries pull in @webgpu/types (`preserve` keeps the directive in the emitted .d.ts). TS 6+
 * apps get the plain entries: @webgpu/types there clashes with the DOM lib's own WebGPU declarations
 * (TS2300 by the hundred with skipLibCheck off).
 */
export * from '../index.ts';

import type { Gpu } from './device.ts';
import { STEP } from './step.ts';

/**
 * Compiles each (shader text, entry point, override constants) once and hands back the cached
 * pipeline afterwards. Shader text variants are made only for what WGSL cannot parameterize:
 * the `enable` directives. Sizes go through `override` constants, shapes through uniforms.
 */
export interface ShaderVariant {
  f16?: boolean;
  subgroups?: boolean;
}

export function shaderText(source: string, v: ShaderVariant = {}, ...parts: string[]): string {
  const enables = [v.f16 ? 'enable f16;' : '', v.subgroups ? 'enable subgroups;' : ''].filter(Boolean).join('\n');
  // Kernels that read the per-pass Step uniform get its struct from the one TS declaration.
  const step = /\bStep\b/.test(source) ? STEP.wgsl() : '';
  return [enables, ...parts, step, source].filter(Boolean).join('\n');
}

const caches = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/** What getPipeline made a pipeline from: enough to make it again on another device (src/kernels/precompile.ts). */
export interface PipelineSpec {
  readonly label: string;
  readonly code: string;
  readonly entryPoint: string;
  readonly constants: Record<string, number>;
}
const specs = new WeakMap<GPUComputePipeline, PipelineSpec>();

export const pipelineSpec = (p: GPUComputePipeline): PipelineSpec | undefined => specs.get(p);

const compileWatchers = new WeakMap<GPUDevice, Set<(label: string) => void>>();

/** Calls `cb` with the label of each pipeline compiled on the device from now on (a load's 'compile' progress); returns the unsubscribe. */
export function watchCompiles(gpu: Gpu, cb: (label: string) => void): () => void {
  let set = compileWatchers.get(gpu.device);
  if (!set) compileWatchers.set(gpu.device, (set = new Set()));
  set.add(cb);
  return () => set.delete(cb);
}
let cached = 0;

/** Pipelines in the caches of devices not yet dropped (tests: loading a model again compiles nothing new). */
export function livePipelines(): number {
  return cached;
}

/** Forgets a device's pipelines (when the device is destroyed). */
export function dropPipelines(device: GPUDevice): void {
  cached -= caches.get(device)?.size ?? 0;
  caches.delete(device);
}

export function getPipeline(
  gpu: Gpu,
  label: string,
  code: string,
  entryPoint = 'main',
  constants: Record<string, number> = {},
): Promise<GPUComputePipeline> {
  let cache = caches.get(gpu.device);
  if (!cache) caches.set(gpu.device, (cache = new Map()));
  const key = `${label}|${entryPoint}|${JSON.stringify(constants)}|${code}`;
  let p = cache.get(key);
  if (!p) {
    for (const cb of compileWatchers.get(gpu.device) ?? []) cb(label);
    const module = gpu.device.createShaderModule({ label, code });
    const made = gpu.device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint, constants } });
    p = made.then((pipeline) => (specs.set(pipeline, { label, code, entryPoint, constants }), pipeline)).catch(async (e) => {
      const info = await module.getCompilationInfo?.();
      const msgs = info?.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n') ?? '';
      if (cache!.delete(key)) cached--;
      throw new Error(`pipeline ${label} failed to compile: ${(e as Error).message}\n${msgs}`);
    });
    cache.set(key, p);
    cached++;
  }
  return p;
}

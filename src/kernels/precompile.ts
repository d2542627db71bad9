import { createGpu, OPTIONAL_FEATURES, waitSpins, type Gpu } from '../gpu/device.ts';
import { underTestRunner } from '../util/test_runner.ts';
import type { Model } from '../model/model_types.ts';
import { nodeHostIfAny } from '../node_host.ts';
import { dropPipelines, pipelineSpec } from '../gpu/pipelines.ts';
import { boundBuffers, markDispatched, wasDispatched, type BoundBuffer, type Dispatch } from './dispatch.ts';

/**
 * Compiling a model's pipelines at load, where the adapter compiles each at its first dispatch rather than when it
 * is made: lavapipe compiles with LLVM on its queue's thread, one pipeline at a time, seconds each (SmolLM2-135M's
 * shape: ~35 s for its first prompt and decode step with Mesa's shader cache empty). Each pipeline is dispatched
 * with zero workgroups (an indirect dispatch of zeros: lavapipe compiles, then runs nothing) on bind groups of
 * stand-in buffers. Once the first has shown that compiling is slow (the cache was cold), helper devices on the
 * same adapter take pipelines too: each device compiles on its own thread, and Mesa's shader cache hands what a
 * helper compiled to the model's device at its first dispatch.
 */
export interface PrecompileOptions {
  /** Helper devices at most (the cores beside the one the model's device compiles on; 0: the model's device alone). */
  helpers: number;
  /** A pipeline taking longer than this on the model's device says the cache was cold: start the helpers (ms; default 250). */
  slowMs?: number;
  /** Called as each pipeline is done, with how many are done of how many. */
  onProgress?: (done: number, total: number, label: string) => void;
  /** Checked between pipelines: true stops the work (an aborted load). */
  stop?: () => boolean;
}

export interface PrecompileReport {
  /** Pipelines dispatched, on the model's device and on helpers. */
  pipelines: number;
  onHelpers: number;
  helpers: number;
  /** Pipelines whose stand-in bind group or pipeline failed: they compile at their first real dispatch instead. */
  failed: number;
}

/**
 * Whether a load precompiles by default: where the adapter compiles at first dispatch and waits would spin (a CPU adapter
 * in Node), but not under a test runner, where helpers would take the cores the test files share.
 */
export function precompileDefault(gpu: Pick<Gpu, 'caps'>): boolean {
  return waitSpins(gpu) && !underTestRunner();
}

/** Helper devices a load may start: the Node host's spare cores (none where Mesa's shader cache is off: nothing is shared). */
export const precompileHelpers = (): number => nodeHostIfAny()?.precompileHelpers() ?? 0;

/** What a model's first requests run: prefill, decode and head; an encoder's passes and final norms. */
export function modelLists(m: Model): readonly (readonly Dispatch[])[] {
  if (m.decode.length > 0) return [m.prefill, m.chained, m.decode, m.head];
  return [m.prefill, m.finalNorm, ...(m.batched ? [m.batched.prefill, m.batched.finalNorm] : [])];
}

/** The lists' pipelines not yet dispatched: the longest shader first (a rough cost). */
export function pendingPipelines(lists: readonly (readonly Dispatch[])[]): GPUComputePipeline[] {
  const all = new Set(lists.flat().map((d) => d.pipeline));
  const size = (p: GPUComputePipeline) => pipelineSpec(p)?.code.length ?? 0;
  return [...all].filter((p) => !wasDispatched(p) && boundBuffers(p) && pipelineSpec(p)).sort((a, b) => size(b) - size(a));
}

/** Compiles the pipelines of the lists' dispatches (a model's prefill, decode, head: what its first request runs). */
export async function precompile(gpu: Gpu, lists: readonly (readonly Dispatch[])[], o: PrecompileOptions): Promise<PrecompileReport> {
  const queue = pendingPipelines(lists);
  const total = queue.length;
  const report: PrecompileReport = { pipelines: 0, onHelpers: 0, helpers: 0, failed: 0 };
  const next = () => (o.stop?.() ? undefined : queue.shift());
  const finished = (p: GPUComputePipeline, ok: boolean, helper: boolean) => {
    report.pipelines++;
    if (!ok) report.failed++;
    else if (helper) report.onHelpers++;
    o.onProgress?.(report.pipelines, total, pipelineSpec(p)!.label);
  };
  const helpers: Promise<void>[] = [];
  // As soon as a pipeline takes slowMs on the model's device (a cold cache), every helper starts.
  const startHelpers = () => {
    while (helpers.length < o.helpers && queue.length > helpers.length) {
      report.helpers++;
      helpers.push(helperWork(gpu, next, (q, ok) => finished(q, ok, true)));
    }
  };
  const own = new StandIns(gpu.device);
  try {
    for (let p = next(); p; p = next()) {
      const timer = setTimeout(startHelpers, o.slowMs ?? 250);
      const ok = await zeroDispatch(gpu.device, p, own).finally(() => clearTimeout(timer));
      if (ok) markDispatched(p);
      finished(p, ok, false);
    }
    await Promise.all(helpers);
  } finally {
    own.destroy();
  }
  return report;
}

/** A helper device on the model's adapter with its features, taking pipelines until none is left. */
export async function helperWork(gpu: Gpu, next: () => GPUComputePipeline | undefined, done: (p: GPUComputePipeline, ok: boolean) => void): Promise<void> {
  const disable = OPTIONAL_FEATURES.filter((f) => !gpu.device.features.has(f));
  let helper: Gpu;
  try {
    helper = await createGpu({ disable });
  } catch {
    return; // the model's device goes on alone
  }
  if (helper.caps.adapterName !== gpu.caps.adapterName) { // (a GPU beside the CPU adapter: its compiling is no help)
    helper.device.destroy();
    return;
  }
  const standIns = new StandIns(helper.device);
  try {
    for (let p = next(); p; p = next()) {
      const s = pipelineSpec(p)!;
      let ok = false;
      try {
        const module = helper.device.createShaderModule({ label: s.label, code: s.code });
        const twin = await helper.device.createComputePipelineAsync({ label: s.label, layout: 'auto', compute: { module, entryPoint: s.entryPoint, constants: s.constants } });
        ok = await zeroDispatch(helper.device, twin, standIns, boundBuffers(p)!);
      } catch {
        ok = false;
      }
      done(p, ok);
    }
  } finally {
    standIns.destroy();
    dropPipelines(helper.device);
    helper.device.destroy();
  }
}

/** Dispatches `p` with zero workgroups on stand-in buffers; false where WebGPU refused it (nothing was compiled). */
async function zeroDispatch(device: GPUDevice, p: GPUComputePipeline, standIns: StandIns, bindings = boundBuffers(p)!): Promise<boolean> {
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder({ label: 'precompile' });
  const pass = enc.beginComputePass();
  pass.setPipeline(p);
  pass.setBindGroup(0, device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: bindings.map((b) => ({ binding: b.binding, resource: { buffer: standIns.buffer(b), size: standInSize(b) } })) }));
  pass.dispatchWorkgroupsIndirect(standIns.zeros(), 0);
  pass.end();
  device.queue.submit([enc.finish()]);
  const error = await device.popErrorScope();
  await device.queue.onSubmittedWorkDone();
  return error === null;
}

/** At most 1 MiB: a binding's minimum is its fixed part (a runtime array's first element, a uniform struct), and nothing is read. */
const standInSize = (b: BoundBuffer) => Math.max(4, Math.min(b.size, 1 << 20)) & ~3;

/** A device's stand-in buffers, one per binding slot and usage (no two bindings of a group share one), grown as needed. */
class StandIns {
  private readonly buffers = new Map<string, GPUBuffer>();
  private indirect: GPUBuffer | null = null;

  constructor(private readonly device: GPUDevice) {}

  buffer(b: BoundBuffer): GPUBuffer {
    const key = `${b.binding}:${b.usage}`;
    const have = this.buffers.get(key);
    if (have && have.size >= standInSize(b)) return have;
    have?.destroy();
    const made = this.device.createBuffer({ label: `precompile.${key}`, size: standInSize(b), usage: b.usage });
    this.buffers.set(key, made);
    return made;
  }

  /** An indirect dispatch of (0, 0, 0) workgroups: a direct one of zero draws a warning from Dawn. */
  zeros(): GPUBuffer {
    return (this.indirect ??= this.device.createBuffer({ label: 'precompile.indirect', size: 12, usage: GPUBufferUsage.INDIRECT }));
  }

  destroy(): void {
    for (const b of this.buffers.values()) b.destroy();
    this.indirect?.destroy();
  }
}

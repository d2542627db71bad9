import type { Gpu } from '../gpu/device.ts';
import { UniformLayout } from '../gpu/uniforms.ts';
import type { Allocator } from '../gpu/buffers.ts';
import { writeBuffer } from '../gpu/buffers.ts';
import { getPipeline } from '../gpu/pipelines.ts';

/**
 * One recorded kernel launch: pipeline and bind group are made at load; only the grid depends on
 * how many tokens this forward pass runs (read on the GPU side from the Step uniform).
 */
export interface Dispatch {
  readonly label: string; // "<family>/<variant>", e.g. "matmul_q8/gemv"; the family is the text before '/'
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly grid: (nTokens: number) => readonly [number, number?, number?];
}

/**
 * Pipelines some pass has dispatched. A CPU adapter compiles a pipeline at its first dispatch, not when it is created
 * (lavapipe: seconds each, ~35 s for a small model's first prefill and decode step), so such a pass's time says nothing
 * of the next one's (src/model/map_pacer.ts).
 */
const dispatched = new WeakSet<GPUComputePipeline>();

/** Whether some pass has dispatched the pipeline (then its compiling is done), and marking one that precompile ran. */
export const wasDispatched = (p: GPUComputePipeline): boolean => dispatched.has(p);
export const markDispatched = (p: GPUComputePipeline): void => void dispatched.add(p);

/** A binding as a bind group gave it: the buffer's UNIFORM and STORAGE usage bits and the bound size. */
export interface BoundBuffer {
  readonly binding: number;
  readonly usage: number;
  readonly size: number;
}
const bound = new WeakMap<GPUComputePipeline, readonly BoundBuffer[]>();

/** The bindings of the pipeline's first bind group: what a bind group of stand-in buffers needs (src/kernels/precompile.ts). */
export const boundBuffers = (p: GPUComputePipeline): readonly BoundBuffer[] | undefined => bound.get(p);

/** Encodes the list's non-empty launches. True when one of them is its pipeline's first dispatch. */
export function encodeDispatches(pass: GPUComputePassEncoder, list: readonly Dispatch[], nTokens: number): boolean {
  let first = false;
  for (const d of list) {
    const [x, y = 1, z = 1] = d.grid(nTokens);
    if (x === 0 || y === 0 || z === 0) continue;
    if (!dispatched.has(d.pipeline)) {
      dispatched.add(d.pipeline);
      first = true;
    }
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(x, y, z);
  }
  return first;
}

/** null: a binding the chosen entry point does not use (layout 'auto' leaves it out). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number } | null;

/** Bind group whose binding i is entries[i] (null: left unbound), counted by the model's Allocator (its buffers' owner). */
export function bindGroup(alloc: Allocator, label: string, pipeline: GPUComputePipeline, entries: readonly Binding[]): GPUBindGroup {
  alloc.countBindGroup();
  return uncountedBindGroup(alloc.gpu, label, pipeline, entries);
}

/** The same outside any Allocator's count: for short-lived lists (an autotune trial's). */
export function uncountedBindGroup(gpu: Gpu, label: string, pipeline: GPUComputePipeline, entries: readonly Binding[]): GPUBindGroup {
  if (!bound.has(pipeline)) bound.set(pipeline, boundOf(entries));
  return gpu.device.createBindGroup({
    label,
    layout: pipeline.getBindGroupLayout(0),
    entries: entries.flatMap((e, i) => (e === null ? [] : [{ binding: i, resource: 'usage' in e ? { buffer: e } : e }])),
  });
}

function boundOf(entries: readonly Binding[]): BoundBuffer[] {
  return entries.flatMap((e, binding) => {
    if (e === null) return [];
    const buffer = 'usage' in e ? e : e.buffer;
    const size = 'usage' in e ? e.size : (e.size ?? buffer.size - (e.offset ?? 0));
    return [{ binding, usage: buffer.usage & (GPUBufferUsage.UNIFORM | GPUBufferUsage.STORAGE), size }];
  });
}

/** A uniform buffer holding one packed struct, created at load. */
export function staticUniform<F extends string>(alloc: Allocator, label: string, layout: UniformLayout<F>, values: Record<F, number>): GPUBuffer {
  const buf = alloc.uniform(label, layout.size);
  writeBuffer(alloc.gpu, buf, layout.pack(values));
  return buf;
}

export { STEP, STEP_DEFAULTS, type StepValues } from '../gpu/step.ts';

export const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

export interface KernelSpec<F extends string> {
  label: string; // the dispatch label, "<family>/<variant>"
  code: string; // full shader text
  entry?: string;
  constants?: Record<string, number>;
  params: UniformLayout<F>;
  values: Record<F, number>;
  step: GPUBuffer;
  bindings: readonly Binding[]; // bindings 2.. (0 is Params, 1 is Step)
  grid: Dispatch['grid'];
}

/** The common shape of a kernel: Params at binding 0, Step at 1, then its buffers. */
export async function buildKernel<F extends string>(gpu: Gpu, alloc: Allocator, s: KernelSpec<F>): Promise<Dispatch> {
  const pipeline = await getPipeline(gpu, s.label, s.code, s.entry ?? 'main', s.constants ?? {});
  const params = staticUniform(alloc, `${s.label}.params`, s.params, s.values);
  return { label: s.label, pipeline, bindGroup: bindGroup(alloc, s.label, pipeline, [params, s.step, ...s.bindings]), grid: s.grid };
}

import { EmberError } from '../errors.ts';
import { isNode, requireNodeHost } from '../node_host.ts';

/**
 * What the device can do, probed once. Kernel variants are chosen as a pure function of this object
 * and the shape, never by probing again.
 */
export interface GpuCaps {
  readonly adapterName: string;
  /** A software adapter (lavapipe / llvmpipe, SwiftShader): kernels laid out for CPU SIMD, not GPU-style ones. */
  readonly cpu: boolean;
  readonly f16: boolean; // 'shader-f16'
  readonly subgroups: boolean; // 'subgroups'
  /** The adapter's subgroup sizes (lavapipe: 8 and 8); undefined where the browser does not report them. */
  readonly subgroupMinSize?: number;
  readonly subgroupMaxSize?: number;
  readonly timestamps: boolean; // 'timestamp-query'
  readonly dot4I8: boolean; // WGSL language feature packed_4x8_integer_dot_product
  readonly maxStorageBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxWorkgroupStorageSize: number;
  readonly maxWorkgroupInvocations: number;
  readonly maxWorkgroupsPerDimension: number;
  readonly minStorageOffsetAlignment: number;
  readonly maxStorageBuffersPerStage: number;
}

export interface Gpu {
  readonly device: GPUDevice;
  readonly caps: GpuCaps;
  /** Set when the device is lost; every later operation throws a DEVICE error carrying it. */
  lostReason: string | null;
  /** Resolves with the reason once the device is lost (also when it is destroyed on purpose). */
  readonly lost: Promise<string>;
}

/**
 * Whether awaiting this GPU takes a core it needs: Dawn in Node polls in a busy loop while a map or a
 * work-done promise is pending, and a CPU adapter (lavapipe) runs on those same cores. There, createGpu
 * has Dawn poll by a 1 ms timer instead (src/gpu/dawn.ts), and waits still sleep through most of the
 * expected GPU time first (src/model/map_pacer.ts), so that they poll rarely.
 */
export function waitSpins(gpu: Pick<Gpu, 'caps'>): boolean {
  return gpu.caps.cpu && isNode();
}

/** The features emberlm uses where the adapter has them (each can be disabled: GpuOptions). */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type FeatureName = (typeof OPTIONAL_FEATURES)[number];

export interface GpuOptions {
  /** Features not to use even where the adapter has them (to test the fallback paths, or to mimic a weaker device). */
  disable?: readonly FeatureName[];
  powerPreference?: GPUPowerPreference;
}

/** The browser's WebGPU, or in Node Dawn's (through the Node host, which loads the optional `webgpu` package). */
async function gpuEntry(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (isNode()) return requireNodeHost('WebGPU in Node').gpu();
  throw new EmberError('DEVICE', 'WebGPU is not available in this browser (navigator.gpu is missing): use a recent Chrome or Edge, Safari 26 or later, or Firefox 141 or later (on Windows), over https or localhost', { webgpu: false });
}

export async function createGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const entry = await gpuEntry();
  const adapter = await entry.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    const hint = isNode()
      ? 'on Linux without a GPU, install Mesa lavapipe (Vulkan on the CPU): emberlm\'s scripts/install-webgpu.sh'
      : 'the browser offers WebGPU but found no usable GPU: check that hardware acceleration is on (chrome://gpu)';
    throw new EmberError('DEVICE', `no WebGPU adapter was found (${hint})`);
  }
  const off = new Set(opts.disable ?? []);
  const want: FeatureName[] = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !off.has(f));
  const a = adapter.limits;
  // Ask for everything the adapter offers of the limits we use; defaults (128 MiB bindings) are often below it.
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: a.maxComputeWorkgroupsPerDimension,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: want, requiredLimits });
  } catch (e) {
    throw new EmberError('DEVICE', `requestDevice failed: ${(e as Error).message}`);
  }
  const info = adapter.info as GPUAdapterInfo | undefined;
  const langFeatures = (entry as { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
  const d = device.limits;
  const adapterName = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  const caps: GpuCaps = Object.freeze({
    adapterName,
    cpu: /llvmpipe|lavapipe|swiftshader/i.test(adapterName),
    f16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups'),
    subgroupMinSize: (info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize,
    subgroupMaxSize: (info as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize,
    timestamps: device.features.has('timestamp-query'),
    dot4I8: langFeatures?.has('packed_4x8_integer_dot_product') ?? false,
    maxStorageBindingSize: d.maxStorageBufferBindingSize,
    maxBufferSize: d.maxBufferSize,
    maxWorkgroupStorageSize: d.maxComputeWorkgroupStorageSize,
    maxWorkgroupInvocations: d.maxComputeInvocationsPerWorkgroup,
    maxWorkgroupsPerDimension: d.maxComputeWorkgroupsPerDimension,
    minStorageOffsetAlignment: d.minStorageBufferOffsetAlignment,
    maxStorageBuffersPerStage: d.maxStorageBuffersPerShaderStage,
  });
  if (waitSpins({ caps })) requireNodeHost('WebGPU in Node').pollGpuByTimer();
  // device.lost is handled here and only here: the reason is recorded for checkLost, and `lost` tells the engine.
  const lost = device.lost.then((l) => (gpu.lostReason = `${l.reason}: ${l.message}`));
  const gpu: Gpu = { device, caps, lostReason: null, lost };
  // Validation errors mean a bug in emberlm, not bad input (inputs are checked before they reach the GPU).
  device.addEventListener('uncapturederror', (ev) => {
    console.error(`emberlm: WebGPU error: ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });
  return gpu;
}

export function checkLost(gpu: Gpu): void {
  if (gpu.lostReason) throw new EmberError('DEVICE', `the GPU device was lost (${gpu.lostReason}); reload the model`);
}

import { EmberError } from '../errors.ts';
import type { Gpu } from './device.ts';

/**
 * Every GPU buffer of a model is created through one Allocator, at load time, so that the total
 * is known and `destroyAll` frees everything (nothing leaks when a model is unloaded or a load fails).
 */
let liveBytes = 0;
let liveBuffers = 0;
let liveBindGroups = 0;
/** Bytes in GPU buffers made by any Allocator and not yet destroyed (tests check for leaks with it). */
export function gpuBytesInUse(): number {
  return liveBytes;
}

/**
 * Buffers and bind groups made through any Allocator and not yet released by `destroyAll` (a bind group
 * cannot be destroyed: it is released with the buffers it binds, and dropped with the model).
 */
export function liveGpuObjects(): { buffers: number; bindGroups: number; bytes: number } {
  return { buffers: liveBuffers, bindGroups: liveBindGroups, bytes: liveBytes };
}

export class Allocator {
  private readonly buffers: GPUBuffer[] = [];
  private bindGroups = 0;
  bytes = 0;
  constructor(readonly gpu: Gpu) {}

  storage(label: string, size: number, extraUsage = 0): GPUBuffer {
    return this.create(label, size, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage);
  }

  uniform(label: string, size: number): GPUBuffer {
    return this.create(label, size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }

  /** A storage buffer holding `data` (padded to 4 bytes). */
  upload(label: string, data: ArrayBufferView, extraUsage = 0): GPUBuffer {
    const buf = this.storage(label, data.byteLength, extraUsage);
    writeBuffer(this.gpu, buf, data);
    return buf;
  }

  create(label: string, size: number, usage: number): GPUBuffer {
    const padded = Math.max(16, Math.ceil(size / 16) * 16);
    if (padded > this.gpu.caps.maxBufferSize) {
      throw new EmberError('DEVICE', `buffer ${label} needs ${padded} bytes but the device allows ${this.gpu.caps.maxBufferSize} per buffer`);
    }
    if (usage & GPUBufferUsage.STORAGE && padded > this.gpu.caps.maxStorageBindingSize) {
      throw new EmberError('DEVICE', `storage buffer ${label} needs ${padded} bytes but the device binds at most ${this.gpu.caps.maxStorageBindingSize}; it must be split`);
    }
    const buf = this.gpu.device.createBuffer({ label, size: padded, usage });
    this.buffers.push(buf);
    this.bytes += padded;
    liveBytes += padded;
    liveBuffers++;
    return buf;
  }

  /** Called for each bind group made over this Allocator's buffers (src/kernels/dispatch.ts `bindGroup`). */
  countBindGroup(): void {
    this.bindGroups++;
    liveBindGroups++;
  }

  destroyAll(): Promise<void> {
    for (const b of this.buffers) b.destroy();
    liveBuffers -= this.buffers.length;
    this.buffers.length = 0;
    liveBytes -= this.bytes;
    this.bytes = 0;
    liveBindGroups -= this.bindGroups;
    this.bindGroups = 0;
    // Dawn frees destroyed buffers (and the staging memory of their uploads) only when the device next
    // processes finished work: without this, each model loaded and disposed on a shared device kept its
    // size in process memory until some later submit (measured: +1.5 MB per stories260K load, unbounded).
    // Resolves when it has (a Node worker thread must not stop with the promise pending: Dawn then aborts the process).
    const queue = this.gpu.device.queue;
    queue.submit([]);
    return queue.onSubmittedWorkDone().catch(() => undefined);
  }
}

export function writeBuffer(gpu: Gpu, buf: GPUBuffer, data: ArrayBufferView | ArrayBuffer, offset = 0): void {
  const bytes = (data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) as Uint8Array<ArrayBuffer>;
  if (bytes.byteLength % 4 === 0) {
    gpu.device.queue.writeBuffer(buf, offset, bytes);
  } else {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    gpu.device.queue.writeBuffer(buf, offset, padded);
  }
}

/** Copies `size` bytes of `buf` back to the CPU (tests, debugging; the decode loop reads only a token id). */
export async function readBuffer(gpu: Gpu, buf: GPUBuffer, size = buf.size, offset = 0): Promise<ArrayBuffer> {
  const staging = gpu.device.createBuffer({ size: Math.ceil(size / 4) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = gpu.device.createCommandEncoder();
    enc.copyBufferToBuffer(buf, offset, staging, 0, Math.ceil(size / 4) * 4);
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0, size);
  } finally {
    staging.destroy();
  }
}

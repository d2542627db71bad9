import { EmberError } from './errors.ts';
import type { ByteSource } from './gguf/source.ts';
import type { ModelFolder } from './hf/folder.ts';
import type { FileCache } from './loader/file_cache.ts';
import type { WeightCache } from './model/weight_cache.ts';

/**
 * What only Node has: files, folders and Dawn's WebGPU. The Node entries (src/node/) install it, so
 * that the browser bundle carries no `node:*` module and no `webgpu` package; code shared by both
 * reaches Node through `requireNodeHost` and never imports a Node built-in itself.
 */
export interface NodeHost {
  /** WebGPU from the optional `webgpu` package (Dawn), loaded on first use. */
  gpu(): Promise<GPU>;
  /** Dawn's event polls by timer instead of a busy loop (for CPU adapters: src/gpu/dawn.ts). */
  pollGpuByTimer(): void;
  /** Random access to a local file. */
  openPath(path: string): Promise<ByteSource>;
  isDirectory(path: string): Promise<boolean>;
  /** A Hugging Face model folder on disk (a path or a file: URL). */
  openFolder(dir: string): Promise<ModelFolder>;
  /** Whether anything is at `path` (a path that exists wins over a Hub id of the same spelling). */
  exists(path: string): Promise<boolean>;
  /** Downloads kept in the cache folder (EMBERLM_CACHE, else the platform's cache directory). */
  fileCache(): FileCache;
  /** Quantized weights kept in `dir`, or in the cache folder's weights/. */
  weightCache(dir?: string): Promise<WeightCache>;
  /** Helper devices a load may compile pipelines on (src/kernels/precompile.ts): the spare cores, 0 where Mesa's shader cache is off. */
  precompileHelpers(): number;
  /** ggmlQuantize on worker threads (src/quant/ggml/quantize_pool_node.ts): the same bytes, the cores sharing the work. */
  ggmlQuantize(type: string, values: Float32Array): Promise<Uint8Array>;
}

let host: NodeHost | null = null;

export function installNodeHost(h: NodeHost): void {
  host = h;
}

export const isNode = (): boolean => typeof process !== 'undefined' && !!process.versions?.node;

/** The Node host where the Node entry installed it, else null (the browser). */
export const nodeHostIfAny = (): NodeHost | null => host;

/** The Node host, or a clear error for `what` when the Node entry was not loaded. */
export function requireNodeHost(what: string): NodeHost {
  if (host) return host;
  throw new EmberError(
    'UNSUPPORTED',
    `${what} needs Node's file system, which the browser entry of emberlm leaves out; in Node, import 'emberlm' ` +
      `(its "node" export condition) or 'emberlm/node', not a browser bundle`,
  );
}

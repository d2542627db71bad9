/**
 * emberlm in Node (the "node" export condition of 'emberlm', and 'emberlm/node'): everything the
 * browser entry has, plus local paths, folder caches and WebGPU from the optional `webgpu` package.
 */
import './host.ts';

export * from '../index.ts';
export { sourceFromPath } from '../gguf/source_node.ts';
export { folderWeightCache } from '../model/weight_cache_node.ts';
export { nodeFileCache, nodeWeightCache, defaultCacheRoot } from '../loader/node_cache.ts';

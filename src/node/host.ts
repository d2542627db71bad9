import { stat } from 'node:fs/promises';
import { installNodeHost } from '../node_host.ts';
import { dawnGpu, pollDawnByTimer, precompileHelpers, setLavapipeThreads } from '../gpu/dawn.ts';
import { sourceFromPath } from '../gguf/source_node.ts';
import { pathFolder } from '../hf/folder_node.ts';
import { nodeFileCache, nodeWeightCache } from '../loader/node_cache.ts';
import { folderWeightCache } from '../model/weight_cache_node.ts';
import { ggmlQuantizeParallel } from '../quant/ggml/quantize_pool_node.ts';

// Imported for its effect by every Node entry (and by the tests' setup): paths, folders and Dawn.
setLavapipeThreads(); // before any worker starts: a worker's Dawn reads the main thread's environment
installNodeHost({
  gpu: dawnGpu,
  pollGpuByTimer: pollDawnByTimer,
  openPath: sourceFromPath,
  isDirectory: async (path) => (await stat(path).catch(() => null))?.isDirectory() ?? false,
  openFolder: pathFolder,
  exists: async (path) => (await stat(path).catch(() => null)) !== null,
  fileCache: () => nodeFileCache(),
  weightCache: (dir) => (dir === undefined ? nodeWeightCache() : folderWeightCache(dir)),
  ggmlQuantize: (type, values) => ggmlQuantizeParallel(type, values),
  precompileHelpers: () => precompileHelpers(),
});

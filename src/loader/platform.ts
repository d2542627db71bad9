import { isNode, requireNodeHost } from '../node_host.ts';
import { browserWeightCache, type WeightCache } from '../model/weight_cache.ts';
import { browserFileCache, hasCacheStorage } from './browser_store.ts';
import type { FileCache } from './file_cache.ts';

/** The downloads cache loads use unless told otherwise: the cache folder in Node, Cache Storage in a page or worker, else none. */
export async function defaultFileCache(): Promise<FileCache | null> {
  if (isNode()) return requireNodeHost('the downloads cache folder').fileCache();
  return hasCacheStorage() ? browserFileCache() : null;
}

/**
 * A quantized-weight cache named by plain data (so it can cross to a worker): `true` for the
 * platform's default (Cache Storage "emberlm-weights", or `<cache folder>/weights` in Node), or a
 * string: a Cache Storage name in a browser, a folder in Node.
 */
export async function weightCacheFrom(spec: true | string): Promise<WeightCache> {
  if (isNode()) return requireNodeHost('a weight cache folder').weightCache(spec === true ? undefined : spec);
  return browserWeightCache(spec === true ? undefined : spec);
}

import type { WeightData } from '../kernels/matmul.ts';
import type { MatrixOptions, QuantScheme, WeightSource } from './weight_source.ts';

/**
 * Where quantized weights are kept between loads, so a scheme's quantization runs once per model
 * file rather than at every load. Keys name the source file (name and size), the tensor and the
 * scheme; values are the converted matrix as one byte blob.
 */
export interface WeightCache {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

/** The element type of `WeightData.data`: f32, u32 words, or bytes (ggml's raw blocks). */
type DataKind = 'f32' | 'u32' | 'u8';
const kindOf = (a: ArrayBufferView): DataKind => (a instanceof Float32Array ? 'f32' : a instanceof Uint8Array ? 'u8' : 'u32');

/**
 * WeightData <-> bytes: a JSON header (format, shape, scale layout, data kind, array lengths), then the
 * data (padded to 4 bytes) and the scales.
 */
export function encodeWeight(w: WeightData): Uint8Array {
  const data = w.data as Float32Array | Uint32Array | Uint8Array;
  const header = new TextEncoder().encode(
    JSON.stringify({
      format: w.format, rows: w.rows, cols: w.cols, scaleLayout: w.scaleLayout ?? null,
      kind: kindOf(data), data: data.length, scales: w.scales?.length ?? -1,
    }),
  );
  const pad = (n: number) => Math.ceil(n / 4) * 4;
  const out = new Uint8Array(4 + pad(header.length) + pad(data.byteLength) + (w.scales?.byteLength ?? 0));
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  let o = 4 + pad(header.length);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), o);
  o += pad(data.byteLength);
  if (w.scales) out.set(new Uint8Array(w.scales.buffer, w.scales.byteOffset, w.scales.byteLength), o);
  return out;
}

export function decodeWeight(bytes: Uint8Array): WeightData | null {
  try {
    const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
    const h = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
    let o = 4 + Math.ceil(n / 4) * 4;
    const copy = bytes.slice(o); // aligned, owned copy
    const kind = h.kind as DataKind;
    const data = kind === 'f32' ? new Float32Array(copy.buffer, 0, h.data)
      : kind === 'u8' ? new Uint8Array(copy.buffer, 0, h.data) : new Uint32Array(copy.buffer, 0, h.data);
    o = Math.ceil(data.byteLength / 4) * 4;
    const scales = h.scales >= 0 ? new Float32Array(copy.buffer, o, h.scales) : undefined;
    if (o + (scales?.byteLength ?? 0) !== copy.byteLength) return null; // truncated or stale entry: recompute
    return { format: h.format, rows: h.rows, cols: h.cols, data, scales, ...(h.scaleLayout ? { scaleLayout: h.scaleLayout } : {}) } as WeightData;
  } catch {
    return null;
  }
}

/** A WeightSource whose converted matrices come from `cache` when present, and go into it otherwise. */
export function cachedWeights(src: WeightSource, cache: WeightCache, fileKey: string): WeightSource {
  return {
    name: src.name,
    has: (t) => src.has(t),
    vector: (t, n, shape) => src.vector(t, n, shape),
    async matrix(tensor: string, rows: number, cols: number, quant: QuantScheme, opts?: MatrixOptions) {
      if (quant === 'auto') return src.matrix(tensor, rows, cols, quant); // nothing to save: it is the file's own layout
      const key = `${fileKey}|${tensor}|${rows}x${cols}|${quant}|v2`; // v2: data kind f32/u32/u8
      const hit = await cache.get(key);
      const w = hit && decodeWeight(hit);
      if (w && w.rows === rows && w.cols === cols) return w;
      const fresh = await src.matrix(tensor, rows, cols, quant, opts);
      if (!fresh.gpuQuant) await cache.put(key, encodeWeight(fresh)); // values the GPU quantizes: nothing was converted
      return fresh;
    },
  };
}

/** A cache in the browser's Cache Storage (survives reloads), one entry per matrix. */
export function browserWeightCache(name = 'emberlm-weights'): WeightCache {
  const url = (key: string) => `https://emberlm.cache/${encodeURIComponent(key)}`;
  return {
    async get(key) {
      const r = await (await caches.open(name)).match(url(key));
      return r ? new Uint8Array(await r.arrayBuffer()) : null;
    },
    async put(key, bytes) {
      await (await caches.open(name)).put(url(key), new Response(bytes as Uint8Array<ArrayBuffer>));
    },
  };
}

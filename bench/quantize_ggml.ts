/**
 * ggml's quantizers on an adapter against the CPU's (ggmlQuantize on this thread): nanoseconds a value each way on
 * the same values (normals of std 0.04, trained weights' range), and whether the bytes are the same. In the browser:
 * bench/quantize_ggml_page (SwiftShader in bench/browser.ts; `?values=N&types=Q4_K,Q6_K`).
 *
 *   npx tsx bench/quantize_ggml.ts [values (default 2^22)] [types (default Q4_0,Q8_0,Q4_K,Q5_K,Q6_K)]
 *   npx tsx bench/browser.ts quantize_ggml_page 'values=4194304&types=Q4_K'
 */
import type { Gpu } from '../src/gpu/device.ts';

export async function quantizeGgmlReport(gpu: Gpu, n = 1 << 22, types = ['Q4_0', 'Q8_0', 'Q4_K', 'Q5_K', 'Q6_K']): Promise<string> {
  // Imported here: under tsx the kernels' WGSL loads only once runUnderVite has re-imported this file.
  const { ggmlQuantizeOnGpu } = await import('../src/kernels/quantize_ggml.ts');
  const { ggmlQuantize, ggmlRandomBlocks } = await import('../src/quant/ggml/index.ts');
  const { mulberry32 } = await import('../src/util/rng.ts');
  const values = new Float32Array(ggmlRandomBlocks('F32', n, mulberry32(7)).buffer); // normals of std 0.04
  const lines = [`${gpu.caps.adapterName}: ${n} values`];
  for (const type of types) {
    await ggmlQuantizeOnGpu(gpu, type, values.subarray(0, 256)); // compiles the pipeline
    let t0 = performance.now();
    const onGpu = await ggmlQuantizeOnGpu(gpu, type, values);
    const gpuNs = ((performance.now() - t0) * 1e6) / n;
    t0 = performance.now();
    const onCpu = ggmlQuantize(type, values);
    const cpuNs = ((performance.now() - t0) * 1e6) / n;
    const same = onGpu.length === onCpu.length && onGpu.every((b, i) => b === onCpu[i]);
    lines.push(`${type}: GPU ${gpuNs.toFixed(1)} ns a value, CPU (one thread) ${cpuNs.toFixed(1)}; ${same ? 'the same bytes' : 'BYTES DIFFER'}`);
  }
  return lines.join('\n');
}

export async function main(): Promise<void> {
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  const { loadavg } = await import('node:os');
  const [n, types] = process.argv.slice(2);
  console.log(await quantizeGgmlReport(await createGpu(), n ? Number(n) : undefined, types?.split(',')));
  console.log(`load average: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  process.exit(0);
}

// Node only: bench/quantize_ggml_page imports this module in the browser, where Vite defines import.meta.env.
if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);

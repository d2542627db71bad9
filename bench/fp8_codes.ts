/**
 * Whether an adapter's matmul decodes every FP8 E4M3 code exactly, through the f16 fields and straight into f32 bits
 * (MatmulTuning.fp8Bits, which needs f32 subnormals kept: lavapipe keeps them, SwiftShader flushes them): the GEMV of the
 * default layout and 'flat', and the GEMM. Row c of a 256-row matrix holds code c (no NaN code: 0x7F and 0xFF are
 * zeros), x = (1, 0, 0, 0). In the browser: bench/fp8_codes_page.
 *
 *   npx tsx bench/fp8_codes.ts
 *   npx tsx bench/browser.ts fp8_codes_page
 */
import type { Gpu } from '../src/gpu/device.ts';
import type { MatmulTuning } from '../src/kernels/matmul.ts';

export async function fp8CodesReport(gpu: Gpu): Promise<string> {
  // Imported here: under tsx the kernels' WGSL loads only once runUnderVite has re-imported this file.
  const { Allocator, readBuffer } = await import('../src/gpu/buffers.ts');
  const { buildMatmul, matmulTuning, uploadWeights } = await import('../src/kernels/matmul.ts');
  const { STEP, STEP_DEFAULTS, encodeDispatches } = await import('../src/kernels/dispatch.ts');
  const { FP8_E4M3_VALUES } = await import('../src/quant/fp8.ts');
  const alloc = new Allocator(gpu);
  const isNan = (c: number) => (c & 0x7f) === 0x7f;
  const data = Uint32Array.from({ length: 256 }, (_, c) => (isNan(c) ? 0 : c));
  const w = uploadWeights(alloc, 'w', { format: 'fp8e4m3', rows: 256, cols: 4, data, scales: new Float32Array(256).fill(1), scaleLayout: { blockRows: 1, blockCols: 4 } });
  const x = alloc.upload('x', new Float32Array([1, 0, 0, 0]));
  const step = alloc.uniform('step', STEP.size);
  gpu.device.queue.writeBuffer(step, 0, STEP.pack({ ...STEP_DEFAULTS, n_tokens: 1 }));
  const lines = [`${gpu.caps.adapterName}: default fp8Bits ${matmulTuning(gpu.caps, 'fp8e4m3').fp8Bits}`];
  const layouts: [string, 'gemv' | 'gemm', Partial<MatmulTuning>][] = [
    ['gemv default', 'gemv', {}],
    ['gemv flat', 'gemv', { gemv: 'flat' }],
    ['gemm default', 'gemm', {}],
  ];
  for (const [name, path, layout] of layouts) {
    for (const fp8Bits of [false, true]) {
      const y = alloc.storage('y', 256 * 4);
      const mm = await buildMatmul(gpu, alloc, { label: 'mm', w, x, y, step, maxTokens: 1, tuning: { ...layout, fp8Bits } });
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeDispatches(pass, mm[path], 1);
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBuffer(gpu, y, 256 * 4));
      const wrong = [...FP8_E4M3_VALUES.keys()].filter((c) => got[c] !== (isNan(c) ? 0 : FP8_E4M3_VALUES[c]));
      lines.push(`${name} fp8Bits=${fp8Bits}: ${wrong.length ? `${wrong.length} codes wrong, e.g. ${wrong.slice(0, 4).map((c) => `0x${c.toString(16)} -> ${got[c]}`).join(', ')}` : 'all exact'}`);
    }
  }
  alloc.destroyAll();
  return lines.join('\n');
}

export async function main(): Promise<void> {
  await import('../src/node/host.ts');
  const { createGpu } = await import('../src/gpu/device.ts');
  console.log(await fp8CodesReport(await createGpu()));
}

// Node only: bench/fp8_codes_page imports this module in the browser, where Vite defines import.meta.env.
if (typeof import.meta.env === 'undefined') await (await import('./run_under_vite.ts')).runUnderVite(import.meta);

import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The node files that take longest on a new machine (lavapipe compiling their pipelines into an empty shader cache), in
 * that order: measured cold on a 2-core VM, 2026-12-08. vitest orders files it has no timings for (a clean clone) by
 * size, which put matmul_gguf (a short file of many pipelines) near the end, alone on one core for minutes.
 */
const LONGEST = [
  'matmul.test.ts', 'layers.test.ts', 'matmul_gguf.test.ts', 'hf_oracle.test.ts', 'matmul_fused.test.ts', 'moe.test.ts',
  'model_oracle.test.ts', 'gguf_from_hf.test.ts', 'bench.test.ts', 'quantize_weights.test.ts', 'kquants_gpu.test.ts',
];

/** Longest first (LONGEST, then vitest's own order), so that the two workers finish together. */
export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST.findIndex((name) => f.moduleId.endsWith(`/test/${name}`));
      return i < 0 ? LONGEST.length : i;
    };
    const group = (f: TestSpecification) => f.project.config.sequence.groupOrder;
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => group(a.f) - group(b.f) || rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}

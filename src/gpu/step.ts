import { UniformLayout } from './uniforms.ts';

/**
 * Per-forward-pass values every kernel may read (binding 1 where used): written once per forward
 * with a single writeBuffer, so a decode step changes no other uniform. Its WGSL struct is generated
 * from this declaration and put in front of every kernel (see shaderText), never written by hand.
 */
export const STEP = new UniformLayout('Step', [
  ['n_tokens', 'u32'], // tokens in this pass (1 for decode)
  ['pos', 'u32'], // position of the first of them
  ['seed', 'u32'], // sampling: per-step random seed
  ['temperature', 'f32'], // sampling: 0 = greedy
  ['top_k', 'u32'], // sampling: 0 = off
  ['top_p', 'f32'], // sampling: 1 = off
  ['uniform_rand', 'f32'], // sampling: a uniform random number in [0,1) drawn on the CPU from the seeded generator
  ['pad0', 'u32'],
] as const);
export type StepValues = Parameters<typeof STEP.pack>[0];

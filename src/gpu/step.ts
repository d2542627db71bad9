import { UniformLayout } from './uniforms.ts';

/**
 * Per-forward-pass values every kernel may read (binding 1 where used): written once per forward
 * with a single writeBuffer, so a decode step changes no other uniform. Its WGSL struct is generated
 * from this declaration and put in front of every kernel (see shaderText), never written by hand.
 * The sampling fields are read by the sampler alone (shaders/sample.wgsl says what each does).
 */
export const STEP = new UniformLayout('Step', [
  ['n_tokens', 'u32'], // tokens in this pass (1 for decode)
  ['pos', 'u32'], // position of the first of them
  ['temperature', 'f32'], // sampling: 0 = greedy
  ['top_k', 'u32'], // sampling: 0 = off
  ['top_p', 'f32'], // sampling: 1 = off
  ['min_p', 'f32'], // sampling: 0 = off
  ['repetition_penalty', 'f32'], // sampling: 1 = off
  ['presence_penalty', 'f32'], // sampling: 0 = off
  ['frequency_penalty', 'f32'], // sampling: 0 = off
  ['n_bias', 'u32'], // sampling: logit_bias entries in the sampler's bias buffer
  ['record', 'u32'], // sampling: 1 = the chosen id is a generated token (counted for the penalties)
  ['uniform_rand', 'f32'], // sampling: a uniform random number in [0,1) drawn on the CPU from the seeded generator
  ['masked', 'u32'], // sampling: 1 = only the tokens the sampler's `allowed` bits name may be chosen (a grammar)
  ['logprobs', 'u32'], // sampling: 0 = off, else 1 + k: the `logprobs` pass reports the chosen token's and the k likeliest
] as const);
export type StepValues = Parameters<typeof STEP.pack>[0];

/** A pass of one token at position 0 with greedy sampling and nothing counted: spread it and set what differs. */
export const STEP_DEFAULTS: StepValues = Object.freeze({
  n_tokens: 1, pos: 0, temperature: 0, top_k: 0, top_p: 1, min_p: 0,
  repetition_penalty: 1, presence_penalty: 0, frequency_penalty: 0, n_bias: 0, record: 0, uniform_rand: 0, masked: 0, logprobs: 0,
});

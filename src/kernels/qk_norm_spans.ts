// No shader imports: the weight readers and models/hf_to_gguf.ts (run by tsx) take it too.

/** Elements one Q norm and one K norm cover, their weights' lengths: a head each, or with allHeads all of Q and all of K. */
export function qkNormSpans(s: { nHead: number; nKv: number; headDim: number }, allHeads = false): [number, number] {
  return allHeads ? [s.nHead * s.headDim, s.nKv * s.headDim] : [s.headDim, s.headDim];
}

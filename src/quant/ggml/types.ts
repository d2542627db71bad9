/**
 * Every tensor type id ggml gives GGUF files (ggml.h `enum ggml_type`, llama.cpp de3ff81), with its block
 * geometry: `blockElems` values take `blockBytes` bytes (`sizeof(block_*)` in ggml-common.h). Types emberlm
 * cannot decode are listed too, so a file's tensor sizes can always be validated and an unsupported type
 * named. Ids 4, 5 and 31..33, 36..38 were removed from ggml and are not listed.
 */
export interface GgmlType {
  readonly id: number;
  readonly name: string;
  readonly blockElems: number;
  readonly blockBytes: number;
}

const QK_K = 256;
const table: [name: string, id: number, blockElems: number, blockBytes: number][] = [
  ['F32', 0, 1, 4],
  ['F16', 1, 1, 2],
  ['Q4_0', 2, 32, 18], // f16 d, 16 B nibbles
  ['Q4_1', 3, 32, 20], // f16 d, f16 m, 16 B nibbles
  ['Q5_0', 6, 32, 22], // f16 d, u32 fifth bits, 16 B nibbles
  ['Q5_1', 7, 32, 24], // f16 d, f16 m, u32 fifth bits, 16 B nibbles
  ['Q8_0', 8, 32, 34], // f16 d, 32 int8
  ['Q8_1', 9, 32, 36], // f16 d, f16 s, 32 int8 (gguf-py says 40: the old f32 d and s; ggml's struct is 36)
  ['Q2_K', 10, QK_K, 84], // 16 B scales|mins, 64 B 2-bit codes, f16 d, f16 dmin
  ['Q3_K', 11, QK_K, 110], // 32 B high bits, 64 B low 2 bits, 12 B 6-bit scales, f16 d
  ['Q4_K', 12, QK_K, 144], // f16 d, f16 dmin, 12 B 6-bit scales|mins, 128 B nibbles
  ['Q5_K', 13, QK_K, 176], // f16 d, f16 dmin, 12 B scales|mins, 32 B fifth bits, 128 B nibbles
  ['Q6_K', 14, QK_K, 210], // 128 B low nibbles, 64 B high 2 bits, 16 int8 scales, f16 d
  ['Q8_K', 15, QK_K, 292], // f32 d, 256 int8, 16 int16 block sums
  ['IQ2_XXS', 16, QK_K, 66],
  ['IQ2_XS', 17, QK_K, 74],
  ['IQ3_XXS', 18, QK_K, 98],
  ['IQ1_S', 19, QK_K, 50],
  ['IQ4_NL', 20, 32, 18], // f16 d, 16 B nibbles indexing a 16-value table
  ['IQ3_S', 21, QK_K, 110],
  ['IQ2_S', 22, QK_K, 82],
  ['IQ4_XS', 23, QK_K, 136], // f16 d, u16 scales_h, 4 B scales_l, 128 B nibbles
  ['I8', 24, 1, 1],
  ['I16', 25, 1, 2],
  ['I32', 26, 1, 4],
  ['I64', 27, 1, 8],
  ['F64', 28, 1, 8],
  ['IQ1_M', 29, QK_K, 56],
  ['BF16', 30, 1, 2],
  ['TQ1_0', 34, QK_K, 54],
  ['TQ2_0', 35, QK_K, 66],
  ['MXFP4', 39, 32, 17],
  ['NVFP4', 40, 64, 36],
  ['Q1_0', 41, 128, 18],
  ['Q2_0', 42, 64, 18],
];

const entry = ([name, id, blockElems, blockBytes]: (typeof table)[number]): [string, GgmlType] => [
  name,
  Object.freeze({ id, name, blockElems, blockBytes }),
];
export const GGML_TYPES: Readonly<Record<string, GgmlType>> = Object.freeze(Object.fromEntries(table.map(entry)));

const byId = new Map(Object.values(GGML_TYPES).map((t) => [t.id, t]));

/** The type with ggml id `id`, or undefined for an id ggml does not (or no longer) define. */
export function ggmlTypeById(id: number): GgmlType | undefined {
  return byId.get(id);
}

/**
 * The repacking of GGUF blocks into the GPU layout as it was first written (per element: each block's
 * codes into a byte per code, then every code placed by planeVec), kept only as the reference that
 * test/repack.test.ts and bench/repack.ts compare src/kernels/weight_layouts.ts's word-level repacking
 * with. The GPU tests (matmul_gguf, kquants_gpu) checked this one against ggml's dequantization.
 * A row's size in words is the layout's (planeRowWords); where each code goes stays this file's own (planeVec).
 */
import { planeRowWords } from '../../src/kernels/weight_layouts.ts';

/** One GGUF block format's ggml block and its GPU layout. */
interface GgufLayout {
  ggml: string; // ggml's type name
  blockElems: number;
  blockBytes: number;
  planes: readonly (1 | 2 | 4 | 8)[]; // bit planes of a code, low bits first (8: whole codes, a widened layout)
  scaleWords: (K: number) => number; // u32 scale words per row
  /** Block b of a row at src[o ..]: its codes into `codes` (blockElems) and its scale words into the row's `scales`. */
  unpack: (src: Uint8Array, o: number, b: number, codes: Uint8Array, scales: Uint32Array) => void;
}

const u16 = (s: Uint8Array, o: number) => s[o] | (s[o + 1] << 8);
const u32 = (s: Uint8Array, o: number) => (s[o] | (s[o + 1] << 8) | (s[o + 2] << 16) | (s[o + 3] << 24)) >>> 0;
/** Bytes b[0..n) into words at scales[w ..], little-endian. */
function bytesToWords(b: ArrayLike<number>, scales: Uint32Array, w: number): void {
  for (let i = 0; i < b.length; i += 4) scales[w + i / 4] = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** 32 codes of a Q4_0-style byte array: byte j holds element j (low nibble) and j + 16 (high nibble). */
function nibbles32(src: Uint8Array, o: number, codes: Uint8Array, at: number, high?: number): void {
  for (let j = 0; j < 16; j++) {
    const v = src[o + j];
    codes[at + j] = (v & 15) | (high === undefined ? 0 : ((high >>> j) & 1) << 4);
    codes[at + j + 16] = (v >> 4) | (high === undefined ? 0 : ((high >>> (j + 16)) & 1) << 4);
  }
}

/** Q4_K / Q5_K's 12 bytes of 6-bit scales and mins (ggml's get_scale_min_k4), as 8 scales and 8 mins. */
function scaleMinK4(src: Uint8Array, o: number): { sc: number[]; m: number[] } {
  const q = (i: number) => src[o + i];
  const sc: number[] = [];
  const m: number[] = [];
  for (let j = 0; j < 8; j++) {
    sc.push(j < 4 ? q(j) & 63 : (q(j + 4) & 0xf) | ((q(j - 4) >> 6) << 4));
    m.push(j < 4 ? q(j + 4) & 63 : (q(j + 4) >> 4) | ((q(j) >> 6) << 4));
  }
  return { sc, m };
}

/** Half-word d per 32-block, two blocks a word (Q5_0, IQ4_NL). */
const halfPerBlock = (scales: Uint32Array, b: number, d: number) => {
  scales[b >> 1] = (scales[b >> 1] | (d << (16 * (b & 1)))) >>> 0;
};

const Q4_1: GgufLayout = {
  ggml: 'Q4_1', blockElems: 32, blockBytes: 20, planes: [4],
  scaleWords: (K) => K / 32,
  unpack(s, o, b, codes, scales) {
    scales[b] = (u16(s, o) | (u16(s, o + 2) << 16)) >>> 0;
    nibbles32(s, o + 4, codes, 0);
  },
};
const Q5_0: GgufLayout = {
  ggml: 'Q5_0', blockElems: 32, blockBytes: 22, planes: [4, 1],
  scaleWords: (K) => Math.ceil(K / 64),
  unpack(s, o, b, codes, scales) {
    halfPerBlock(scales, b, u16(s, o));
    nibbles32(s, o + 6, codes, 0, u32(s, o + 2));
  },
};
const Q5_1: GgufLayout = {
  ggml: 'Q5_1', blockElems: 32, blockBytes: 24, planes: [4, 1],
  scaleWords: (K) => K / 32,
  unpack(s, o, b, codes, scales) {
    scales[b] = (u16(s, o) | (u16(s, o + 2) << 16)) >>> 0;
    nibbles32(s, o + 8, codes, 0, u32(s, o + 4));
  },
};
const IQ4_NL: GgufLayout = {
  ggml: 'IQ4_NL', blockElems: 32, blockBytes: 18, planes: [4],
  scaleWords: (K) => Math.ceil(K / 64),
  unpack(s, o, b, codes, scales) {
    halfPerBlock(scales, b, u16(s, o));
    nibbles32(s, o + 2, codes, 0);
  },
};
/** Q4_K and Q5_K (with its fifth bits at qh): 4 chunks of 64, low nibbles then high nibbles of 32 bytes. */
function unpackQ45K(five: boolean): GgufLayout['unpack'] {
  return (s, o, b, codes, scales) => {
    const { sc, m } = scaleMinK4(s, o + 4);
    scales[5 * b] = u32(s, o);
    bytesToWords([...sc, ...m], scales, 5 * b + 1);
    const qs = o + (five ? 48 : 16);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const v = s[qs + 32 * c + l];
        const h = five ? s[o + 16 + l] >> (2 * c) : 0;
        codes[64 * c + l] = (v & 15) | ((h & 1) << 4);
        codes[64 * c + 32 + l] = (v >> 4) | (((h >> 1) & 1) << 4);
      }
    }
  };
}
const Q4_K: GgufLayout = { ggml: 'Q4_K', blockElems: 256, blockBytes: 144, planes: [4], scaleWords: (K) => (K / 256) * 5, unpack: unpackQ45K(false) };
const Q5_K: GgufLayout = { ggml: 'Q5_K', blockElems: 256, blockBytes: 176, planes: [4, 1], scaleWords: (K) => (K / 256) * 5, unpack: unpackQ45K(true) };
const Q6_K: GgufLayout = {
  ggml: 'Q6_K', blockElems: 256, blockBytes: 210, planes: [4, 2],
  scaleWords: (K) => (K / 256) * 5,
  unpack(s, o, b, codes, scales) {
    scales[5 * b] = u16(s, o + 208);
    bytesToWords(s.subarray(o + 192, o + 208), scales, 5 * b + 1); // int8 scales, one per 16, in element order
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n;
      const qh = o + 128 + 32 * n;
      for (let l = 0; l < 32; l++) {
        const e = 128 * n + l;
        codes[e] = (s[ql + l] & 15) | ((s[qh + l] & 3) << 4);
        codes[e + 32] = (s[ql + l + 32] & 15) | (((s[qh + l] >> 2) & 3) << 4);
        codes[e + 64] = (s[ql + l] >> 4) | (((s[qh + l] >> 4) & 3) << 4);
        codes[e + 96] = (s[ql + l + 32] >> 4) | (((s[qh + l] >> 6) & 3) << 4);
      }
    }
  },
};
/** Q2_K / Q3_K's 2-bit codes: 128 per half super-block, 4 shifts of 32 (16 + 16) each. */
function twoBit(s: Uint8Array, qs: number, codes: Uint8Array, high?: (n: number, j: number, l: number) => number): void {
  for (let n = 0; n < 2; n++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        const low = (s[qs + 32 * n + l] >> (2 * j)) & 3;
        codes[128 * n + 32 * j + l] = low | (high ? high(n, j, l) << 2 : 0);
      }
    }
  }
}
const Q2_K: GgufLayout = {
  ggml: 'Q2_K', blockElems: 256, blockBytes: 84, planes: [2],
  scaleWords: (K) => (K / 256) * 5,
  unpack(s, o, b, codes, scales) {
    scales[5 * b] = u32(s, o + 80); // d | dmin << 16
    bytesToWords(s.subarray(o, o + 16), scales, 5 * b + 1); // sc | m << 4, one per 16, in element order
    twoBit(s, o + 16, codes);
  },
};
const Q3_K: GgufLayout = {
  ggml: 'Q3_K', blockElems: 256, blockBytes: 110, planes: [2, 1],
  scaleWords: (K) => (K / 256) * 5,
  unpack(s, o, b, codes, scales) {
    scales[5 * b] = u16(s, o + 108);
    // ggml's 12 bytes of 6-bit scales, unpacked as dequantize_row_q3_K does (kmask1 0x03.., kmask2 0x0f..).
    const [a0, a1, tmp] = [u32(s, o + 96), u32(s, o + 100), u32(s, o + 104)];
    const k1 = 0x03030303;
    const k2 = 0x0f0f0f0f;
    scales[5 * b + 1] = ((a0 & k2) | (((tmp >>> 0) & k1) << 4)) >>> 0;
    scales[5 * b + 2] = ((a1 & k2) | (((tmp >>> 2) & k1) << 4)) >>> 0;
    scales[5 * b + 3] = (((a0 >>> 4) & k2) | (((tmp >>> 4) & k1) << 4)) >>> 0;
    scales[5 * b + 4] = (((a1 >>> 4) & k2) | (((tmp >>> 6) & k1) << 4)) >>> 0;
    // The high bit is ggml's hmask bit 4n + j of byte l (set: no -4), so code = low | h << 2, w = d * (code - 4).
    twoBit(s, o + 32, codes, (n, j, l) => (s[o + l] >> (4 * n + j)) & 1);
  },
};
const IQ4_XS: GgufLayout = {
  ggml: 'IQ4_XS', blockElems: 256, blockBytes: 136, planes: [4],
  scaleWords: (K) => (K / 256) * 3,
  unpack(s, o, b, codes, scales) {
    scales[3 * b] = u16(s, o);
    const hi = u16(s, o + 2);
    const ls = Array.from({ length: 8 }, (_, i) => ((s[o + 4 + (i >> 1)] >> (4 * (i & 1))) & 15) | (((hi >> (2 * i)) & 3) << 4));
    bytesToWords(ls, scales, 3 * b + 1);
    for (let i = 0; i < 8; i++) nibbles32(s, o + 8 + 16 * i, codes, 32 * i);
  },
};

export const REFERENCE_LAYOUTS = {
  q4_1: Q4_1,
  q5_0: Q5_0,
  q5_1: Q5_1,
  q2_k: Q2_K,
  q3_k: Q3_K,
  q4_k: Q4_K,
  q5_k: Q5_K,
  q6_k: Q6_K,
  iq4_nl: IQ4_NL,
  iq4_xs: IQ4_XS,
} as const satisfies Record<string, GgufLayout>;


/**
 * The vec4 of a row that holds code k of plane `plane`. One plane: its vec4s in order. Two (low, high):
 * chunks of one high vec4's codes (128 / high bits), each its low vec4s then its high vec4; the last
 * chunk holds only the low vec4s it needs (shaders/weights/planes.wgsl, load_codes).
 */
function planeVec(l: GgufLayout, K: number, plane: number, k: number): number {
  const loPer = 128 / l.planes[0];
  if (l.planes.length === 1) return Math.floor(k / loPer);
  const hiPer = 128 / l.planes[1];
  const chunkLo = hiPer / loPer;
  const c = Math.floor(k / hiPer);
  const at = c * (chunkLo + 1);
  if (plane === 0) return at + Math.floor((k % hiPer) / loPer);
  return at + Math.min(chunkLo, Math.ceil((K - c * hiPer) / loPer));
}

/**
 * Rows of raw ggml blocks (rows x K/blockElems blocks) into their code planes and scale records. In a
 * plane of `bits`-bit codes, each vec4 (4 words) holds G = 128 / bits codes, code e of it in word e % 4
 * at bit position bits * floor(e / 4): the 4 codes of a piece (k .. k+3) sit at one shift in the 4 words
 * (shaders/weights/planes.wgsl). Where the vec4s go: planeVec.
 */
export function repackGgufReference(l: GgufLayout, src: Uint8Array, rows: number, K: number): { codes: Uint32Array; scales: Uint32Array } {
  if (l.planes.length > 2) throw new Error(`${l.ggml}: at most two bit planes`);
  const nb = K / l.blockElems;
  const cw = planeRowWords(l, K);
  const sw = l.scaleWords(K);
  const codes = new Uint32Array(rows * cw);
  const scales = new Uint32Array(rows * sw);
  const row = new Uint8Array(K);
  for (let r = 0; r < rows; r++) {
    const rs = scales.subarray(r * sw, (r + 1) * sw);
    for (let b = 0; b < nb; b++) {
      l.unpack(src, (r * nb + b) * l.blockBytes, b, row.subarray(b * l.blockElems, (b + 1) * l.blockElems), rs);
    }
    let shift = 0;
    l.planes.forEach((bits, plane) => {
      const mask = (1 << bits) - 1;
      const per = 128 / bits;
      for (let k0 = 0; k0 < K; k0 += per) {
        const at = r * cw + 4 * planeVec(l, K, plane, k0);
        const n = Math.min(per, K - k0);
        for (let j = 0; j < 4; j++) {
          let word = 0; // codes j, j + 4, j + 8 ... of this vec4, at slots 0, 1, 2 ...
          for (let e = j, slot = 0; e < n; e += 4, slot += bits) word |= ((row[k0 + e] >> shift) & mask) << slot;
          codes[at + j] = word >>> 0;
        }
      }
      shift += bits;
    });
  }
  return { codes, scales };
}

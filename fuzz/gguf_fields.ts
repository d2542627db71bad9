/**
 * Where each field of a GGUF header sits in the file, so that a semantic mutation can change exactly
 * one of them (one metadata value, one tensor dimension, one offset) and leave the rest valid.
 */

export type FieldKind = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'u64' | 'i64' | 'f64' | 'strlen' | 'strbytes' | 'vtype';

export interface Field {
  /** What it is, for the case description: "meta general.architecture value", "tensor blk.0.attn_q.weight ne[1]". */
  readonly what: string;
  readonly kind: FieldKind;
  readonly at: number;
  /** Bytes the field takes (string bytes: their length). */
  readonly len: number;
}

const SCALAR: Record<number, [FieldKind, number]> = {
  0: ['u8', 1], 1: ['i8', 1], 2: ['u16', 2], 3: ['i16', 2], 4: ['u32', 4], 5: ['i32', 4], 6: ['f32', 4], 7: ['bool', 1],
  10: ['u64', 8], 11: ['i64', 8], 12: ['f64', 8],
};

/** Every field of a valid GGUF header, in file order, and where the header ends. Arrays: their type, count and up to 4 elements. */
export function ggufFields(b: Uint8Array): { fields: Field[]; headerEnd: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dec = new TextDecoder();
  const fields: Field[] = [];
  let p = 0;
  const add = (what: string, kind: FieldKind, len: number) => {
    fields.push({ what, kind, at: p, len });
    p += len;
  };
  const str = (what: string): string => {
    const n = Number(dv.getBigUint64(p, true));
    add(`${what} length`, 'strlen', 8);
    const s = dec.decode(b.subarray(p, p + n));
    if (n > 0) add(`${what} bytes`, 'strbytes', n);
    return s;
  };
  add('magic', 'u32', 4);
  add('version', 'u32', 4);
  const nTensors = Number(dv.getBigUint64(p, true));
  add('tensor count', 'u64', 8);
  const nKv = Number(dv.getBigUint64(p, true));
  add('metadata count', 'u64', 8);
  const value = (what: string, type: number): void => {
    if (type === 8) return void str(what);
    const s = SCALAR[type];
    if (s) return add(what, s[0], s[1]);
    if (type !== 9) throw new Error(`value type ${type}`);
    const et = dv.getUint32(p, true);
    add(`${what} element type`, 'vtype', 4);
    const n = Number(dv.getBigUint64(p, true));
    add(`${what} element count`, 'u64', 8);
    for (let i = 0; i < n; i++) {
      const before = fields.length;
      value(`${what}[${i}]`, et);
      if (i >= 4) fields.length = before; // keep a few elements as targets, skip the rest
    }
  };
  for (let i = 0; i < nKv; i++) {
    const key = str('meta key');
    const type = dv.getUint32(p, true);
    add(`meta ${key} type`, 'vtype', 4);
    value(`meta ${key} value`, type);
  }
  for (let i = 0; i < nTensors; i++) {
    const name = str('tensor name');
    const nd = dv.getUint32(p, true);
    add(`tensor ${name} n_dims`, 'u32', 4);
    for (let d = 0; d < nd; d++) add(`tensor ${name} ne[${d}]`, 'u64', 8);
    add(`tensor ${name} type`, 'u32', 4);
    add(`tensor ${name} offset`, 'u64', 8);
  }
  return { fields, headerEnd: p };
}

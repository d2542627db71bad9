/**
 * Seeded mutators. Each takes valid bytes (or a parsed JSON value) and a generator, makes one change
 * and says what it changed; the same seed always makes the same case. Two families: random byte
 * changes (bit flips, overwrites, inserts, deletes, truncation) and semantic ones (one field of an
 * otherwise valid file set to a value chosen to be wrong: 0, -1, NaN, a huge count, the wrong type).
 */
import type { Field } from './gguf_fields.ts';

export type Rng = () => number;
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
export const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export interface Mutated<T> {
  readonly value: T;
  readonly what: string;
}

// ---- bytes --------------------------------------------------------------------------------------

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x0a, 0x22, 0x5c, 0x7b, 0x7d];

/** One random byte-level change, at a position drawn from [lo, hi) (the header, mostly). */
export function mutateBytes(r: Rng, b: Uint8Array, lo = 0, hi = b.length): Mutated<Uint8Array> {
  const at = int(r, lo, Math.max(lo, hi - 1));
  const op = int(r, 0, 6);
  const out = b.slice();
  switch (op) {
    case 0: {
      const n = int(r, 1, 8);
      for (let i = 0; i < n; i++) {
        const p = int(r, lo, Math.max(lo, hi - 1));
        out[p] ^= 1 << int(r, 0, 7);
      }
      return { value: out, what: `flip ${n} random bits in ${lo}..${hi}` };
    }
    case 1: {
      const n = int(r, 1, 16);
      for (let i = 0; i < n && at + i < out.length; i++) out[at + i] = int(r, 0, 255);
      return { value: out, what: `overwrite ${n} bytes at ${at} with random bytes` };
    }
    case 2: {
      const v = pick(r, INTERESTING_BYTES);
      const n = int(r, 1, 8);
      out.fill(v, at, at + n);
      return { value: out, what: `set ${n} bytes at ${at} to 0x${v.toString(16)}` };
    }
    case 3: {
      const n = int(r, 1, 64);
      const ins = Uint8Array.from({ length: n }, () => int(r, 0, 255));
      const res = new Uint8Array(b.length + n);
      res.set(b.subarray(0, at));
      res.set(ins, at);
      res.set(b.subarray(at), at + n);
      return { value: res, what: `insert ${n} random bytes at ${at}` };
    }
    case 4: {
      const n = int(r, 1, 64);
      const res = new Uint8Array(b.length - Math.min(n, b.length - at));
      res.set(b.subarray(0, at));
      res.set(b.subarray(at + n), at);
      return { value: res, what: `delete ${n} bytes at ${at}` };
    }
    case 5:
      return { value: b.slice(0, at), what: `truncate to ${at} bytes` };
    default: {
      const n = int(r, 1, 256);
      const src = int(r, 0, Math.max(0, b.length - n));
      out.copyWithin(at, src, src + n);
      return { value: out, what: `copy ${n} bytes from ${src} over ${at}` };
    }
  }
}

// ---- one GGUF header field -----------------------------------------------------------------

const U32S = [0, 1, 2, 3, 7, 8, 9, 12, 13, 16, 24, 31, 32, 33, 63, 64, 255, 256, 4096, 65535, 0x7fffffff, 0x80000000, 0xffffffff];
const U64S = [0n, 1n, 2n, 31n, 32n, 33n, 64n, 1000n, 1n << 20n, 1n << 31n, 1n << 32n, (1n << 53n) + 1n, 1n << 62n, (1n << 64n) - 1n, 100_000_000n];
const FLOATS = [0, -0, -1, 1, 0.5, NaN, Infinity, -Infinity, 1e-45, 1e-30, 3.4e38, 1e300, 1e-300, 65504, 2 ** 24 + 1];

/** Sets one header field to a value chosen to be wrong, or near its valid value. */
export function mutateGGUFField(r: Rng, b: Uint8Array, f: Field): Mutated<Uint8Array> {
  const out = b.slice();
  const dv = new DataView(out.buffer);
  const what = (v: unknown) => `${f.what} = ${String(v)}`;
  switch (f.kind) {
    case 'u8': case 'i8': case 'bool': {
      const v = pick(r, [0, 1, 2, 0x7f, 0x80, 0xff, int(r, 0, 255)]);
      dv.setUint8(f.at, v);
      return { value: out, what: what(v) };
    }
    case 'u16': case 'i16': {
      const v = pick(r, [0, 1, 0x7fff, 0x8000, 0xffff, int(r, 0, 0xffff)]);
      dv.setUint16(f.at, v, true);
      return { value: out, what: what(v) };
    }
    case 'u32': case 'i32': case 'vtype': {
      const old = dv.getUint32(f.at, true);
      const v = r() < 0.25 ? (old + pick(r, [1, -1, 2, 32, -32, 1024])) >>> 0 : r() < 0.1 ? old * 2 : pick(r, U32S);
      dv.setUint32(f.at, v >>> 0, true);
      return { value: out, what: what(v >>> 0) };
    }
    case 'u64': case 'i64': case 'strlen': {
      const old = dv.getBigUint64(f.at, true);
      const v = r() < 0.3 ? BigInt.asUintN(64, old + BigInt(pick(r, [1, -1, 2, -2, 8, 32, -32, 4096]))) : r() < 0.1 ? old * 2n : pick(r, U64S);
      dv.setBigUint64(f.at, BigInt.asUintN(64, v), true);
      return { value: out, what: what(v) };
    }
    case 'f32': case 'f64': {
      const old = f.kind === 'f32' ? dv.getFloat32(f.at, true) : dv.getFloat64(f.at, true);
      const v = r() < 0.2 ? old * pick(r, [-1, 2, 0.5, 1e10, 1e-10]) : pick(r, FLOATS);
      if (f.kind === 'f32') dv.setFloat32(f.at, v, true);
      else dv.setFloat64(f.at, v, true);
      return { value: out, what: what(v) };
    }
    case 'strbytes': {
      const i = f.at + int(r, 0, f.len - 1);
      const v = pick(r, [0x00, 0x01, 0x0a, 0x1b, 0x7f, 0xc3, 0xff, 0x2e, 0x20, int(r, 0, 255)]);
      out[i] = v;
      return { value: out, what: `${f.what}: byte ${i - f.at} = 0x${v.toString(16)}` };
    }
  }
}

// ---- JSON ------------------------------------------------------------------------------------

/** Written as the JSON number 1e999 (which JSON.parse reads as Infinity) by `jsonText`. */
export const INF = '__fuzz_inf__';
const JSON_VALUES: readonly unknown[] = [
  null, true, false, 0, -0, -1, 1, 2, 0.5, 1.5, 3, 7, 1e8, 2 ** 31, 2 ** 53 + 2, 1e300, -1e300, 1e-300, INF, '', 'x', '\u0000\u0001\u001b[31m',
  'a'.repeat(5000), '1', 'NaN', [], [1, 2], [null], {}, { a: 1 }, [[[[[[[[[[[]]]]]]]]]]],
];

/** JSON text of `v`, with INF markers as 1e999. */
export function jsonText(v: unknown): string {
  return JSON.stringify(v).replaceAll(`"${INF}"`, '1e999');
}

type Path = readonly (string | number)[];

/** A node of the tree to change: top-level keys are likelier than deep ones, `focus` keys likelier still. */
function pickPath(r: Rng, root: unknown, focus: readonly string[]): Path {
  const path: (string | number)[] = [];
  let node = root;
  if (focus.length > 0 && r() < 0.5 && typeof root === 'object' && root !== null) {
    path.push(pick(r, focus));
    node = (root as Record<string, unknown>)[path[0]];
    if (r() < 0.6) return path;
  }
  for (;;) {
    if (typeof node !== 'object' || node === null) return path;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0 || (path.length > 0 && r() < 0.35)) return path;
    const k = pick(r, keys);
    path.push(k);
    node = (node as Record<string | number, unknown>)[k];
  }
}

const clone = <T>(v: T): T => structuredClone(v);

/** One change to a JSON document: a value replaced, a key removed or added, an array shortened, the text damaged. */
export function mutateJson(r: Rng, doc: unknown, focus: readonly string[] = [], extraKeys: readonly string[] = []): Mutated<string> {
  if (r() < 0.15) {
    const m = mutateBytes(r, new TextEncoder().encode(JSON.stringify(doc)));
    return { value: new TextDecoder().decode(m.value), what: `text: ${m.what}` };
  }
  const root = clone(doc) as Record<string, unknown>;
  const path = pickPath(r, root, focus);
  const label = path.length ? path.join('.') : '(root)';
  const parentOf = (p: Path) => p.slice(0, -1).reduce<unknown>((n, k) => (n as Record<string | number, unknown>)?.[k], root) as Record<string | number, unknown> | undefined;
  const op = int(r, 0, 5);
  if (path.length === 0) {
    const v = pick(r, JSON_VALUES);
    return { value: jsonText(v), what: `root = ${jsonText(v).slice(0, 60)}` };
  }
  const parent = parentOf(path);
  const key = path[path.length - 1];
  if (!parent || typeof parent !== 'object') return { value: jsonText(root), what: 'no change' };
  const old = parent[key];
  if (op === 0) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
    return { value: jsonText(root), what: `delete ${label}` };
  }
  if (op === 1 && extraKeys.length > 0 && !Array.isArray(root)) {
    const k = pick(r, extraKeys);
    const v = pick(r, JSON_VALUES);
    root[k] = v;
    return { value: jsonText(root), what: `add ${k} = ${jsonText(v).slice(0, 60)}` };
  }
  if (op === 2 && Array.isArray(old) && old.length > 0) {
    const n = int(r, 0, old.length - 1);
    parent[key] = r() < 0.5 ? old.slice(0, n) : [...old, ...old.slice(0, n + 1)];
    return { value: jsonText(root), what: `${label}: resize array from ${old.length}` };
  }
  if (op === 3 && typeof old === 'number') {
    const v = pick(r, [old + 1, old - 1, -old, old * 2, old * 1e6, old + 0.5, String(old), INF]);
    parent[key] = v;
    return { value: jsonText(root), what: `${label} = ${jsonText(v)} (was ${old})` };
  }
  if (op === 4 && typeof old === 'string') {
    const v = pick(r, ['', old + old, old.slice(1), `${old}\u0000`, old.toUpperCase(), old.replace(/./, '\u{1F600}')]);
    parent[key] = v;
    return { value: jsonText(root), what: `${label} = ${jsonText(v).slice(0, 60)}` };
  }
  const v = pick(r, JSON_VALUES);
  parent[key] = v;
  return { value: jsonText(root), what: `${label} = ${jsonText(v).slice(0, 60)}` };
}

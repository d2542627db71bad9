/**
 * A uniform struct declared once, here. The TS side packs values from this declaration, and
 * test/uniforms.test.ts checks that every WGSL struct of the same name has the same fields in the
 * same order, so the two sides cannot drift apart. All fields are 4-byte scalars, which keeps
 * WGSL's uniform layout rules trivial (offset = 4 * index, size rounded up to 16).
 */
export type ScalarType = 'u32' | 'i32' | 'f32';

export class UniformLayout<F extends string = string> {
  readonly size: number;
  constructor(
    readonly structName: string,
    readonly fields: readonly (readonly [F, ScalarType])[],
  ) {
    this.size = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
  }

  pack(values: Readonly<Record<F, number>>, into?: ArrayBuffer): ArrayBuffer {
    const buf = into ?? new ArrayBuffer(this.size);
    const dv = new DataView(buf);
    this.fields.forEach(([name, type], i) => {
      const v = values[name];
      if (v === undefined || Number.isNaN(v)) throw new Error(`uniform ${this.structName}.${name} is missing`);
      if (type === 'f32') dv.setFloat32(i * 4, v, true);
      else if (type === 'u32') dv.setUint32(i * 4, v >>> 0, true);
      else dv.setInt32(i * 4, v | 0, true);
    });
    return buf;
  }

  /** The WGSL text of the struct, for tests and documentation. */
  wgsl(): string {
    return `struct ${this.structName} {\n${this.fields.map(([n, t]) => `  ${n}: ${t},`).join('\n')}\n}`;
  }
}

/** Parses `struct Name { a: u32, b: f32 }` out of WGSL source (fields only, attributes ignored). */
export function parseWgslStruct(source: string, structName: string): [string, string][] | null {
  const m = new RegExp(`struct\\s+${structName}\\s*\\{([^}]*)\\}`).exec(source);
  if (!m) return null;
  return m[1]
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('\n')
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [n, t] = s.split(':').map((x) => x.trim());
      return [n, t] as [string, string];
    });
}

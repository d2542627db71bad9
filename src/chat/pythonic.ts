/**
 * LFM2's tool calls: a Python list of calls, `[get_weather(city="Paris"), get_time(timezone="UTC")]`, keyword
 * arguments with Python literals (strings in either quotes with their escapes, numbers, True/False/None, lists,
 * dicts; JSON's true/false/null too, as LFM2.5 sometimes writes them). Parsed here into names and JSON arguments,
 * and written back for the history, which LFM2's templates take as the assistant's text.
 */

interface Cursor {
  s: string;
  i: number;
}

class Reject extends Error {}

const space = (c: Cursor) => {
  while (c.i < c.s.length && /\s/.test(c.s[c.i])) c.i++;
};

function expect(c: Cursor, ch: string): void {
  space(c);
  if (c.s[c.i] !== ch) throw new Reject();
  c.i++;
}

function name(c: Cursor): string {
  space(c);
  const m = /^[A-Za-z_][\w.]*/.exec(c.s.slice(c.i));
  if (!m) throw new Reject();
  c.i += m[0].length;
  return m[0];
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0', '\\': '\\', '"': '"', "'": "'" };

function string(c: Cursor): string {
  const quote = c.s[c.i++];
  let out = '';
  while (c.i < c.s.length && c.s[c.i] !== quote) {
    const ch = c.s[c.i++];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = c.s[c.i++];
    if (e === 'u') {
      const hex = c.s.slice(c.i, c.i + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Reject();
      out += String.fromCharCode(parseInt(hex, 16));
      c.i += 4;
    } else out += ESCAPES[e] ?? `\\${e}`; // Python keeps an unknown escape as written
  }
  if (c.s[c.i++] !== quote) throw new Reject();
  return out;
}

const WORDS: Record<string, unknown> = { True: true, False: false, None: null, true: true, false: false, null: null };

function value(c: Cursor): unknown {
  space(c);
  const ch = c.s[c.i];
  if (ch === '"' || ch === "'") return string(c);
  if (ch === '[' || ch === '(') return list(c, ch === '[' ? ']' : ')');
  if (ch === '{') return dict(c);
  const num = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(c.s.slice(c.i));
  if (num) {
    c.i += num[0].length;
    return Number(num[0]);
  }
  const word = /^[A-Za-z]+/.exec(c.s.slice(c.i));
  if (word && word[0] in WORDS) {
    c.i += word[0].length;
    return WORDS[word[0]];
  }
  throw new Reject();
}

/** Items up to `close`, separated by commas (a trailing comma allowed, as in Python). */
function items<T>(c: Cursor, close: string, item: () => T): T[] {
  const out: T[] = [];
  for (;;) {
    space(c);
    if (c.s[c.i] === close) {
      c.i++;
      return out;
    }
    out.push(item());
    space(c);
    if (c.s[c.i] === ',') c.i++;
    else if (c.s[c.i] !== close) throw new Reject();
  }
}

function list(c: Cursor, close: string): unknown[] {
  c.i++;
  return items(c, close, () => value(c));
}

function dict(c: Cursor): Record<string, unknown> {
  c.i++;
  const entries = items(c, '}', () => {
    const k = value(c);
    if (typeof k !== 'string') throw new Reject();
    expect(c, ':');
    return [k, value(c)] as const;
  });
  return Object.fromEntries(entries);
}

function call(c: Cursor): { name: string; arguments: Record<string, unknown> } {
  const fn = name(c);
  expect(c, '(');
  const args = items(c, ')', () => {
    const k = name(c);
    expect(c, '=');
    return [k, value(c)] as const;
  });
  return { name: fn, arguments: Object.fromEntries(args) };
}

/** The calls in `[f(a=1), g(b="x")]` (the brackets optional around one call), or null where it is not that. */
export function parsePythonicCalls(text: string): { name: string; arguments: Record<string, unknown> }[] | null {
  const c: Cursor = { s: text.trim(), i: 0 };
  try {
    const calls = c.s.startsWith('[') ? (c.i++, items(c, ']', () => call(c))) : [call(c)];
    space(c);
    return c.i === c.s.length && calls.length > 0 ? calls : null;
  } catch (e) {
    if (e instanceof Reject) return null;
    throw e;
  }
}

/** A value as Python writes it (JSON's strings, which Python reads the same; True, False, None). */
function literal(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${literal(x)}`).join(', ')}}`;
  return JSON.stringify(v);
}

/** `[f(a=1), g(b="x")]`: calls as LFM2 writes them. */
export function pythonicCalls(calls: readonly { name: string; arguments: Record<string, unknown> }[]): string {
  return `[${calls.map((c) => `${c.name}(${Object.entries(c.arguments).map(([k, v]) => `${k}=${literal(v)}`).join(', ')})`).join(', ')}]`;
}

/**
 * SentencePiece's precompiled normalizer (`precompiled_charsmap`: XLM-R, bge-m3, multilingual-e5, T5, ALBERT), read
 * from its own table as the Rust `tokenizers` crate behind transformers reads it. `@huggingface/tokenizers` (0.2)
 * stands NFKC and a few character classes in for the table, which parts from it where the table keeps a character
 * NFKC would not (the zero-width joiner inside emoji sequences, which it turned into a space) or was built from another
 * Unicode version.
 *
 * The blob: a little-endian u32 (the trie's bytes), a darts-clone double-array trie over UTF-8 keys whose values are
 * offsets into the rest, NUL-terminated replacement strings.
 */
import { Normalizer, PrecompiledNormalizer, SequenceNormalizer, type Tokenizer as LibraryTokenizer } from '@huggingface/tokenizers';
import { EmberError } from '../errors.ts';
import { base64ToBytes } from '../util/base64.ts';

const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8', { fatal: true });

export interface Charsmap {
  readonly units: Uint32Array;
  readonly normalized: Uint8Array;
  /** Graphemes and characters already looked up: their replacement, or null. */
  readonly seen: Map<string, string | null>;
}

const bad = (why: string) => new EmberError('BAD_MODEL', `tokenizer: the precompiled_charsmap is corrupt: ${why}`);

/** The blob's trie and strings; a blob too short for what its header says is BAD_MODEL. */
export function parseCharsmap(blob: Uint8Array): Charsmap {
  if (blob.length < 4) throw bad(`${blob.length} bytes, shorter than its header`);
  const trieBytes = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
  if (trieBytes % 4 !== 0 || trieBytes === 0 || 4 + trieBytes > blob.length) throw bad(`a trie of ${trieBytes} bytes in ${blob.length}`);
  const trie = blob.slice(4, 4 + trieBytes); // (copied: the blob's offset need not be 4-aligned)
  return { units: new Uint32Array(trie.buffer), normalized: blob.subarray(4 + trieBytes), seen: new Map() };
}

// A darts-clone unit: bit 8 says a leaf hangs below it, bits 0-7 (and 31) are its label, the rest its children's offset.
const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const label = (unit: number) => (unit & 0x800000ff) >>> 0;
const offset = (unit: number) => (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
const value = (unit: number) => unit & 0x7fffffff;

/** The value of the shortest key that is a prefix of `key` (what the crate's transform takes), or -1. */
function shortestPrefixValue(units: Uint32Array, key: Uint8Array): number {
  let pos = offset(units[0]);
  for (const byte of key) {
    if (byte === 0) return -1; // (keys are C strings)
    pos ^= byte;
    const unit = units[pos];
    if (unit === undefined || label(unit) !== byte) return -1;
    pos ^= offset(unit);
    if (hasLeaf(unit)) {
      const leaf = units[pos];
      if (leaf === undefined) throw bad(`a leaf past the trie's ${units.length} units`);
      return value(leaf);
    }
  }
  return -1;
}

/** The replacement the table gives for the start of `chunk` (its shortest key there), or null where it has none. */
export function transform(map: Charsmap, chunk: string): string | null {
  const known = map.seen.get(chunk);
  if (known !== undefined) return known;
  const found = lookUp(map, chunk);
  if (map.seen.size < SEEN_MOST) map.seen.set(chunk, found);
  return found;
}

const SEEN_MOST = 1 << 16;

function lookUp(map: Charsmap, chunk: string): string | null {
  const at = shortestPrefixValue(map.units, utf8.encode(chunk));
  if (at < 0) return null;
  if (at >= map.normalized.length) throw bad(`a string at ${at} past its ${map.normalized.length} bytes`);
  let end = at;
  while (end < map.normalized.length && map.normalized[end] !== 0) end++;
  return text.decode(map.normalized.subarray(at, end));
}

const segmenter = typeof Intl !== 'undefined' && 'Segmenter' in Intl ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }) : null;
const CHUNK = 256; // code units segmented at a time: V8's segmenter slows quadratically on long strings (100k: 19 s)

/**
 * `s`'s extended grapheme clusters (code points where the runtime has no Intl.Segmenter). A chunk's last cluster may
 * go on past it, so the next chunk starts at that cluster: a cluster's start is a boundary whatever came before it.
 */
function* graphemesOf(s: string): Generator<string> {
  if (!segmenter) return yield* s;
  let start = 0, size = CHUNK;
  while (start < s.length) {
    const end = Math.min(s.length, start + size);
    const pieces = Array.from(segmenter.segment(s.slice(start, end)), (g) => g.segment);
    if (end < s.length && pieces.length === 1) {
      size *= 2; // one cluster fills the chunk: widen it
      continue;
    }
    const whole = end === s.length ? pieces : pieces.slice(0, -1);
    for (const g of whole) yield g;
    start += whole.reduce((n, g) => n + g.length, 0);
    size = CHUNK;
  }
}

/**
 * `s` normalized as the crate does it: a grapheme of under 6 UTF-8 bytes whose start the table maps is replaced whole
 * (so 'Ａ' + a combining accent becomes 'A'); otherwise each character the table maps is replaced, the rest kept.
 */
export function normalizeWithCharsmap(map: Charsmap, s: string): string {
  let out = '';
  for (const g of graphemesOf(s)) {
    const whole = g.length < 6 && utf8.encode(g).length < 6 ? transform(map, g) : null;
    if (whole !== null) {
      out += whole;
      continue;
    }
    for (const c of g) out += transform(map, c) ?? c;
  }
  return out;
}

/** The table as one of the library's normalizers. */
class CharsmapNormalizer extends Normalizer {
  constructor(config: PrecompiledNormalizer['config'], private readonly map: Charsmap) {
    super(config);
  }

  normalize(s: string): string {
    return normalizeWithCharsmap(this.map, s);
  }
}

function bytesOf(b64: string): Uint8Array {
  try {
    return base64ToBytes(b64);
  } catch {
    throw bad('it is not base64');
  }
}

/** The library's normalizer with each Precompiled one (in a Sequence too) reading its table instead of NFKC. */
export function withCharsmaps<T extends Normalizer | null>(n: T): T | CharsmapNormalizer {
  if (n instanceof PrecompiledNormalizer && typeof n.charsmap === 'string') return new CharsmapNormalizer(n.config, parseCharsmap(bytesOf(n.charsmap)));
  if (n instanceof SequenceNormalizer) n.normalizers = n.normalizers.map(withCharsmaps);
  return n;
}

/** `tok` normalizing by its charsmaps (see withCharsmaps). */
export function readingCharsmaps(tok: LibraryTokenizer): LibraryTokenizer {
  tok.normalizer = withCharsmaps(tok.normalizer);
  return tok;
}

/**
 * Parses the GGUF listings in the shared models' PROVENANCE.md (written by an independent Python
 * parser) so the reader can be checked against them.
 */
import { readFileSync } from 'node:fs';
import { sharedModelPath } from './models.ts';

export interface ListedTensor { name: string; type: string; ne: number[]; numel: number; bytes: number; offset: number }
export interface ListedMeta { key: string; type: string; raw: string }
export interface ListedFile {
  file: string;
  size: number;
  version: number;
  nKV: number;
  nTensors: number;
  alignment: number;
  dataOffset: number;
  params: number;
  metadata: ListedMeta[];
  /** Possibly partial: the derived files list only some tensors. */
  tensors: ListedTensor[];
}
export interface ListedDigest { file: string; bytes: number; sha256: string }

const FILE = /^file: (\S+)\s+size: (\d+) bytes$/;
const SUMMARY = /^GGUF version (\d+), (\d+) kv, (\d+) tensors, alignment (\d+), header \d+ bytes, data at (\d+), params (\d+)$/;
const TENSOR = /^ {2}(\S+)\s+(F32|F16|BF16|Q8_0|Q4_0)\s+ne=\[([\d, ]+)\]\s+n_el=(\d+)\s+bytes=(\d+)\s+off=(\d+)$/;
const META = /^ {2}(\S+)\s+(STRING|UINT8|INT8|UINT16|INT16|UINT32|INT32|FLOAT32|BOOL|ARRAY|UINT64|INT64|FLOAT64)\s+(.*)$/;
const DIGEST = /^\| (\S+\.gguf)(?: \(\+\.inp\/\.out\))? \| (\d+) \| `([0-9a-f]{64})` \|/;

export function readProvenance(): { files: Map<string, ListedFile>; digests: ListedDigest[] } {
  const text = readFileSync(sharedModelPath('PROVENANCE.md'), 'utf8');
  const files = new Map<string, ListedFile>();
  const digests: ListedDigest[] = [];
  let cur: ListedFile | undefined;
  for (const line of text.split('\n')) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(DIGEST))) digests.push({ file: m[1], bytes: Number(m[2]), sha256: m[3] });
    else if ((m = line.match(FILE))) {
      cur = { file: m[1], size: Number(m[2]), version: 0, nKV: 0, nTensors: 0, alignment: 0, dataOffset: 0, params: 0, metadata: [], tensors: [] };
      files.set(cur.file, cur);
    } else if (cur && (m = line.match(SUMMARY))) {
      [cur.version, cur.nKV, cur.nTensors, cur.alignment, cur.dataOffset, cur.params] = m.slice(1, 7).map(Number);
    } else if (cur && (m = line.match(TENSOR))) {
      cur.tensors.push({ name: m[1], type: m[2], ne: m[3].split(',').map((s) => Number(s.trim())), numel: Number(m[4]), bytes: Number(m[5]), offset: Number(m[6]) });
    } else if (cur && (m = line.match(META))) {
      cur.metadata.push({ key: m[1], type: m[2], raw: m[3].trim() });
    }
  }
  return { files, digests };
}

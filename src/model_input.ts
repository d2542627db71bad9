import { isNode, requireNodeHost } from './node_host.ts';

/**
 * What a user may pass as a model: a Hugging Face Hub id (`org/name`, `org/name/file.gguf`,
 * `org/name:Q4_K_M`, each with an optional `@revision`; see src/loader/hub_id.ts), a URL, a path
 * (Node), a File/Blob, or the bytes.
 */
export type ModelInput = string | URL | Blob | ArrayBuffer | Uint8Array;

/**
 * A Hugging Face model folder (config.json beside safetensors) rather than a GGUF file: a local
 * directory, or a URL ending in '/' (e.g. the Hub's .../resolve/main/), or one naming config.json.
 */
export async function isHFFolder(input: ModelInput): Promise<boolean> {
  if (typeof input !== 'string' && !(input instanceof URL)) return false;
  const s = String(input);
  if (s.endsWith('/') || s.endsWith('config.json')) return true;
  if (/^(https?|blob|data):/i.test(s) || !isNode()) return false;
  return requireNodeHost(`reading ${s}`).isDirectory(s);
}

/** The input as a message names it: the id, URL or path; a file's name; the size of bytes. */
export function describeInput(input: ModelInput): string {
  if (typeof input === 'string' || input instanceof URL) return String(input);
  if (typeof File !== 'undefined' && input instanceof File) return input.name;
  const bytes = input instanceof Blob ? input.size : input.byteLength;
  return `a model of ${bytes} bytes`;
}

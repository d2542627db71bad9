import { EmberError } from '../errors.ts';

/**
 * A model named the way the Hugging Face Hub names it:
 *
 *   org/name                      a model folder (config.json, safetensors, tokenizer files)
 *   org/name/path/to/file.gguf    one file of the repo
 *   org/name:Q4_K_M               the GGUF file of the repo whose name carries that quant
 *
 * each with an optional `@revision` after the name or at the end (default `main`), and an optional
 * `hf:` prefix. A path ending in `/` or `config.json` names a model folder below the repo's root.
 */
export interface HubId {
  readonly repo: string; // org/name
  readonly revision: string;
  /** A file of the repo (GGUF), or undefined for a folder or a quant. */
  readonly file?: string;
  /** The folder of a model folder within the repo ('' = its root). */
  readonly dir?: string;
  /** The quant to look for among the repo's .gguf files (org/name:Q4_K_M). */
  readonly quant?: string;
}

export const DEFAULT_HUB = 'https://huggingface.co';

const SEGMENT = '[A-Za-z0-9][A-Za-z0-9._-]*';
// org / name [@rev] then /path or :quant, then [@rev]
const ID = new RegExp(`^(${SEGMENT}/${SEGMENT})(?:@([^/:@]+))?(?:/([^:@]+)|:([A-Za-z0-9._-]+))?(?:@([^:@]+))?$`);

/** Whether `s` reads as a path or URL rather than a Hub id (scheme, leading / . ~, backslashes). */
function looksLikePathOrUrl(s: string): boolean {
  return /^[a-z][a-z\d+.-]*:/i.test(s) || /^[/.~]/.test(s) || s.includes('\\');
}

/** The Hub id `s` names, or null when it is not one (a URL, a path). Node callers check the disk first. */
export function parseHubId(s: string): HubId | null {
  const bare = s.replace(/^hf:(\/\/)?/, '');
  if (bare === s && looksLikePathOrUrl(s)) return null;
  const m = ID.exec(bare);
  if (!m) {
    if (bare !== s) throw new EmberError('BAD_ARGUMENT', `"${s}" is not a Hub id: expected org/name, org/name/file.gguf or org/name:QUANT, with an optional @revision`);
    return null;
  }
  const [, repo, revAfterName, path, quant, revAtEnd] = m;
  // `models/x.gguf` is a relative path or URL, not a repo named x.gguf
  if (bare === s && path === undefined && !quant && /\.(gguf|json|safetensors|bin)$/i.test(repo)) return null;
  if (revAfterName && revAtEnd) throw new EmberError('BAD_ARGUMENT', `"${s}" names two revisions (@${revAfterName} and @${revAtEnd})`);
  const revision = revAfterName ?? revAtEnd ?? 'main';
  if (quant) return { repo, revision, quant };
  if (path === undefined) return { repo, revision, dir: '' };
  if (path.split('/').some((p) => p === '..' || p === '.')) throw new EmberError('BAD_ARGUMENT', `"${s}": a path in a Hub id may not contain . or .. segments`);
  if (path.endsWith('/')) return { repo, revision, dir: path };
  if (path === 'config.json' || path.endsWith('/config.json')) return { repo, revision, dir: path.slice(0, -'config.json'.length) };
  return { repo, revision, file: path };
}

/** `<hub>/<repo>/resolve/<revision>/<file>`: where the Hub serves a file of a repo. */
export function hubFileUrl(hub: string, id: Pick<HubId, 'repo' | 'revision'>, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${hub.replace(/\/+$/, '')}/${id.repo}/resolve/${encodeURIComponent(id.revision)}/${path}`;
}

/** `<hub>/api/models/<repo>/tree/<revision>[/<dir>]`: the Hub's listing of a folder of a repo. */
export function hubTreeUrl(hub: string, id: Pick<HubId, 'repo' | 'revision'>, dir = ''): string {
  const path = dir.replace(/\/+$/, '').split('/').filter(Boolean).map(encodeURIComponent).join('/');
  return `${hub.replace(/\/+$/, '')}/api/models/${id.repo}/tree/${encodeURIComponent(id.revision)}${path ? `/${path}` : ''}`;
}

/** One entry of a tree listing; `lfs` (with the file's sha256) is there for files stored in LFS. */
export interface TreeEntry {
  readonly type: 'file' | 'directory';
  readonly path: string;
  readonly size?: number;
  readonly lfs?: { readonly oid: string; readonly size: number };
}

/** The file (size and sha256 when the listing has them) a Hub listing says a path is. */
export interface ExpectedFile {
  readonly size?: number;
  readonly sha256?: string;
}

export function expectedFromTree(e: TreeEntry): ExpectedFile {
  if (e.lfs && /^[0-9a-f]{64}$/.test(e.lfs.oid)) return { size: e.lfs.size, sha256: e.lfs.oid };
  return typeof e.size === 'number' ? { size: e.size } : {};
}

/**
 * The .gguf file of a listing whose name carries `quant` as a whole token (Q4_K does not match
 * Q4_K_M), case-insensitively. Files at the top of the listing win over deeper ones, then the shorter
 * name. Split files (-00001-of-00003.gguf) are not supported.
 */
export function pickQuantFile(entries: readonly TreeEntry[], quant: string, where: string): TreeEntry {
  const esc = quant.replace(/[.]/g, '\\.');
  const re = new RegExp(`(^|[-._/])${esc}(?=[-.]|$)`, 'i');
  const ggufs = entries.filter((e) => e.type === 'file' && /\.gguf$/i.test(e.path));
  const hits = ggufs.filter((e) => re.test(e.path.replace(/\.gguf$/i, '')));
  if (hits.length === 0) {
    const names = ggufs.map((e) => e.path).join(', ') || 'none';
    throw new EmberError('BAD_ARGUMENT', `${where}: no .gguf file whose name carries ${quant} (the repo has: ${names})`, { quant });
  }
  const depth = (e: TreeEntry) => e.path.split('/').length;
  hits.sort((a, b) => depth(a) - depth(b) || a.path.length - b.path.length);
  const pick = hits[0];
  if (/-\d{5}-of-\d{5}\.gguf$/i.test(pick.path)) {
    throw new EmberError('UNSUPPORTED', `${where}: ${pick.path} is one part of a split GGUF, which emberlm does not read; merge it with llama-gguf-split`, { file: pick.path });
  }
  return pick;
}

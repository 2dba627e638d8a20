import { invalid } from './tar-entries.js';

/**
 * Shape checks for the small JSON files of a `docker save` archive. Every field read from them is
 * checked here, so the reader never trusts an unchecked value.
 */

/** JSON files are buffered to be parsed; none of a real image's comes near this. */
export const MAX_JSON_BYTES = 1024 * 1024;

/** The first entry of `manifest.json`: `[{ "Config", "RepoTags", "Layers" }]`. */
export interface ManifestEntry {
  readonly config: string | undefined;
  readonly repoTags: string[];
  readonly layers: string[];
}

/** What `repositories` (`{"name":{"tag":"<layer id>"}}`) says: its first name, tag and layer. */
export interface RepositoriesEntry {
  readonly repoTag: string;
  readonly layerId: string;
}

export function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (err) {
    throw invalid(`${what} is not valid JSON (${(err as Error).message})`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

export function parseManifest(buf: Buffer): ManifestEntry {
  const doc = parseJson(buf, 'manifest.json');
  if (!Array.isArray(doc) || doc.length === 0) {
    throw invalid('manifest.json must be a non-empty JSON array of image entries');
  }
  const first: unknown = doc[0];
  if (!isRecord(first)) throw invalid('manifest.json: the first entry is not a JSON object');
  const { Config: config, RepoTags: repoTags, Layers: layers } = first;
  if (config !== undefined && typeof config !== 'string') {
    throw invalid('manifest.json: "Config" of the first entry is not a string');
  }
  if (repoTags !== undefined && repoTags !== null && !isStringArray(repoTags)) {
    throw invalid('manifest.json: "RepoTags" of the first entry is not an array of strings');
  }
  if (!isStringArray(layers) || layers.length === 0) {
    throw invalid('manifest.json: "Layers" of the first entry is not a non-empty array of strings');
  }
  return { config, repoTags: repoTags ?? [], layers };
}

export function parseRepositories(buf: Buffer): RepositoriesEntry {
  const doc = parseJson(buf, 'repositories');
  const shape = 'repositories must look like {"name":{"tag":"<layer id>"}}';
  if (!isRecord(doc)) throw invalid(shape);
  const [name, tags] = Object.entries(doc)[0] ?? [];
  if (name === undefined || !isRecord(tags)) throw invalid(shape);
  const [tag, layerId] = Object.entries(tags)[0] ?? [];
  if (tag === undefined || typeof layerId !== 'string') throw invalid(shape);
  // The id becomes a directory name: one plain path segment, nothing else.
  if (layerId === '' || layerId === '.' || layerId === '..' || /[\\/]/.test(layerId)) {
    throw invalid(`repositories names an invalid layer id ${JSON.stringify(layerId)}`);
  }
  return { repoTag: `${name}:${tag}`, layerId };
}

/** The config's `created` (an RFC 3339 time) in Unix seconds, or undefined if absent or unreadable. */
export function createdFromConfig(buf: Buffer, what: string): number | undefined {
  const doc = parseJson(buf, what);
  if (!isRecord(doc)) throw invalid(`${what} is not a JSON object`);
  const created = doc['created'];
  if (typeof created !== 'string') return undefined;
  const ms = Date.parse(created);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

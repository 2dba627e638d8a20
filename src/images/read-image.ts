import fs from 'node:fs';
import path from 'node:path';
import { assertImageName, parseRepoTag } from './image-name.js';
import {
  MAX_JSON_BYTES,
  createdFromConfig,
  parseManifest,
  parseRepositories,
  type ManifestEntry,
  type RepositoriesEntry,
} from './image-manifest.js';
import {
  ExpansionBudget,
  invalid,
  normalizeArchivePath,
  readBody,
  walkTar,
  type EntryBody,
  type EntryKind,
  type TarEntry,
} from './tar-entries.js';

/**
 * Reads an untrusted mim image tarball (`docker save` output, classic or with docker's OCI
 * layout, plain or gzip'ed) and returns its name and bundle. Every failure is ERR_IMAGE_INVALID
 * with a reason a person can act on.
 *
 * `docker save` writes manifest.json last, so the file is read twice: pass one records every
 * entry's name, type and size and buffers manifest.json and repositories; pass two reads the
 * config and streams the manifest's layers (each a nested tar, maybe gzip'ed) to find index.js.
 * Nothing bigger than a JSON file or index.js itself is ever held in memory.
 */

export interface ParsedImage {
  /** `RepoTags[0]` without its tag. */
  name: string;
  repoTags: string[];
  /** Unix seconds, from the image config's `created`, when present. */
  created: number | undefined;
  /** The mim bundle (index.js). */
  bundle: Buffer;
}

export interface ImageReadLimits {
  /** Largest index.js accepted. */
  maxBundleBytes: number;
  /** Most entries in the image tar, and in each of its layers. */
  maxEntries: number;
  /** Most bytes that gunzip may produce in one read pass; default max(16 × maxBundleBytes, 64 MiB). */
  maxExpandedBytes?: number;
}

const OUTER = 'the image';
/** Link chains inside the archive (docker's `<id>/layer.tar → ../blobs/sha256/…`) followed at most this far. */
const MAX_LINK_HOPS = 8;

interface Scan {
  readonly entries: Map<string, TarEntry>;
  readonly json: Map<string, Buffer>;
}

interface Plan {
  readonly name: string;
  readonly repoTags: string[];
  readonly config: { readonly named: string; readonly entry: TarEntry } | undefined;
  /** In manifest order: the last layer is the top one. */
  readonly layers: ReadonlyArray<{ readonly named: string; readonly entry: TarEntry }>;
}

interface LayerFindings {
  index: { kind: EntryKind; size: number } | undefined;
  hasWasm: boolean;
  /** A whiteout of index.js or an opaque root: lower layers' index.js is gone. */
  hidesLower: boolean;
}

/** The index.js read so far from the highest layer that has one; lower ones are never kept. */
interface BundleCandidate {
  position: number;
  content: Buffer | undefined;
}

export async function readMimImage(tarPath: string, limits: ImageReadLimits): Promise<ParsedImage> {
  const expand = limits.maxExpandedBytes ?? Math.max(16 * limits.maxBundleBytes, 64 * 1024 * 1024);

  const scan = await scanImage(tarPath, limits.maxEntries, new ExpansionBudget(expand));
  const plan = planImage(scan);

  const findings = new Map<number, LayerFindings>();
  const candidate: BundleCandidate = { position: -1, content: undefined };
  let created: number | undefined;
  const wants = wantedEntries(plan);
  const budget = new ExpansionBudget(expand);

  await withFile(tarPath, (source) =>
    walkTar(source, { label: OUTER, maxEntries: limits.maxEntries, budget }, async (entry, body) => {
      const want = wants.get(entry.ordinal);
      if (want === undefined) return;
      if (want.entry.name !== entry.name) throw invalid('the image changed while it was being read');
      if (want.kind === 'config') {
        const what = `config ${want.entry.name}`;
        if (entry.size > MAX_JSON_BYTES) throw invalid(`${what} is larger than ${MAX_JSON_BYTES} bytes`);
        created = createdFromConfig(await readBody(body, MAX_JSON_BYTES, what), what);
        return;
      }
      const top = Math.max(...want.positions);
      const found = await scanLayer(body, `layer ${entry.name}`, top, limits, budget, candidate);
      for (const position of want.positions) findings.set(position, found);
    }),
  );

  const bundle = chooseBundle(plan, findings, candidate, limits.maxBundleBytes);
  return { name: plan.name, repoTags: plan.repoTags, created, bundle };
}

async function withFile<T>(tarPath: string, use: (source: EntryBody) => Promise<T>): Promise<T> {
  const stream = fs.createReadStream(tarPath);
  try {
    return await use(stream);
  } finally {
    stream.destroy();
  }
}

/** Pass one: every entry's metadata, plus manifest.json and repositories (last copy wins). */
async function scanImage(tarPath: string, maxEntries: number, budget: ExpansionBudget): Promise<Scan> {
  const entries = new Map<string, TarEntry>();
  const json = new Map<string, Buffer>();
  await withFile(tarPath, (source) =>
    walkTar(source, { label: OUTER, maxEntries, budget }, async (entry, body) => {
      entries.set(entry.name, entry);
      if (entry.name !== 'manifest.json' && entry.name !== 'repositories') return;
      json.delete(entry.name);
      if (entry.kind !== 'file') return;
      if (entry.size > MAX_JSON_BYTES) throw invalid(`${entry.name} is larger than ${MAX_JSON_BYTES} bytes`);
      json.set(entry.name, await readBody(body, MAX_JSON_BYTES, entry.name));
    }),
  );
  if (entries.size === 0) throw invalid('the image is an empty tar archive');
  return { entries, json };
}

/** Decides, from pass one alone, the image's name and which entries hold its config and layers. */
function planImage(scan: Scan): Plan {
  for (const name of ['manifest.json', 'repositories']) {
    const entry = scan.entries.get(name);
    if (entry !== undefined && entry.kind !== 'file')
      throw invalid(`${name} is a ${entry.kind}, not a regular file`);
  }
  const manifestJson = scan.json.get('manifest.json');
  const repositoriesJson = scan.json.get('repositories');
  const manifest: ManifestEntry | undefined =
    manifestJson === undefined ? undefined : parseManifest(manifestJson);
  const repositories: RepositoriesEntry | undefined =
    repositoriesJson === undefined ? undefined : parseRepositories(repositoriesJson);

  if (manifest === undefined && repositories === undefined) {
    const oci = scan.entries.has('index.json') && scan.entries.has('oci-layout');
    throw invalid(
      oci
        ? "the image has no manifest.json or repositories (an OCI layout without docker's manifest.json is not supported)"
        : 'the image has no manifest.json or repositories: it is not `docker save` output',
    );
  }

  let repoTags = manifest?.repoTags ?? [];
  if (repoTags.length === 0 && repositories !== undefined) repoTags = [repositories.repoTag];
  const first = repoTags[0];
  if (first === undefined) {
    throw invalid(
      'manifest.json has no RepoTags and there is no repositories file, so the image has no name',
    );
  }
  const { name } = parseRepoTag(first);
  assertImageName(name);

  const source = manifest === undefined ? 'repositories' : 'manifest.json';
  const layerNames = manifest?.layers ?? [`${repositories?.layerId ?? ''}/layer.tar`];
  const layers = layerNames.map((named) => ({ named, entry: resolveEntry(scan, named, 'layer', source) }));
  const configName = manifest?.config;
  const config =
    configName === undefined
      ? undefined
      : { named: configName, entry: resolveEntry(scan, configName, 'config', source) };
  return { name, repoTags, config, layers };
}

/**
 * Finds the regular file an archive path names, following symlinks (relative to their directory)
 * and hardlinks (relative to the archive root) that stay inside the archive.
 */
function resolveEntry(scan: Scan, named: string, what: string, source: string): TarEntry {
  const shown = JSON.stringify(named);
  let current = normalizeArchivePath(named, source);
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop += 1) {
    const entry = scan.entries.get(current);
    if (entry === undefined) {
      const via = hop === 0 ? '' : ` (through links, ${JSON.stringify(current)})`;
      throw invalid(`${source} names ${what} ${shown}, which is not in the image${via}`);
    }
    if (entry.kind === 'file') return entry;
    if (entry.kind !== 'symlink' && entry.kind !== 'link') {
      throw invalid(`${what} ${shown} is a ${entry.kind}, not a regular file`);
    }
    const target = entry.linkname ?? '';
    const linkLabel = `the link ${JSON.stringify(current)}`;
    current =
      entry.kind === 'symlink'
        ? normalizeArchivePath(resolveSymlink(current, target, linkLabel), linkLabel)
        : normalizeArchivePath(target, linkLabel);
  }
  throw invalid(`${what} ${shown} is behind more than ${MAX_LINK_HOPS} links`);
}

function resolveSymlink(linkPath: string, target: string, label: string): string {
  if (target.startsWith('/')) throw invalid(`${label} points at an absolute path ${JSON.stringify(target)}`);
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target));
  if (joined === '..' || joined.startsWith('../')) {
    throw invalid(`${label} points outside the archive (${JSON.stringify(target)})`);
  }
  return joined;
}

type Want = { kind: 'config'; entry: TarEntry } | { kind: 'layer'; entry: TarEntry; positions: number[] };

/** Pass two's work list, keyed by the ordinal of the entry that holds the data. */
function wantedEntries(plan: Plan): Map<number, Want> {
  const wants = new Map<number, Want>();
  if (plan.config !== undefined)
    wants.set(plan.config.entry.ordinal, { kind: 'config', entry: plan.config.entry });
  plan.layers.forEach(({ named, entry }, position) => {
    const want = wants.get(entry.ordinal);
    if (want === undefined) wants.set(entry.ordinal, { kind: 'layer', entry, positions: [position] });
    else if (want.kind === 'layer') want.positions.push(position);
    else throw invalid(`manifest.json names the same file as config and as layer ${JSON.stringify(named)}`);
  });
  return wants;
}

/** Streams one layer tar, noting index.js, index.wasm and whiteouts at its root. */
async function scanLayer(
  body: EntryBody,
  label: string,
  position: number,
  limits: ImageReadLimits,
  budget: ExpansionBudget,
  candidate: BundleCandidate,
): Promise<LayerFindings> {
  const found: LayerFindings = { index: undefined, hasWasm: false, hidesLower: false };
  await walkTar(body, { label, maxEntries: limits.maxEntries, budget }, async (entry, entryBody) => {
    switch (entry.name) {
      case 'index.js':
        found.index = { kind: entry.kind, size: entry.size };
        if (entry.kind === 'file' && entry.size <= limits.maxBundleBytes && position >= candidate.position) {
          candidate.content = undefined;
          candidate.content = await readBody(entryBody, limits.maxBundleBytes, `index.js in ${label}`);
          candidate.position = position;
        }
        return;
      case 'index.wasm':
        found.hasWasm = true;
        return;
      case '.wh.index.js':
      case '.wh..wh..opq':
        found.hidesLower = true;
        return;
      default:
        return;
    }
  });
  return found;
}

/** Later layers win: the top-most layer with an index.js decides, unless a whiteout hides it. */
function chooseBundle(
  plan: Plan,
  findings: Map<number, LayerFindings>,
  candidate: BundleCandidate,
  maxBundleBytes: number,
): Buffer {
  let sawWasm = false;
  for (let position = plan.layers.length - 1; position >= 0; position -= 1) {
    const found = findings.get(position);
    const layerName = plan.layers[position]?.named ?? '';
    if (found === undefined)
      throw invalid(`layer ${JSON.stringify(layerName)} was not found on the second read`);
    const index = found.index;
    if (index !== undefined) {
      if (index.kind !== 'file') {
        throw invalid(
          `index.js in layer ${JSON.stringify(layerName)} is a ${index.kind}; only a regular file counts`,
        );
      }
      if (index.size > maxBundleBytes) {
        throw invalid(`index.js is ${index.size} bytes, more than the ${maxBundleBytes}-byte limit`);
      }
      if (candidate.position !== position || candidate.content === undefined) {
        throw invalid(`index.js in layer ${JSON.stringify(layerName)} could not be read`);
      }
      return candidate.content;
    }
    sawWasm ||= found.hasWasm;
    if (found.hidesLower) break;
  }
  if (sawWasm) {
    throw invalid(
      'the image holds index.wasm but no index.js: the WASM runtime is not supported by this node',
    );
  }
  throw invalid('the image has no index.js in its layers');
}

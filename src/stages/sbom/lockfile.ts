// npm's package-lock.json (lockfileVersion 2 and 3): the packages it installs and the graph between them, resolved the
// way npm's arborist does (a dependency is found in the nearest node_modules walking up from the dependent).
import { readFileSync } from 'node:fs';
import { VouchError, errorMessage } from '../../common/errors.ts';

export interface LockPackage {
  /** the key in `packages`: `node_modules/a/node_modules/@s/b`, or a workspace folder */
  key: string;
  /** the real package name (an alias `"x": "npm:y@1"` installs y under node_modules/x) */
  name: string;
  version: string | undefined;
  /** `resolved` URL as npm recorded it */
  resolved: string | undefined;
  /** `integrity`: SRI strings (`sha512-<base64>`), as npm recorded them */
  integrity: string | undefined;
  /** `license` as the package declares it (not normalised) */
  license: string | undefined;
  dev: boolean;
  optional: boolean;
  /** keys of the packages this one depends on (resolved; missing optional/peer dependencies left out) */
  dependsOn: string[];
}

export interface Lockfile {
  path: string;
  lockfileVersion: 2 | 3;
  root: { name: string; version: string | undefined; license: string | undefined; dependsOn: string[] };
  /** every installed package: all `packages` entries but the root and `link: true` entries (which alias another entry) */
  packages: LockPackage[];
}

type Entry = Record<string, unknown>;

function invalid(path: string, what: string): VouchError {
  return new VouchError('LOCKFILE_INVALID', `${path}: ${what}`, { details: { path } });
}

function optionalString(path: string, key: string, entry: Entry, field: string): string | undefined {
  const v = entry[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(path, `packages["${key}"].${field} must be a string`);
  return v;
}

/** The declared license: a string, or the legacy `{type}` object / array some old packages still carry. */
function declaredLicense(path: string, key: string, entry: Entry): string | undefined {
  const v = entry.license;
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  const types = (Array.isArray(v) ? v : [v]).map((l: unknown) =>
    typeof l === 'object' && l !== null && typeof (l as Entry).type === 'string' ? ((l as Entry).type as string) : undefined,
  );
  if (types.length === 0 || types.some((t) => t === undefined)) throw invalid(path, `packages["${key}"].license is neither a string nor {type}`);
  return types.length === 1 ? types[0] : `(${types.join(' OR ')})`;
}

function nameFromKey(key: string): string {
  const at = key.lastIndexOf('node_modules/');
  return at === -1 ? key.split('/').pop() ?? key : key.slice(at + 'node_modules/'.length);
}

function dependencyNames(path: string, key: string, entry: Entry, root: boolean): { name: string; required: boolean }[] {
  const out: { name: string; required: boolean }[] = [];
  const fields: [string, boolean][] = [
    ['dependencies', true],
    ['optionalDependencies', false],
    ['peerDependencies', false],
  ];
  if (root) fields.push(['devDependencies', true]);
  const peerMeta = entry.peerDependenciesMeta;
  for (const [field, required] of fields) {
    const deps = entry[field];
    if (deps === undefined) continue;
    if (typeof deps !== 'object' || deps === null || Array.isArray(deps)) throw invalid(path, `packages["${key}"].${field} must be an object`);
    for (const name of Object.keys(deps)) {
      if (out.some((d) => d.name === name)) continue;
      // a peer dependency is only required when npm would install it (npm 7+ does, unless marked optional)
      const optionalPeer = field === 'peerDependencies' && typeof peerMeta === 'object' && peerMeta !== null && (peerMeta as Record<string, Entry | undefined>)[name]?.optional === true;
      out.push({ name, required: required && !optionalPeer });
    }
  }
  return out;
}

/** Reads and checks a package-lock.json; every problem names the file. */
export function readLockfile(path: string): Lockfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VouchError('LOCKFILE_INVALID', `${path}: cannot read the lockfile: ${errorMessage(err)}`, { cause: err, details: { path } });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VouchError('LOCKFILE_INVALID', `${path}: not JSON: ${errorMessage(err)}`, { cause: err, details: { path } });
  }
  return parseLockfile(path, doc);
}

export function parseLockfile(path: string, doc: unknown): Lockfile {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(path, 'not a JSON object');
  const lock = doc as Entry;
  const version = lock.lockfileVersion;
  if (version !== 2 && version !== 3) {
    throw invalid(path, `lockfileVersion ${JSON.stringify(version)} is not supported (2 or 3: run npm 7 or later to upgrade it)`);
  }
  const packages = lock.packages;
  if (typeof packages !== 'object' || packages === null || Array.isArray(packages)) throw invalid(path, '"packages" must be an object');
  const entries = packages as Record<string, unknown>;
  for (const [key, entry] of Object.entries(entries)) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(path, `packages["${key}"] must be an object`);
  }
  const rootEntry = entries[''] as Entry | undefined;
  if (rootEntry === undefined) throw invalid(path, 'packages[""] (the project itself) is missing');

  // where a key really lives: a link entry points at its target folder
  const target = (key: string): string | undefined => {
    const e = entries[key] as Entry | undefined;
    if (e === undefined) return undefined;
    if (e.link === true) {
      const resolved = e.resolved;
      if (typeof resolved !== 'string') throw invalid(path, `packages["${key}"] is a link without "resolved"`);
      return entries[resolved] === undefined ? undefined : resolved;
    }
    return key;
  };
  const resolve = (from: string, name: string): string | undefined => {
    // nearest node_modules first: from/node_modules/name, then each parent's, then the root's
    let base = from;
    for (;;) {
      const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
      if (entries[candidate] !== undefined) return target(candidate);
      if (base === '') return undefined;
      const at = base.lastIndexOf('/node_modules/');
      base = at === -1 ? '' : base.slice(0, at);
    }
  };
  const edges = (key: string, entry: Entry, root: boolean): string[] => {
    const out: string[] = [];
    for (const dep of dependencyNames(path, key, entry, root)) {
      const to = resolve(key, dep.name);
      if (to === undefined) {
        if (dep.required && entry.optional !== true && !(entry.dev === true && !root)) {
          throw invalid(path, `packages["${key}"] depends on ${dep.name}, which the lockfile does not contain`);
        }
        continue;
      }
      if (to !== '' && !out.includes(to)) out.push(to);
    }
    return out;
  };

  const list: LockPackage[] = [];
  for (const [key, raw] of Object.entries(entries)) {
    if (key === '') continue;
    const entry = raw as Entry;
    if (entry.link === true) continue;
    list.push({
      key,
      name: optionalString(path, key, entry, 'name') ?? nameFromKey(key),
      version: optionalString(path, key, entry, 'version'),
      resolved: optionalString(path, key, entry, 'resolved'),
      integrity: optionalString(path, key, entry, 'integrity'),
      license: declaredLicense(path, key, entry),
      dev: entry.dev === true || entry.devOptional === true,
      optional: entry.optional === true,
      dependsOn: edges(key, entry, false),
    });
  }
  const rootName = optionalString(path, '', rootEntry, 'name') ?? (typeof lock.name === 'string' ? lock.name : 'project');
  return {
    path,
    lockfileVersion: version,
    root: {
      name: rootName,
      version: optionalString(path, '', rootEntry, 'version'),
      license: declaredLicense(path, '', rootEntry),
      dependsOn: edges('', rootEntry, true),
    },
    packages: list,
  };
}

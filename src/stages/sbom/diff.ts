// What a change does to the dependencies: packages added, removed, and changed (other versions, or the same version
// with other hashes, which a registry or lockfile tampering would cause). Packages are compared by name, because a
// package's place in node_modules moves with hoisting while it stays the same dependency.
import type { Sbom } from './read.ts';

export interface PackageVersions {
  name: string;
  versions: string[];
}

export interface ChangedPackage {
  name: string;
  before: string[];
  after: string[];
  /** versions present on both sides whose hashes differ */
  hashChanged: string[];
}

export interface SbomDiff {
  added: PackageVersions[];
  removed: PackageVersions[];
  changed: ChangedPackage[];
}

interface Side {
  versions: Set<string>;
  hashes: Map<string, string>;
}

function index(sbom: Sbom): Map<string, Side> {
  const out = new Map<string, Side>();
  for (const c of sbom.components) {
    const key = `${c.purlType ?? ''}:${c.name}`;
    let side = out.get(key);
    if (side === undefined) out.set(key, (side = { versions: new Set(), hashes: new Map() }));
    const version = c.version ?? '';
    side.versions.add(version);
    const hashes = Object.entries(c.hashes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([alg, hex]) => `${alg}:${hex}`)
      .join(',');
    if (hashes !== '') side.hashes.set(version, hashes);
  }
  return out;
}

const sorted = (s: Iterable<string>): string[] => [...s].sort();
const nameOf = (key: string): string => key.slice(key.indexOf(':') + 1);

export function diffSboms(base: Sbom, head: Sbom): SbomDiff {
  const before = index(base);
  const after = index(head);
  const diff: SbomDiff = { added: [], removed: [], changed: [] };
  for (const [key, side] of after) {
    const old = before.get(key);
    if (old === undefined) {
      diff.added.push({ name: nameOf(key), versions: sorted(side.versions) });
      continue;
    }
    const hashChanged = sorted([...side.versions].filter((v) => old.versions.has(v) && old.hashes.has(v) && side.hashes.has(v) && old.hashes.get(v) !== side.hashes.get(v)));
    const sameVersions = old.versions.size === side.versions.size && [...old.versions].every((v) => side.versions.has(v));
    if (!sameVersions || hashChanged.length > 0) {
      diff.changed.push({ name: nameOf(key), before: sorted(old.versions), after: sorted(side.versions), hashChanged });
    }
  }
  for (const [key, side] of before) if (!after.has(key)) diff.removed.push({ name: nameOf(key), versions: sorted(side.versions) });
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
  diff.added.sort(byName);
  diff.removed.sort(byName);
  diff.changed.sort(byName);
  return diff;
}

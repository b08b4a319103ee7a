// Small npm projects as package-lock.json v3 files, written for the sbom and sca tests and the benchmark.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pkg {
  name: string;
  version: string;
  license?: string;
  dependencies?: Record<string, string>;
  /** nested under another package's node_modules: the parent's key */
  under?: string;
  dev?: boolean;
}

/** sha512 integrity of a stand-in tarball name, so every package has a distinct, well-formed SRI string */
function integrity(name: string, version: string): string {
  return `sha512-${Buffer.from(`${name}@${version}`.padEnd(64, '.').slice(0, 64)).toString('base64')}`;
}

export function lockfile(root: { name: string; version: string; dependencies: Record<string, string>; devDependencies?: Record<string, string>; license?: string }, pkgs: Pkg[]): Record<string, unknown> {
  const packages: Record<string, unknown> = {
    '': { name: root.name, version: root.version, ...(root.license ? { license: root.license } : {}), dependencies: root.dependencies, ...(root.devDependencies ? { devDependencies: root.devDependencies } : {}) },
  };
  for (const p of pkgs) {
    const key = p.under === undefined ? `node_modules/${p.name}` : `${p.under}/node_modules/${p.name}`;
    packages[key] = {
      version: p.version,
      resolved: `https://registry.npmjs.org/${p.name}/-/${p.name.split('/').pop()!}-${p.version}.tgz`,
      integrity: integrity(p.name, p.version),
      ...(p.dev === true ? { dev: true } : {}),
      ...(p.license === undefined ? {} : { license: p.license }),
      ...(p.dependencies === undefined ? {} : { dependencies: p.dependencies }),
    };
  }
  return { name: root.name, version: root.version, lockfileVersion: 3, requires: true, packages };
}

export function writeLockfile(dir: string, lock: Record<string, unknown>): string {
  const path = join(dir, 'package-lock.json');
  writeFileSync(path, JSON.stringify(lock, null, 2));
  return path;
}

/** A project whose one direct dependency `app-utils` pulls in lodash at the given version. */
export function lodashProject(version: string, extra: Pkg[] = []): Record<string, unknown> {
  return lockfile({ name: 'demo', version: '1.0.0', dependencies: { 'app-utils': '^2.0.0', ...Object.fromEntries(extra.filter((p) => p.under === undefined).map((p) => [p.name, p.version])) } }, [
    { name: 'app-utils', version: '2.1.0', license: 'MIT', dependencies: { lodash: `^${version}` } },
    { name: 'lodash', version, license: 'MIT' },
    ...extra,
  ]);
}

/** n packages in a random-looking but fixed tree: a few direct dependencies, each package depending on a few later ones. */
export function generatedProject(n: number, names: (i: number) => string = (i) => `pkg-${String(i)}`): Record<string, unknown> {
  const pkgs: Pkg[] = [];
  for (let i = 0; i < n; i++) {
    const deps: Record<string, string> = {};
    for (const j of [i * 3 + 1, i * 3 + 2, i * 7 + 5]) if (j < n) deps[names(j)] = '^1.0.0';
    pkgs.push({ name: names(i), version: `1.${String(i % 20)}.${String(i % 7)}`, license: i % 3 === 0 ? 'MIT' : i % 3 === 1 ? 'ISC' : 'Apache-2.0', dependencies: deps });
  }
  return lockfile({ name: 'big', version: '1.0.0', dependencies: { [names(0)]: '^1.0.0' } }, pkgs);
}

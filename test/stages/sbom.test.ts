import { expect } from 'chai';
import * as CDX from '@cyclonedx/cyclonedx-library';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVouchError } from '../../src/common/errors.ts';
import { readLockfile } from '../../src/stages/sbom/lockfile.ts';
import { buildSbomJson, integrityHashes, npmPurl, writeSbom } from '../../src/stages/sbom/sbom.ts';
import { dependencyPaths, readSbom } from '../../src/stages/sbom/read.ts';
import { diffSboms } from '../../src/stages/sbom/diff.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { generatedProject, lockfile, lodashProject, writeLockfile } from './npm-project.ts';

async function schemaErrors(json: string): Promise<unknown> {
  return new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6).validate(json);
}

describe('stages/sbom', () => {
  const tmp = tempDirPerSuite('vouch-sbom-');

  it('the SBOM of this repository validates against CycloneDX 1.6 and has one component per lockfile package', async () => {
    const lockPath = join(REPO_ROOT, 'package-lock.json');
    const lock = readLockfile(lockPath);
    const raw = JSON.parse(readFileSync(lockPath, 'utf8')) as { packages: Record<string, { link?: boolean }> };
    const expected = Object.entries(raw.packages).filter(([k, v]) => k !== '' && v.link !== true).length;
    const out = join(tmp(), 'repo.cdx.json');
    const written = await writeSbom(lock, out);
    const json = readFileSync(out, 'utf8');
    expect(await schemaErrors(json)).to.equal(null);
    const doc = JSON.parse(json) as { specVersion: string; components: { purl: string; hashes?: unknown[] }[] };
    expect(doc.specVersion).to.equal('1.6');
    expect(doc.components).to.have.length(expected);
    expect(written.components).to.equal(expected);
    expect(doc.components.every((c) => c.purl.startsWith('pkg:npm/'))).to.equal(true);
  });

  it('writes purls, sha512 hashes as hex, declared licenses and the dependency graph', async () => {
    const lock = lockfile({ name: 'demo', version: '1.0.0', license: 'MIT', dependencies: { '@scope/a': '^1.0.0', b: '^1.0.0' } }, [
      { name: '@scope/a', version: '1.2.3', license: 'MIT OR Apache-2.0', dependencies: { c: '^1.0.0' } },
      { name: 'b', version: '1.0.0', license: 'ISC', dependencies: { c: '^2.0.0' } },
      { name: 'c', version: '1.0.0', license: 'Some Custom License' },
      { name: 'c', version: '2.0.0', license: 'BSD-3-Clause', under: 'node_modules/b' },
    ]);
    const path = writeLockfile(tmp(), lock);
    const out = join(tmp(), 'demo.cdx.json');
    await writeSbom(readLockfile(path), out);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as {
      components: { 'bom-ref': string; group?: string; name: string; purl: string; hashes: { alg: string; content: string }[]; licenses: unknown[] }[];
      dependencies: { ref: string; dependsOn?: string[] }[];
    };
    const a = doc.components.find((c) => c.name === 'a')!;
    expect(a.group).to.equal('@scope');
    expect(a.purl).to.equal('pkg:npm/%40scope/a@1.2.3');
    expect(a.licenses).to.deep.equal([{ expression: 'MIT OR Apache-2.0' }]);
    const sri = (lock.packages as Record<string, { integrity: string }>)['node_modules/@scope/a']!.integrity;
    expect(a.hashes).to.deep.equal([{ alg: 'SHA-512', content: Buffer.from(sri.slice('sha512-'.length), 'base64').toString('hex') }]);
    expect(doc.components.find((c) => c.name === 'c' && c.purl.endsWith('@1.0.0'))!.licenses).to.deep.equal([{ license: { name: 'Some Custom License' } }]);
    const deps = new Map(doc.dependencies.map((d) => [d.ref, d.dependsOn ?? []]));
    expect(deps.get('root')).to.deep.equal(['node_modules/@scope/a', 'node_modules/b']);
    // b resolves c from its own node_modules (2.0.0), a from the root's (1.0.0), as npm does
    expect(deps.get('node_modules/b')).to.deep.equal(['node_modules/b/node_modules/c']);
    expect(deps.get('node_modules/@scope/a')).to.deep.equal(['node_modules/c']);
    const sbom = await readSbom(out, { validate: true });
    expect(dependencyPaths(sbom).get('node_modules/b/node_modules/c')).to.deep.equal(['b@1.0.0', 'c@2.0.0']);
  });

  it('is reproducible: the same lockfile gives byte-identical SBOMs, and the serial number follows the content', () => {
    const a = readLockfile(writeLockfile(tmp(), generatedProject(50)));
    const first = buildSbomJson(a);
    expect(buildSbomJson(readLockfile(writeLockfile(tmp(), generatedProject(50))))).to.equal(first);
    expect(first).not.to.match(/"timestamp"/);
    const other = buildSbomJson(readLockfile(writeLockfile(tmp(), generatedProject(51))));
    const serial = (s: string): string => (JSON.parse(s) as { serialNumber: string }).serialNumber;
    expect(serial(first)).to.match(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(serial(other)).not.to.equal(serial(first));
  });

  it('integrity strings become CycloneDX hashes; purls encode scopes', () => {
    expect(integrityHashes('sha1-AAEC sha512-AQID')).to.deep.equal([
      ['SHA-1', '000102'],
      ['SHA-512', '010203'],
    ]);
    expect(integrityHashes('md5-AAEC')).to.deep.equal([]);
    expect(npmPurl('@types/node', '24.0.0')).to.equal('pkg:npm/%40types/node@24.0.0');
  });

  describe('malformed lockfiles: a clear error naming the file, nothing written', () => {
    const cases: [string, string][] = [
      ['not JSON', '{"lockfileVersion": 3, "packages": {'],
      ['lockfileVersion 1', JSON.stringify({ lockfileVersion: 1, dependencies: {} })],
      ['packages missing', JSON.stringify({ lockfileVersion: 3 })],
      ['root missing', JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/a': { version: '1.0.0' } } })],
      ['a dependency not in the lockfile', JSON.stringify({ lockfileVersion: 3, packages: { '': { dependencies: { a: '1' } } } })],
      ['a version that is not a string', JSON.stringify({ lockfileVersion: 3, packages: { '': {}, 'node_modules/a': { version: 1 } } })],
    ];
    for (const [what, text] of cases) {
      it(what, async () => {
        const dir = join(tmp(), what.replace(/\W+/g, '-'));
        const { mkdirSync } = await import('node:fs');
        mkdirSync(dir);
        const path = join(dir, 'package-lock.json');
        writeFileSync(path, text);
        let err: unknown;
        try {
          await writeSbom(readLockfile(path), join(dir, 'sbom.json'));
        } catch (e) {
          err = e;
        }
        expect(isVouchError(err, 'LOCKFILE_INVALID'), String(err)).to.equal(true);
        expect((err as Error).message).to.include(path);
        expect(readdirSync(dir)).to.deep.equal(['package-lock.json']);
      });
    }
  });

  it('an SBOM the schema refuses is not written', async () => {
    // a license id CycloneDX does not know cannot come from the builder, so feed the validator a broken document
    const { validateSbomJson } = await import('../../src/stages/sbom/sbom.ts');
    let err: unknown;
    try {
      await validateSbomJson(JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', components: [{ type: 'nonsense', name: 'x' }] }), 'x.json');
    } catch (e) {
      err = e;
    }
    expect(isVouchError(err, 'SBOM_INVALID')).to.equal(true);
    expect(existsSync(join(tmp(), 'x.json'))).to.equal(false);
  });

  it('diff against the base SBOM: added, removed and changed packages (versions or hashes)', async () => {
    const baseDir = join(tmp(), 'base');
    const headDir = join(tmp(), 'head');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(baseDir);
    mkdirSync(headDir);
    const base = lodashProject('4.17.15', [{ name: 'left-pad', version: '1.3.0', license: 'WTFPL' }, { name: 'ms', version: '2.1.3', license: 'MIT' }]);
    const head = lodashProject('4.17.21', [{ name: 'is-odd', version: '3.0.1', license: 'MIT' }, { name: 'ms', version: '2.1.3', license: 'MIT' }]);
    // same version, other tarball: the kind of change a tampered lockfile makes
    (head.packages as Record<string, { integrity: string }>)['node_modules/ms']!.integrity = `sha512-${Buffer.alloc(64, 7).toString('base64')}`;
    await writeSbom(readLockfile(writeLockfile(baseDir, base)), join(baseDir, 'sbom.json'));
    await writeSbom(readLockfile(writeLockfile(headDir, head)), join(headDir, 'sbom.json'));
    const diff = diffSboms(await readSbom(join(baseDir, 'sbom.json')), await readSbom(join(headDir, 'sbom.json')));
    expect(diff.added).to.deep.equal([{ name: 'is-odd', versions: ['3.0.1'] }]);
    expect(diff.removed).to.deep.equal([{ name: 'left-pad', versions: ['1.3.0'] }]);
    expect(diff.changed).to.deep.equal([
      { name: 'lodash', before: ['4.17.15'], after: ['4.17.21'], hashChanged: [] },
      { name: 'ms', before: ['2.1.3'], after: ['2.1.3'], hashChanged: ['2.1.3'] },
    ]);
  });

  it('reads npm aliases, workspaces (links), v2 lockfiles and legacy license objects as npm lays them out', async () => {
    const lock = {
      name: 'mono',
      lockfileVersion: 2,
      requires: true,
      packages: {
        '': { name: 'mono', version: '1.0.0', workspaces: ['packages/*'], dependencies: { 'old-lodash': 'npm:lodash@4.17.15' } },
        'node_modules/old-lodash': { name: 'lodash', version: '4.17.15', license: 'MIT' },
        'node_modules/@mono/lib': { resolved: 'packages/lib', link: true },
        'packages/lib': { name: '@mono/lib', version: '0.1.0', dependencies: { ms: '^2.0.0' } },
        'packages/lib/node_modules/ms': { version: '2.0.0', license: { type: 'MIT' } },
        'node_modules/app': { version: '1.0.0', dependencies: { '@mono/lib': '*' }, license: [{ type: 'MIT' }, { type: 'Apache-2.0' }] },
      },
      dependencies: { 'old-lodash': { version: 'npm:lodash@4.17.15' } },
    };
    const parsed = readLockfile(writeLockfile(tmp(), lock));
    expect(parsed.packages.map((p) => [p.key, p.name, p.version, p.license])).to.deep.equal([
      ['node_modules/old-lodash', 'lodash', '4.17.15', 'MIT'],
      ['packages/lib', '@mono/lib', '0.1.0', undefined],
      ['packages/lib/node_modules/ms', 'ms', '2.0.0', 'MIT'],
      ['node_modules/app', 'app', '1.0.0', '(MIT OR Apache-2.0)'],
    ]);
    // the alias resolves by its folder name; a link resolves to the workspace folder it points at
    expect(parsed.root.dependsOn).to.deep.equal(['node_modules/old-lodash']);
    expect(parsed.packages.find((p) => p.key === 'node_modules/app')!.dependsOn).to.deep.equal(['packages/lib']);
    expect(parsed.packages.find((p) => p.key === 'packages/lib')!.dependsOn).to.deep.equal(['packages/lib/node_modules/ms']);
    const json = buildSbomJson(parsed);
    expect(await schemaErrors(json)).to.equal(null);
    const doc = JSON.parse(json) as { components: { purl: string }[] };
    expect(doc.components.map((c) => c.purl).sort()).to.deep.equal(['pkg:npm/%40mono/lib@0.1.0', 'pkg:npm/app@1.0.0', 'pkg:npm/lodash@4.17.15', 'pkg:npm/ms@2.0.0']);
  });
});

import { expect } from 'chai';
import { mkdirSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVouchError } from '../../src/common/errors.ts';
import { readLockfile } from '../../src/stages/sbom/lockfile.ts';
import { writeSbom } from '../../src/stages/sbom/sbom.ts';
import { readSbom } from '../../src/stages/sbom/read.ts';
import { loadOsvDatabase } from '../../src/stages/sca/osv.ts';
import { VULNS_V01 } from '../../src/attest/predicates.ts';
import { checkScaPolicy, defaultScaPolicy, scan, vulnsPredicate } from '../../src/stages/sca/scan.ts';
import type { ScaPolicy, ScaReport } from '../../src/stages/sca/scan.ts';
import { cvssBaseScore, rating } from '../../src/stages/sca/severity.ts';
import { judgeLicenses } from '../../src/stages/sca/licenses.ts';
import { SHARED } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { lodashProject, writeLockfile } from './npm-project.ts';
import type { Pkg } from './npm-project.ts';

const OSV = join(SHARED, 'fixtures', 'osv');
const NOW = new Date('2026-11-24T00:00:00Z');

describe('stages/sca', () => {
  const tmp = tempDirPerSuite('vouch-sca-');
  let n = 0;
  async function scanProject(lock: Record<string, unknown>, policy: ScaPolicy = defaultScaPolicy, base?: Record<string, unknown>): Promise<ScaReport> {
    const dir = join(tmp(), String(n++));
    mkdirSync(dir);
    await writeSbom(readLockfile(writeLockfile(dir, lock)), join(dir, 'sbom.json'));
    let baseSbom;
    if (base !== undefined) {
      mkdirSync(join(dir, 'base'));
      await writeSbom(readLockfile(writeLockfile(join(dir, 'base'), base)), join(dir, 'base', 'sbom.json'));
      baseSbom = await readSbom(join(dir, 'base', 'sbom.json'));
    }
    return scan({ sbom: await readSbom(join(dir, 'sbom.json'), { validate: true }), db: loadOsvDatabase(OSV), policy, now: NOW, ...(baseSbom ? { base: baseSbom } : {}) });
  }

  it('loads the OSV export directory and states its size and age', () => {
    const db = loadOsvDatabase(OSV);
    expect(db.records).to.equal(2);
    expect(db.ecosystems).to.deep.equal(['npm']);
    expect(db.newestModified).to.equal('2022-02-08T22:04:28Z');
    expect(db.index.get('npm')?.get('lodash')?.map((r) => r.id).sort()).to.deep.equal(['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
  });

  it('lodash 4.17.15 fails on GHSA-35jh-r3h4-6jhm and GHSA-p6mc-m468-83gw, with path, aliases, severity and fix', async () => {
    const report = await scanProject(lodashProject('4.17.15'));
    expect(report.verdict).to.equal('fail');
    expect(report.vulnerabilities.map((v) => v.id)).to.deep.equal(['GHSA-35jh-r3h4-6jhm', 'GHSA-p6mc-m468-83gw']);
    const [template, proto] = report.vulnerabilities;
    expect(template).to.include({ package: 'lodash', version: '4.17.15', severity: 'high', fixed: '4.17.21', failing: true });
    expect(template!.aliases).to.deep.equal(['CVE-2021-23337']);
    expect(template!.path).to.deep.equal(['app-utils@2.1.0', 'lodash@4.17.15']);
    expect(template!.severities.map((s) => [s.method, s.score, s.rating])).to.deep.equal([
      ['CVSS_V3', 7.2, 'high'],
      ['database', undefined, 'high'],
    ]);
    expect(proto).to.include({ fixed: '4.17.20', severity: 'high' });
    expect(proto!.severities[0]!.score).to.equal(7.4);
    expect(report.database).to.include({ records: 2, newestModified: '2022-02-08T22:04:28Z' });
    expect(report.database.ageDays).to.be.greaterThan(1000);
    expect(report.reasons.join('\n')).to.include('GHSA-35jh-r3h4-6jhm').and.include('GHSA-p6mc-m468-83gw');
  });

  it('lodash 4.17.20 fails on GHSA-35jh-r3h4-6jhm only', async () => {
    const report = await scanProject(lodashProject('4.17.20'));
    expect(report.verdict).to.equal('fail');
    expect(report.vulnerabilities.map((v) => v.id)).to.deep.equal(['GHSA-35jh-r3h4-6jhm']);
  });

  it('lodash 4.17.21 passes', async () => {
    const report = await scanProject(lodashProject('4.17.21'));
    expect(report.vulnerabilities).to.deep.equal([]);
    expect(report.verdict).to.equal('pass');
    expect(report.scanned).to.equal(2);
  });

  it('a package installed under an alias is matched by its real name', async () => {
    const lock = { lockfileVersion: 3, packages: { '': { name: 'demo', dependencies: { 'not-lodash': 'npm:lodash@4.17.20' } }, 'node_modules/not-lodash': { name: 'lodash', version: '4.17.20', license: 'MIT' } } };
    const report = await scanProject(lock);
    expect(report.vulnerabilities.map((v) => [v.package, v.id])).to.deep.equal([['lodash', 'GHSA-35jh-r3h4-6jhm']]);
  });

  it('thresholds and ignores decide what fails', async () => {
    const onlyCritical = await scanProject(lodashProject('4.17.15'), { ...defaultScaPolicy, failOn: ['critical'] });
    expect(onlyCritical.vulnerabilities).to.have.length(2);
    expect(onlyCritical.verdict).to.equal('pass');
    const ignored = await scanProject(lodashProject('4.17.20'), { ...defaultScaPolicy, ignore: ['CVE-2021-23337'] });
    expect(ignored.vulnerabilities[0]).to.include({ ignored: true, failing: false });
    expect(ignored.verdict).to.equal('pass');
  });

  it('a denied license fails; a dual license with an allowed choice does not', async () => {
    const gpl: Pkg = { name: 'copyleft-lib', version: '1.0.0', license: 'GPL-3.0-only' };
    const dual: Pkg = { name: 'dual-lib', version: '1.0.0', license: '(MIT OR GPL-3.0-only)' };
    const policy: ScaPolicy = { ...defaultScaPolicy, licenses: { deny: ['GPL-3.0-only'] } };
    const report = await scanProject(lodashProject('4.17.21', [gpl, dual]), policy);
    expect(report.verdict).to.equal('fail');
    expect(report.licenses.map((l) => [l.package, l.status, l.failing])).to.deep.equal([['copyleft-lib', 'denied', true]]);
    const allowList = await scanProject(lodashProject('4.17.21', [{ name: 'x', version: '1.0.0', license: 'Apache 2' }]), { ...defaultScaPolicy, licenses: { allow: ['MIT'] } });
    expect(allowList.licenses.map((l) => [l.package, l.expression, l.status])).to.deep.equal([['x', 'Apache-2.0', 'denied']]);
  });

  it('license decisions follow SPDX expressions', () => {
    expect(judgeLicenses(['MIT AND GPL-3.0-only'], { deny: ['GPL-3.0-only'] }).status).to.equal('denied');
    expect(judgeLicenses(['GPL-2.0+'], { allow: ['GPL-3.0-only'] }).status).to.equal('allowed');
    expect(judgeLicenses(['Apache-2.0 WITH LLVM-exception'], { allow: ['MIT'] }).status).to.equal('denied');
    expect(judgeLicenses([], {}).status).to.equal('unknown');
    expect(judgeLicenses(['see LICENSE in repo'], {}).status).to.equal('unknown');
  });

  it('package deny-list (name or name@range), new packages flagged, new direct dependencies held to the allow-list', async () => {
    const base = lodashProject('4.17.21');
    const head = lodashProject('4.17.21', [{ name: 'left-pad', version: '1.3.0', license: 'MIT' }]);
    const denied = await scanProject(head, { ...defaultScaPolicy, packages: { deny: ['left-pad@<2'] } });
    expect(denied.packages.map((p) => [p.package, p.rule])).to.deep.equal([['left-pad', 'deny']]);
    expect(denied.verdict).to.equal('fail');
    const notDenied = await scanProject(head, { ...defaultScaPolicy, packages: { deny: ['left-pad@>=2'] } });
    expect(notDenied.verdict).to.equal('pass');
    const creep = await scanProject(head, { ...defaultScaPolicy, packages: { deny: [], allowNewDirect: ['is-odd'] } }, base);
    expect(creep.added).to.deep.equal(['left-pad']);
    expect(creep.packages.map((p) => [p.package, p.rule])).to.deep.equal([['left-pad', 'new-direct-not-allowed']]);
    const allowed = await scanProject(head, { ...defaultScaPolicy, packages: { deny: [], allowNewDirect: ['left-pad'] } }, base);
    expect(allowed.verdict).to.equal('pass');
    const flagged = await scanProject(lodashProject('4.17.20'), defaultScaPolicy, lockfileWithout());
    expect(flagged.vulnerabilities[0]!.new).to.equal(true);
  });

  it('a policy with a misspelt license or severity is refused', () => {
    expect(() => {
      checkScaPolicy({ ...defaultScaPolicy, licenses: { deny: ['GPL 3 or so ((('] } }, 'policy.yaml');
    }).to.throw(/licenses.deny/);
    expect(() => {
      checkScaPolicy({ ...defaultScaPolicy, failOn: ['severe' as 'high'] }, 'policy.yaml');
    }).to.throw(/failOn/);
  });

  it('a stale database fails when the policy bounds its age', async () => {
    const report = await scanProject(lodashProject('4.17.21'), { ...defaultScaPolicy, maxDatabaseAgeDays: 30 });
    expect(report.verdict).to.equal('fail');
    expect(report.reasons[0]).to.match(/database is \d+\.\d days old/);
  });

  it('the vulnerability predicate carries scanner, database time, findings and scan times', async () => {
    const report = await scanProject(lodashProject('4.17.20'));
    const p = vulnsPredicate(report, { uri: 'pkg:npm/vouch@0.1.0', version: '0.1.0', dbUri: 'file:///osv' }, { startedOn: NOW, finishedOn: NOW }) as {
      scanner: { db: { lastUpdate: string }; result: { vulnerability: { id: string; severity: { method: string; score: string }[] } }[] };
      metadata: { scanStartedOn: string };
    };
    expect(VULNS_V01).to.equal('https://in-toto.io/attestation/vulns/v0.1');
    expect(p.scanner.db.lastUpdate).to.equal('2022-02-08T22:04:28.000Z');
    expect(p.scanner.result.map((r) => r.vulnerability.id)).to.deep.equal(['GHSA-35jh-r3h4-6jhm']);
    expect(p.scanner.result[0]!.vulnerability.severity[0]).to.deep.equal({ method: 'severity', score: 'high' });
    expect(p.metadata.scanStartedOn).to.equal(NOW.toISOString());
  });

  it('CVSS base scores as FIRST computes them; malformed vectors give no score', () => {
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H')).to.equal(9.8);
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N')).to.equal(6.1);
    expect(cvssBaseScore('CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N')).to.equal(9.3);
    expect(cvssBaseScore('CVSS_V3', 'CVSS:3.1/AV:N/AC:L')).to.equal(undefined);
    expect(cvssBaseScore('CVSS_V3', 'garbage')).to.equal(undefined);
    expect([0, 3.9, 4, 6.9, 7, 8.9, 9, 10].map(rating)).to.deep.equal(['none', 'low', 'medium', 'medium', 'high', 'high', 'critical', 'critical']);
  });

  describe('malformed OSV records: a clear error naming the file', () => {
    const good = JSON.stringify({ id: 'X-1', modified: '2024-01-01T00:00:00Z', affected: [] });
    const cases: [string, string][] = [
      ['not JSON', '{"id": "X"'],
      ['no id', JSON.stringify({ modified: '2024-01-01T00:00:00Z' })],
      ['bad modified', JSON.stringify({ id: 'X', modified: 'yesterday' })],
      ['event with two keys', JSON.stringify({ id: 'X', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'a' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0', fixed: '1.0.0' }] }] }] })],
      ['range without introduced', JSON.stringify({ id: 'X', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'a' }, ranges: [{ type: 'SEMVER', events: [{ fixed: '1.0.0' }] }] }] })],
      ['package without name', JSON.stringify({ id: 'X', modified: '2024-01-01T00:00:00Z', affected: [{ package: { ecosystem: 'npm' } }] })],
    ];
    for (const [what, text] of cases) {
      it(what, () => {
        const dir = join(tmp(), `osv-${what.replace(/\W+/g, '-')}`);
        mkdirSync(join(dir, 'npm'), { recursive: true });
        writeFileSync(join(dir, 'npm', 'A-good.json'), good);
        writeFileSync(join(dir, 'npm', 'B-bad.json'), text);
        let err: unknown;
        try {
          loadOsvDatabase(dir);
        } catch (e) {
          err = e;
        }
        expect(isVouchError(err, 'OSV_RECORD_INVALID'), String(err)).to.equal(true);
        expect((err as Error).message).to.include(join(dir, 'npm', 'B-bad.json'));
      });
    }
    it('a missing database directory is an unavailable database, not an empty one', () => {
      let err: unknown;
      try {
        loadOsvDatabase(join(tmp(), 'nope'));
      } catch (e) {
        err = e;
      }
      expect(isVouchError(err, 'OSV_DATABASE_UNAVAILABLE')).to.equal(true);
    });
    it('withdrawn records are counted but never match', () => {
      const dir = join(tmp(), 'osv-withdrawn');
      mkdirSync(join(dir, 'npm'), { recursive: true });
      copyFileSync(join(OSV, 'npm', 'GHSA-35jh-r3h4-6jhm.json'), join(dir, 'npm', 'a.json'));
      writeFileSync(join(dir, 'npm', 'b.json'), JSON.stringify({ id: 'W-1', modified: '2024-01-01T00:00:00Z', withdrawn: '2024-01-02T00:00:00Z', affected: [{ package: { ecosystem: 'npm', name: 'lodash' }, versions: ['4.17.21'] }] }));
      const db = loadOsvDatabase(dir);
      expect([db.records, db.withdrawn, readdirSync(join(dir, 'npm')).length]).to.deep.equal([2, 1, 2]);
      expect(db.index.get('npm')?.get('lodash')?.map((r) => r.id)).to.deep.equal(['GHSA-35jh-r3h4-6jhm']);
    });
  });
});

/** the base revision of a change that added app-utils (and with it lodash) */
function lockfileWithout(): Record<string, unknown> {
  return { lockfileVersion: 3, packages: { '': { name: 'demo', version: '1.0.0' } } };
}

import { performance } from 'node:perf_hooks';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './harness.ts';
import { readLockfile } from '../src/stages/sbom/lockfile.ts';
import { writeSbom } from '../src/stages/sbom/sbom.ts';
import { readSbom } from '../src/stages/sbom/read.ts';
import { loadOsvDatabase } from '../src/stages/sca/osv.ts';
import { defaultScaPolicy, scan } from '../src/stages/sca/scan.ts';
import { SHARED } from '../test/helpers/cli.ts';
import { tempDir } from '../test/helpers/tmp.ts';
import { generatedProject, writeLockfile } from '../test/stages/npm-project.ts';

// sca on a generated 1,000-package lockfile (goal ≤ 1 s), next to the time to load the database. The database is the
// two real lodash records plus 20,000 SYNTHETIC records (made up here, one file each, as osv.dev's export lays them
// out) spread over 5,000 package names of which 1,000 are the project's, so matching has real work to do; osv.dev's
// npm export is of this order once malware (MAL-) records are left aside.

const PACKAGES = 1_000;
const RECORDS = 20_000;

function name(i: number): string {
  return i === 17 ? 'lodash' : `pkg-${String(i)}`;
}

function syntheticRecord(i: number): Record<string, unknown> {
  const pkg = name((i * 7919) % (PACKAGES * 5));
  return {
    schema_version: '1.6.0',
    id: `SYNTH-${String(i).padStart(6, '0')}`,
    modified: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
    aliases: [`CVE-2099-${String(i)}`],
    severity: i % 2 === 0 ? [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H' }] : [],
    affected: [{ package: { ecosystem: 'npm', name: pkg }, ranges: [{ type: 'SEMVER', events: [{ introduced: `1.${String(i % 25)}.0` }, { fixed: `1.${String(i % 25)}.3` }] }] }],
    database_specific: { severity: 'MODERATE' },
  };
}

function best(times: number[]): number {
  return Math.min(...times);
}

export default async function (report: Report): Promise<void> {
  const dir = tempDir('vouch-bench-sca-');
  try {
    const osv = join(dir, 'osv');
    mkdirSync(join(osv, 'npm'), { recursive: true });
    for (const f of ['GHSA-35jh-r3h4-6jhm.json', 'GHSA-p6mc-m468-83gw.json']) copyFileSync(join(SHARED, 'fixtures', 'osv', 'npm', f), join(osv, 'npm', f));
    for (let i = 0; i < RECORDS; i++) writeFileSync(join(osv, 'npm', `SYNTH-${String(i)}.json`), JSON.stringify(syntheticRecord(i)));
    const lockPath = writeLockfile(dir, generatedProject(PACKAGES, name));

    const loads: number[] = [];
    let db = loadOsvDatabase(osv);
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      db = loadOsvDatabase(osv);
      loads.push(performance.now() - t);
    }
    report.row('sca', `load OSV database (${String(db.records)} records)`, best(loads), 'ms', 'once per scan; grows with the database');

    const sbomPath = join(dir, 'sbom.json');
    const sboms: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await writeSbom(readLockfile(lockPath), sbomPath);
      sboms.push(performance.now() - t);
    }
    report.row('sca', `sbom: ${String(PACKAGES)}-package lockfile → validated CycloneDX`, best(sboms), 'ms', 'first run compiles the schema');

    const scans: number[] = [];
    let findings = 0;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const sbom = await readSbom(sbomPath, { validate: true });
      const r = scan({ sbom, db, policy: { ...defaultScaPolicy, licenses: { deny: ['GPL-3.0-only'] } }, now: new Date() });
      scans.push(performance.now() - t);
      findings = r.vulnerabilities.length;
    }
    report.row('sca', `sca: ${String(PACKAGES)} packages (validate SBOM, match, licenses; ${String(findings)} findings)`, best(scans), 'ms', 'goal ≤ 1,000 ms, database loaded');
    report.row('sca', `sca + database load`, best(scans) + best(loads), 'ms');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

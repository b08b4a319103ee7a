// Stage `sca`: the sbom stage's SBOM against an OSV database on disk (no network at scan time), with the license
// and dependency policy of the BASE revision's policy file. Fails on the policy's thresholds (default: any critical or
// high vulnerability, any denied license or package). The report names each finding's package, the chain that pulls
// it in, the advisory and the fix, and says how old and how big the database is; the vulnerability predicate
// (https://in-toto.io/attestation/vulns/v0.1) is written beside it for the sidecar to sign.
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VULNS_V01 } from '../../attest/predicates.ts';
import type { ScaPolicySection } from '../../policy/index.ts';
import { evidence, outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { policyAtBase } from '../git.ts';
import { readSbom, parseSbom } from '../sbom/read.ts';
import { baseSbomJson, insideSource } from '../sbom/index.ts';
import { loadOsvDatabase } from './osv.ts';
import { checkScaPolicy, scan, vulnsPredicate, type ScaPolicy } from './scan.ts';
import type { Severity } from './severity.ts';

/** The policy file's `sca` section as the scan's policy. */
export function scaPolicyFrom(section: ScaPolicySection): ScaPolicy {
  return {
    failOn: section['fail-on'] as Severity[],
    ...(section['max-database-age-days'] > 0 ? { maxDatabaseAgeDays: section['max-database-age-days'] } : {}),
    ignore: section.ignore,
    licenses: {
      ...(section['licenses-allow'].length > 0 ? { allow: section['licenses-allow'] } : {}),
      deny: section['licenses-deny'],
      unknown: section['licenses-unknown'] === 'fail' ? 'fail' : 'warn',
    },
    packages: {
      deny: section['packages-deny'],
      ...(section['packages-allow-new-direct'].length > 0 ? { allowNewDirect: section['packages-allow-new-direct'] } : {}),
    },
  };
}

/**
 * The small, labelled excerpt of real advisories shipped in the repository (data/osv-excerpt/SOURCE.md), used only
 * when no database is configured. It is NOT a vulnerability database, and every use says so loudly.
 */
export const BUNDLED_OSV_EXCERPT = fileURLToPath(new URL('../../../data/osv-excerpt/', import.meta.url)).replace(/\/$/, '');

/** Days after which the database's age is logged as a warning even when the policy sets no bound. */
const STALE_WARNING_DAYS = 7;

async function run(ctx: StageContext): Promise<StageOutcome> {
  const startedOn = new Date();
  const base = ctx.params['base-revision'] || undefined;
  const { policy: filePolicy, source: policySource } = await policyAtBase(ctx.source, base);
  const policy = scaPolicyFrom(filePolicy.sca);
  checkScaPolicy(policy, policySource);

  const sbomPath = insideSource(ctx.source, ctx.params['sbom'] ?? '', 'sbom');
  const sbom = await readSbom(sbomPath, { validate: true });
  const dbParam = ctx.params['osv-database'] ?? '';
  const bundled = dbParam === '';
  const dbDir = bundled ? BUNDLED_OSV_EXCERPT : isAbsolute(dbParam) ? dbParam : resolve(ctx.source, dbParam);
  const db = loadOsvDatabase(dbDir);

  const lockParam = ctx.params['lockfile'] ?? 'package-lock.json';
  let baseSbom;
  if (base !== undefined) {
    const json = await baseSbomJson(ctx.source, base, lockParam);
    baseSbom = parseSbom(`${base}:${lockParam}`, json === undefined ? { bomFormat: 'CycloneDX', components: [] } : JSON.parse(json));
  }
  const report = scan({ sbom, db, policy, now: ctx.now, ...(baseSbom === undefined ? {} : { base: baseSbom }) });
  const age = report.database.ageDays;
  const dbLine = `OSV database ${dbDir}: ${String(db.records)} records, newest modified ${db.newestModified ?? 'never'}${age === undefined ? '' : ` (${age.toFixed(1)} days old)`}`;
  if (age === undefined || age > STALE_WARNING_DAYS) ctx.log.warn({ records: db.records, newestModified: db.newestModified, ageDays: age }, `${dbLine}: advisories published since are not known to this scan`);
  else ctx.log.info({ records: db.records, ageDays: age }, dbLine);
  const excerptLine = `WARNING: no OSV database configured (--osv-database / the osv-database workspace): scanned against the BUNDLED EXCERPT of ${String(db.records)} advisories${age === undefined ? '' : `, ${age.toFixed(0)} days old`}. It is NOT a vulnerability database: almost every known vulnerability is missing from it. Fill a real one with vouch osv sync.`;
  if (bundled) ctx.log.warn({ records: db.records, newestModified: db.newestModified, ageDays: age, dir: dbDir }, excerptLine);

  // an empty database (an unfilled volume, a sync that wrote nothing) finds nothing because it knows nothing
  const emptyLine = db.records === 0 ? `WARNING: the OSV database ${dbDir} holds no advisories: this scan could not find any vulnerability. Fill it with vouch osv sync.` : undefined;
  if (emptyLine) ctx.log.warn({ dir: dbDir }, emptyLine);

  const failing = report.vulnerabilities.filter((v) => v.failing).length + report.licenses.filter((l) => l.failing).length + report.packages.length;
  // scanning against the excerpt or an empty database is never a clean SUCCESS: each counts as a warning
  const warnings = report.vulnerabilities.filter((v) => !v.failing && !v.ignored).length + report.licenses.filter((l) => !l.failing).length + (bundled ? 1 : 0) + (emptyLine ? 1 : 0);
  const predicate = vulnsPredicate(report, { uri: 'pkg:github/vouch-dev/vouch', version: '0.1.0', dbUri: `file://${dbDir}` }, { startedOn, finishedOn: new Date() });
  evidence(ctx, 'VULNS_EVIDENCE', VULNS_V01, predicate, { file: 'vulns-predicate.json' });
  return {
    results: {
      TEST_OUTPUT: testOutput({
        result: outcomeOf({ failures: failing, warnings }),
        namespace: 'sca',
        // components with no finding at all
        successes: report.components - new Set([...report.vulnerabilities, ...report.licenses, ...report.packages].map((f) => `${f.package}@${f.version ?? ''}`)).size,
        failures: failing,
        warnings,
        note: `${bundled ? `${excerptLine} ` : ''}${emptyLine ? `${emptyLine} ` : ''}${String(report.vulnerabilities.length)} vulnerabilities in ${String(report.components)} components; ${dbLine}`.slice(0, 1000),
        timestamp: ctx.now,
      }),
      findings: String(report.vulnerabilities.length + report.licenses.length + report.packages.length),
    },
    gate: { passed: report.verdict === 'pass', reasons: [...(bundled ? [excerptLine] : []), ...(emptyLine ? [emptyLine] : []), ...report.reasons, dbLine] },
    files: {
      'sca.json': JSON.stringify({ ...report, database: { ...report.database, bundledExcerpt: bundled } }, null, 2) + '\n',
    },
    report: { policy: policySource, sbom: sbomPath.slice(ctx.source.length + 1), database: { ...report.database, bundledExcerpt: bundled }, summary: { components: report.components, scanned: report.scanned, vulnerabilities: report.vulnerabilities.length, licenses: report.licenses.length, packages: report.packages.length } },
  };
}

export const scaStage: Stage = {
  name: 'sca',
  description: 'known vulnerabilities (OSV database on disk), licenses and dependency policy of the SBOM',
  params: [
    { name: 'osv-database', description: 'OSV export directory (<dir>/<Ecosystem>/<id>.json), absolute or relative to the source workspace; empty: the bundled excerpt of 2 advisories, with a loud warning (data/osv-excerpt/SOURCE.md)', default: '' },
    { name: 'sbom', description: 'the CycloneDX SBOM, relative to the source workspace', default: '.vouch/reports/sbom/sbom.cdx.json' },
    { name: 'base-revision', description: 'the base commit: its policy file applies, and packages new since it are flagged; empty for none', default: '' },
    { name: 'lockfile', description: 'package-lock.json relative to the source workspace (read at the base revision)', default: 'package-lock.json' },
  ],
  results: [
    { name: 'TEST_OUTPUT', description: 'Verdict in the Konflux TEST_OUTPUT convention' },
    { name: 'findings', description: 'Number of vulnerability, license and package findings' },
    { name: 'VULNS_EVIDENCE', description: 'the vulnerability predicate for the sidecar: {predicateType, uri, digest} of vulns-predicate.json' },
  ],
  run,
};

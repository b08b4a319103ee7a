// The sca stage's judgement: every SBOM component matched against the OSV database, every license against the
// license policy, every package against the deny-list (and, given the base revision's SBOM, new direct dependencies
// against the allow-list). The report names, per finding, the package, the chain that pulls it in, the advisory and
// its aliases, the severity and the version that fixes it, and states how old the database is.
import semver from 'semver';
import { VouchError } from '../../common/errors.ts';
import { dependencyPaths } from '../sbom/read.ts';
import type { Sbom, SbomComponent } from '../sbom/read.ts';
import { diffSboms } from '../sbom/diff.ts';
import { databaseAgeDays } from './osv.ts';
import type { OsvDatabase } from './osv.ts';
import { fixedVersion, isAffected } from './range.ts';
import { checkLicensePolicy, judgeLicenses } from './licenses.ts';
import type { LicensePolicy } from './licenses.ts';
import { SEVERITIES, recordSeverity } from './severity.ts';
import type { ScoredSeverity, Severity } from './severity.ts';

export interface ScaPolicy {
  /** severities that fail the stage (default: critical and high); `unknown` is a valid entry */
  failOn: Severity[];
  /** fail when the newest advisory in the database is older than this */
  maxDatabaseAgeDays?: number;
  /** advisory ids or aliases accepted as not applying */
  ignore: string[];
  licenses: LicensePolicy;
  packages: {
    /** `name` or `name@semver-range`; deny wins over everything */
    deny: string[];
    /** when set (and a base SBOM is given), a new direct dependency must be on this list */
    allowNewDirect?: string[];
  };
}

export const defaultScaPolicy: ScaPolicy = { failOn: ['critical', 'high'], ignore: [], licenses: {}, packages: { deny: [] } };

/** OSV ecosystem of a purl type (https://ossf.github.io/osv-schema/#affectedpackage-field). */
const ECOSYSTEM_OF_PURL: Record<string, string> = { npm: 'npm', pypi: 'PyPI', cargo: 'crates.io', golang: 'Go', maven: 'Maven', gem: 'RubyGems', nuget: 'NuGet', composer: 'Packagist', pub: 'Pub', hex: 'Hex' };

export interface VulnerabilityFinding {
  package: string;
  version: string;
  purl: string | undefined;
  /** chain of name@version from a direct dependency of the project down to this package */
  path: string[];
  id: string;
  aliases: string[];
  summary: string | undefined;
  severity: Severity;
  severities: ScoredSeverity[];
  /** lowest version that fixes it, if the record names one */
  fixed: string | undefined;
  modified: string;
  ignored: boolean;
  failing: boolean;
  /** the package appeared in this change (only with a base SBOM) */
  new?: boolean;
}

export interface LicenseFinding {
  package: string;
  version: string | undefined;
  path: string[];
  status: 'denied' | 'unknown';
  expression: string | undefined;
  reason: string;
  failing: boolean;
}

export interface PackageFinding {
  package: string;
  version: string | undefined;
  path: string[];
  rule: 'deny' | 'new-direct-not-allowed';
  reason: string;
  failing: true;
}

export interface ScaReport {
  verdict: 'pass' | 'fail';
  /** one line per reason the stage fails */
  reasons: string[];
  database: { dir: string; records: number; withdrawn: number; ecosystems: string[]; newestModified: string | undefined; ageDays: number | undefined };
  components: number;
  /** components whose ecosystem the database covers */
  scanned: number;
  vulnerabilities: VulnerabilityFinding[];
  licenses: LicenseFinding[];
  packages: PackageFinding[];
  /** with a base SBOM: package names this change adds */
  added?: string[];
}

export function checkScaPolicy(policy: ScaPolicy, source: string): void {
  for (const s of policy.failOn) {
    if (s !== 'unknown' && !(SEVERITIES as readonly string[]).includes(s)) throw new VouchError('SCA_POLICY_INVALID', `${source}: failOn entry ${JSON.stringify(s)} is not a severity (${SEVERITIES.join(', ')}, unknown)`, { details: { source } });
  }
  checkLicensePolicy(policy.licenses, source);
  for (const entry of policy.packages.deny) {
    const { range } = splitDenyEntry(entry);
    if (range !== undefined && semver.validRange(range) === null) throw new VouchError('SCA_POLICY_INVALID', `${source}: packages.deny entry ${JSON.stringify(entry)} has no valid semver range`, { details: { source } });
  }
}

function splitDenyEntry(entry: string): { name: string; range: string | undefined } {
  const at = entry.indexOf('@', 1);
  return at === -1 ? { name: entry, range: undefined } : { name: entry.slice(0, at), range: entry.slice(at + 1) };
}

function denied(c: SbomComponent, deny: string[]): string | undefined {
  for (const entry of deny) {
    const { name, range } = splitDenyEntry(entry);
    if (name !== c.name) continue;
    if (range === undefined || (c.version !== undefined && semver.satisfies(c.version, range, { includePrerelease: true }))) return entry;
  }
  return undefined;
}

export interface ScanInput {
  sbom: Sbom;
  db: OsvDatabase;
  policy: ScaPolicy;
  now: Date;
  /** the base revision's SBOM: enables "new" flags and the new-direct-dependency allow-list */
  base?: Sbom;
}

export function scan(input: ScanInput): ScaReport {
  const { sbom, db, policy } = input;
  const paths = dependencyPaths(sbom);
  const pathOf = (c: SbomComponent): string[] => paths.get(c.ref) ?? [`${c.name}@${c.version ?? '?'}`];
  const ignore = new Set(policy.ignore);
  const failOn = new Set(policy.failOn);
  const added = input.base === undefined ? undefined : new Set(diffSboms(input.base, sbom).added.map((a) => a.name));
  const vulnerabilities: VulnerabilityFinding[] = [];
  const licenses: LicenseFinding[] = [];
  const packages: PackageFinding[] = [];
  let scanned = 0;

  for (const c of sbom.components) {
    const ecosystem = c.purlType === undefined ? undefined : ECOSYSTEM_OF_PURL[c.purlType];
    const isNew = added?.has(c.name);
    if (ecosystem !== undefined && db.ecosystems.includes(ecosystem)) scanned++;
    const candidates = ecosystem === undefined || c.version === undefined ? undefined : db.index.get(ecosystem)?.get(c.name);
    for (const record of candidates ?? []) {
      const hits = record.affected.filter((a) => a.package.name === c.name && a.package.ecosystem.split(':')[0] === ecosystem && isAffected(c.version!, a));
      if (hits.length === 0) continue;
      const { severity, sources } = recordSeverity(record, hits.flatMap((h) => h.severity ?? []));
      const fixes = hits.map((h) => fixedVersion(c.version!, h)).filter((f): f is string => f !== undefined);
      const ignored = ignore.has(record.id) || record.aliases.some((a) => ignore.has(a));
      vulnerabilities.push({
        package: c.name,
        version: c.version!,
        purl: c.purl,
        path: pathOf(c),
        id: record.id,
        aliases: record.aliases,
        summary: record.summary,
        severity,
        severities: sources,
        fixed: fixes.sort(semver.compare)[0],
        modified: record.modified,
        ignored,
        failing: !ignored && failOn.has(severity),
        ...(isNew === undefined ? {} : { new: isNew }),
      });
    }
    const verdict = judgeLicenses(c.licenses, policy.licenses);
    if (verdict.status !== 'allowed') {
      licenses.push({
        package: c.name,
        version: c.version,
        path: pathOf(c),
        status: verdict.status,
        expression: verdict.expression,
        reason: verdict.reason,
        failing: verdict.status === 'denied' || policy.licenses.unknown === 'fail',
      });
    }
    const deniedBy = denied(c, policy.packages.deny);
    if (deniedBy !== undefined) packages.push({ package: c.name, version: c.version, path: pathOf(c), rule: 'deny', reason: `denied by packages.deny entry ${deniedBy}`, failing: true });
  }

  if (input.base !== undefined && policy.packages.allowNewDirect !== undefined && sbom.rootRef !== undefined) {
    const baseDirect = new Set(directNames(input.base));
    const byRef = new Map(sbom.components.map((c) => [c.ref, c]));
    for (const ref of sbom.dependencies.get(sbom.rootRef) ?? []) {
      const c = byRef.get(ref);
      if (c === undefined || baseDirect.has(c.name) || policy.packages.allowNewDirect.includes(c.name)) continue;
      packages.push({ package: c.name, version: c.version, path: [`${c.name}@${c.version ?? '?'}`], rule: 'new-direct-not-allowed', reason: 'a new direct dependency not on packages.allowNewDirect', failing: true });
    }
  }

  const order = (a: { package: string; version?: string | undefined }, b: { package: string; version?: string | undefined }): number => a.package.localeCompare(b.package) || (a.version ?? '').localeCompare(b.version ?? '');
  vulnerabilities.sort((a, b) => order(a, b) || a.id.localeCompare(b.id));
  licenses.sort(order);
  packages.sort(order);

  const ageDays = databaseAgeDays(db, input.now);
  const reasons: string[] = [];
  for (const v of vulnerabilities) if (v.failing) reasons.push(`${v.package}@${v.version}: ${v.id} (${v.severity})${v.fixed === undefined ? '' : `, fixed in ${v.fixed}`}`);
  for (const l of licenses) if (l.failing) reasons.push(`${l.package}@${l.version ?? '?'}: license ${l.expression ?? '(none)'}: ${l.reason}`);
  for (const p of packages) reasons.push(`${p.package}@${p.version ?? '?'}: ${p.reason}`);
  if (policy.maxDatabaseAgeDays !== undefined && (ageDays === undefined || ageDays > policy.maxDatabaseAgeDays)) {
    reasons.push(`the vulnerability database is ${ageDays === undefined ? 'empty' : `${ageDays.toFixed(1)} days old`}, more than maxDatabaseAgeDays ${String(policy.maxDatabaseAgeDays)}`);
  }
  return {
    verdict: reasons.length === 0 ? 'pass' : 'fail',
    reasons,
    database: { dir: db.dir, records: db.records, withdrawn: db.withdrawn, ecosystems: db.ecosystems, newestModified: db.newestModified, ageDays },
    components: sbom.components.length,
    scanned,
    vulnerabilities,
    licenses,
    packages,
    ...(added === undefined ? {} : { added: [...added].sort() }),
  };
}

function directNames(sbom: Sbom): string[] {
  if (sbom.rootRef === undefined) return [];
  const byRef = new Map(sbom.components.map((c) => [c.ref, c.name]));
  return (sbom.dependencies.get(sbom.rootRef) ?? []).map((r) => byRef.get(r) ?? r);
}

/**
 * The predicate of an in-toto vulnerability attestation (https://in-toto.io/attestation/vulns/v0.1), field names as
 * the predicate's spec lists them (scanner.uri/version, scanner.db.lastUpdate, scanner.result[].vulnerability.{id,
 * severity[{method,score}], annotations}, metadata.scanStartedOn/scanFinishedOn). Ignored findings are left out.
 */
export function vulnsPredicate(report: ScaReport, scanner: { uri: string; version: string; dbUri: string }, times: { startedOn: Date; finishedOn: Date }): Record<string, unknown> {
  return {
    scanner: {
      uri: scanner.uri,
      version: scanner.version,
      db: {
        uri: scanner.dbUri,
        version: `${String(report.database.records)} records`,
        ...(report.database.newestModified === undefined ? {} : { lastUpdate: new Date(report.database.newestModified).toISOString() }),
      },
      result: report.vulnerabilities
        .filter((v) => !v.ignored)
        .map((v) => ({
          vulnerability: {
            id: v.id,
            severity: [
              { method: 'severity', score: v.severity },
              ...v.severities.map((s) => ({ method: s.method === 'database' ? 'database_specific' : s.method, score: s.score === undefined ? s.vector : `${s.score.toFixed(1)} ${s.vector}` })),
            ],
            annotations: [{ package: v.package, version: v.version, ...(v.purl === undefined ? {} : { purl: v.purl }), path: v.path, aliases: v.aliases, ...(v.fixed === undefined ? {} : { fixed: v.fixed }) }],
          },
        })),
    },
    metadata: { scanStartedOn: times.startedOn.toISOString(), scanFinishedOn: times.finishedOn.toISOString() },
  };
}

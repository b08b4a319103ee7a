// OSV's `affected` semantics (https://ossf.github.io/osv-schema/#evaluation): a version is affected when it is listed
// in `versions[]`, or when a SEMVER/ECOSYSTEM range's events, walked in version order, leave it affected:
// `introduced` turns it on ("0" = from the very first version), `fixed` turns it off (the fixed version is clean),
// a version above `last_affected` is clean; a version at or above the range's `limit` is outside the range.
// npm versions are SemVer, so npm's ECOSYSTEM order is SemVer order (build metadata ignored).
import semver from 'semver';

export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  type: string;
  events: OsvEvent[];
}

export interface OsvAffected {
  ranges?: OsvRange[];
  versions?: string[];
}

function eventVersion(e: OsvEvent): string {
  return e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '';
}

/** compare with "0" as the lowest version of all; undefined when a version is not SemVer */
function compare(a: string, b: string): number | undefined {
  if (a === '0' || b === '0') return a === b ? 0 : a === '0' ? -1 : 1;
  const pa = semver.parse(a);
  const pb = semver.parse(b);
  if (pa === null || pb === null) return undefined;
  return pa.compare(pb);
}

/** Whether `version` lies in one SEMVER/ECOSYSTEM range. Unparseable event versions are ignored. */
export function inRange(version: string, range: OsvRange): boolean {
  if (semver.parse(version) === null) return false;
  const usable = (e: OsvEvent): boolean => e.limit === '*' || eventVersion(e) === '0' || semver.parse(eventVersion(e)) !== null;
  const events = range.events.filter(usable);
  for (const e of events) if (e.limit !== undefined && e.limit !== '*' && compare(version, e.limit)! >= 0) return false;
  const ordered = events
    .filter((e) => e.limit === undefined)
    .map((e, i) => ({ e, i }))
    // equal versions keep their order in the record, so introduced-then-fixed at one version means "not affected"
    .sort((x, y) => compare(eventVersion(x.e), eventVersion(y.e))! || x.i - y.i);
  let affected = false;
  for (const { e } of ordered) {
    if (e.introduced !== undefined) {
      if (compare(version, e.introduced)! >= 0) affected = true;
    } else if (e.fixed !== undefined) {
      if (compare(version, e.fixed)! >= 0) affected = false;
    } else if (e.last_affected !== undefined) {
      if (compare(version, e.last_affected)! > 0) affected = false;
    }
  }
  return affected;
}

/** OSV's IsAffected for one `affected[]` entry (the package name already matched). */
export function isAffected(version: string, affected: OsvAffected): boolean {
  if (affected.versions?.includes(version) === true) return true;
  for (const range of affected.ranges ?? []) {
    if ((range.type === 'SEMVER' || range.type === 'ECOSYSTEM') && inRange(version, range)) return true;
  }
  return false;
}

/** The lowest `fixed` version above `version` in the entry's ranges: what to upgrade to. */
export function fixedVersion(version: string, affected: OsvAffected): string | undefined {
  let best: string | undefined;
  for (const range of affected.ranges ?? []) {
    if (range.type !== 'SEMVER' && range.type !== 'ECOSYSTEM') continue;
    for (const e of range.events) {
      if (e.fixed === undefined || semver.parse(e.fixed) === null || semver.parse(version) === null) continue;
      if (semver.compare(e.fixed, version) > 0 && (best === undefined || semver.compare(e.fixed, best) < 0)) best = e.fixed;
    }
  }
  return best;
}

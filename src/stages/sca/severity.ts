// A record's severity: CVSS vectors scored with ae-cvss-calculator (FIRST's v2, v3.0, v3.1 and v4.0 formulas), and
// the database's own rating (GitHub's database_specific.severity). The finding's severity is the highest of them, so a
// record cannot look milder than any of its sources says.
import cvss from 'ae-cvss-calculator';
import type { OsvRecord, OsvSeverity } from './osv.ts';

// a CommonJS bundle whose named exports Node cannot detect statically
const { Cvss2, Cvss3P0, Cvss3P1, Cvss4P0 } = cvss;

export const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number] | 'unknown';

export interface ScoredSeverity {
  /** CVSS_V3, CVSS_V4, … or `database` */
  method: string;
  /** the vector, or the database's word */
  vector: string;
  /** CVSS base score, when there is one */
  score: number | undefined;
  rating: Severity;
}

/** FIRST's qualitative rating scale (CVSS v3.1 §5, v4.0 the same). */
export function rating(score: number): Severity {
  if (score === 0) return 'none';
  if (score < 4) return 'low';
  if (score < 7) return 'medium';
  if (score < 9) return 'high';
  return 'critical';
}

const BASE_METRICS: [RegExp, string[]][] = [
  [/^CVSS:4\.0\//, ['AV', 'AC', 'AT', 'PR', 'UI', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA']],
  [/^CVSS:3\.[01]\//, ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A']],
  [/^/, ['AV', 'AC', 'Au', 'C', 'I', 'A']],
];

/** A vector lacking a base metric would be scored with made-up defaults: refuse it instead. */
function hasBaseMetrics(vector: string): boolean {
  const present = new Set(vector.split('/').map((part) => part.split(':')[0]));
  const required = BASE_METRICS.find(([re]) => re.test(vector))![1];
  return required.every((m) => present.has(m));
}

/** The base score of a CVSS vector, or undefined when the vector does not parse. */
export function cvssBaseScore(type: string, vector: string): number | undefined {
  if (!hasBaseMetrics(vector)) return undefined;
  try {
    let base: number | undefined;
    if (type === 'CVSS_V4' || vector.startsWith('CVSS:4.0/')) base = new Cvss4P0(vector).calculateScores().base;
    else if (vector.startsWith('CVSS:3.1/')) base = new Cvss3P1(vector).calculateScores().base;
    else if (vector.startsWith('CVSS:3.0/')) base = new Cvss3P0(vector).calculateScores().base;
    else if (type === 'CVSS_V2') base = new Cvss2(vector).calculateScores().base;
    return typeof base === 'number' && Number.isFinite(base) ? base : undefined;
  } catch {
    return undefined;
  }
}

function scoreOne(s: OsvSeverity): ScoredSeverity {
  const score = cvssBaseScore(s.type, s.score);
  return { method: s.type, vector: s.score, score, rating: score === undefined ? 'unknown' : rating(score) };
}

const DATABASE_WORDS: Record<string, Severity> = { LOW: 'low', MODERATE: 'medium', MEDIUM: 'medium', HIGH: 'high', CRITICAL: 'critical' };

export function rank(s: Severity): number {
  return s === 'unknown' ? -1 : SEVERITIES.indexOf(s);
}

/** Every severity the record states for this package, and the highest of them. */
export function recordSeverity(record: OsvRecord, packageSeverity: OsvSeverity[] = []): { severity: Severity; sources: ScoredSeverity[] } {
  const sources = [...record.severity, ...packageSeverity].map(scoreOne);
  if (record.databaseSeverity !== undefined) {
    sources.push({ method: 'database', vector: record.databaseSeverity, score: undefined, rating: DATABASE_WORDS[record.databaseSeverity.toUpperCase()] ?? 'unknown' });
  }
  let severity: Severity = 'unknown';
  for (const s of sources) if (rank(s.rating) > rank(severity)) severity = s.rating;
  return { severity, sources };
}

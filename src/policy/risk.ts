// Risk classification (docs/risk.md): which tier a change is (low, medium, high) and why. Pure: the caller (the
// classify stage) gathers the facts (changed files with line counts, the dependency diff, deleted or skipped tests,
// commits, other stages' verdicts) into a ClassifyInput; the rules come from the BASE revision's policy `risk`
// section. Every rule that fires is a reason; the highest tier of any reason wins. Custom rules are CEL expressions
// over the same input (documented in docs/risk.md); a rule that cannot be evaluated counts as high (fail closed).

import { matchesGlob } from 'node:path';
import { isCelError, parse, run, type CelInput } from '@bufbuild/cel';
import type { SectionSpec } from './file.ts';

export const TIERS = ['low', 'medium', 'high'] as const;
export type Tier = (typeof TIERS)[number];

export function tierRank(t: Tier): number {
  return TIERS.indexOf(t);
}

export function maxTier(a: Tier, b: Tier): Tier {
  return tierRank(a) >= tierRank(b) ? a : b;
}

/**
 * Files that make up the pipeline that judges a change: always high, whatever the policy says (DESIGN.md §4: a change
 * to the judge is judged by the strictest rules). The policy's `pipeline-paths` add to these.
 */
export const BUILTIN_PIPELINE_PATHS: readonly string[] = [
  '.vouch/**',
  'tasks/**',
  'pipelines/**',
  '.tekton/**',
  '.github/workflows/**',
  '.github/actions/**',
  '.gitlab-ci.yml',
  '.ci/**',
  'Jenkinsfile',
  '.circleci/**',
  'azure-pipelines.yml',
  '.buildkite/**',
];

export interface CustomPathRule {
  glob: string;
  tier: Tier;
  reason: string;
}

export interface CelRule {
  id: string;
  tier: Tier;
  /** CEL expression over the classification input; true fires the rule */
  when: string;
  description: string;
}

/** The `risk` section of .vouch/policy.yaml. */
export interface RiskPolicySection {
  /** tier of a changed file no path rule classifies (ordinary code) */
  'default-tier': Tier;
  /** files that alone keep a change low (documentation, comments-only files) */
  'low-paths': string[];
  'auth-paths': string[];
  'deployment-paths': string[];
  'secret-paths': string[];
  /** added to BUILTIN_PIPELINE_PATHS */
  'pipeline-paths': string[];
  'generated-paths': string[];
  'generated-tier': Tier;
  /** manifests whose change is a dependency change (package.json, go.mod, ...) */
  'manifest-paths': string[];
  'lockfile-paths': string[];
  'dependency-tier': Tier;
  'lockfile-only-tier': Tier;
  'test-removal-tier': Tier;
  /** added + deleted lines at or above which a change is at least medium / high; 0 turns the bound off */
  'medium-lines': number;
  'high-lines': number;
  paths: CustomPathRule[];
  rules: CelRule[];
}

function checkGlob(v: string): string | undefined {
  if (v === '' || v.startsWith('/')) return 'must be a relative glob';
  try {
    matchesGlob('x', v);
    return undefined;
  } catch (err) {
    return `not a valid glob: ${(err as Error).message}`;
  }
}

function checkCel(v: string): string | undefined {
  try {
    parse(v);
    return undefined;
  } catch (err) {
    return `not a valid CEL expression: ${(err as Error).message}`;
  }
}

const tierField = (def: Tier, doc: string) => ({ kind: 'string' as const, default: def, oneOf: TIERS, doc });
const globs = (def: string[], doc: string) => ({ kind: 'strings' as const, default: def, doc, check: checkGlob });

export const RISK_SECTION: SectionSpec = {
  'default-tier': tierField('medium', 'tier of a changed file no path rule classifies (ordinary code)'),
  'low-paths': globs(['docs/**', '**/*.md', '**/*.rst', '**/*.txt', '**/*.adoc', 'LICENSE*', 'NOTICE*', 'AUTHORS*', '.gitignore', '.editorconfig'], 'files that alone keep a change low'),
  'auth-paths': globs(['**/auth/**', '**/*auth*.*', '**/authn/**', '**/authz/**', '**/login*', '**/session*', '**/password*', '**/oauth*', '**/crypto/**', '**/*crypto*.*', '**/*cipher*', '**/*jwt*', '**/security/**', '**/permissions/**', '**/rbac/**'], 'authentication, authorization and cryptography code: high'),
  'deployment-paths': globs(['deploy/**', 'k8s/**', 'kubernetes/**', 'helm/**', 'charts/**', 'manifests/**', 'kustomize/**', '**/kustomization.yaml', '**/Dockerfile', '**/Containerfile', '**/docker-compose*.yml', 'terraform/**', '**/*.tf', 'sidecar/**'], 'deployment manifests and infrastructure: high'),
  'secret-paths': globs(['**/*secret*', '**/*.pem', '**/*.key', '**/*.p12', '**/*.pfx', '**/.env', '**/.env.*', '**/credentials*', '**/*vault*', '**/*sops*'], 'secret handling: high'),
  'pipeline-paths': globs([], 'more files of the CI itself (on top of the built-in .vouch/**, tasks/**, pipelines/**, CI configs): high'),
  'generated-paths': globs(['dist/**', 'build/**', '**/*.min.js', '**/*.generated.*', '**/*_pb.js', '**/*_pb.ts', '**/*.pb.go', '**/gen/**', '**/generated/**'], 'generated files (they hide code from review)'),
  'generated-tier': tierField('medium', 'tier of a change to generated files'),
  'manifest-paths': globs(['**/package.json', '**/go.mod', '**/requirements*.txt', '**/pyproject.toml', '**/Cargo.toml', '**/pom.xml', '**/build.gradle*', '**/Gemfile'], 'dependency manifests'),
  'lockfile-paths': globs(['**/package-lock.json', '**/npm-shrinkwrap.json', '**/yarn.lock', '**/pnpm-lock.yaml', '**/go.sum', '**/poetry.lock', '**/Cargo.lock', '**/Gemfile.lock'], 'lockfiles'),
  'dependency-tier': tierField('medium', 'tier of new or upgraded dependencies'),
  'lockfile-only-tier': tierField('medium', 'tier of a lockfile change without a manifest change'),
  'test-removal-tier': tierField('high', 'tier of deleted, newly skipped or newly focused tests'),
  'medium-lines': { kind: 'number', default: 400, integer: true, min: 0, doc: 'changed lines (added + deleted) from which a change is at least medium; 0: off' },
  'high-lines': { kind: 'number', default: 2000, integer: true, min: 0, doc: 'changed lines from which a change is high; 0: off' },
  paths: {
    kind: 'list',
    doc: 'more path rules: a changed file matching glob makes the change at least tier',
    item: {
      glob: { kind: 'string', default: '', required: true, doc: 'glob (path.matchesGlob)', check: checkGlob },
      tier: { ...tierField('medium', 'tier'), required: true },
      reason: { kind: 'string', default: '', doc: 'why, for the reviewer' },
    },
  },
  rules: {
    kind: 'list',
    doc: 'custom rules: a CEL expression over the classification input (docs/risk.md); true makes the change at least tier',
    unique: 'id',
    item: {
      id: { kind: 'string', default: '', required: true, doc: 'rule id', check: (v) => (/^[a-z0-9][a-z0-9-]*$/.test(v) ? undefined : 'must be lower-case letters, digits and -') },
      tier: { ...tierField('medium', 'tier'), required: true },
      when: { kind: 'string', default: '', required: true, doc: 'CEL expression (bool)', check: checkCel },
      description: { kind: 'string', default: '', doc: 'what it catches' },
    },
  },
};

// ---- the input

export interface ChangedFileFacts {
  path: string;
  /** A, M, D, R, C, T as git reports it */
  status: string;
  from?: string;
  additions: number;
  deletions: number;
}

export interface CommitFacts {
  sha: string;
  authorEmail: string;
  committerEmail: string;
  subject: string;
  /** the commit carries the policy's agent trailer */
  agent: boolean;
}

export interface DependencyFacts {
  added: { name: string; versions: string[] }[];
  removed: { name: string; versions: string[] }[];
  changed: { name: string; before: string[]; after: string[] }[];
}

export interface TestFacts {
  deleted: { file: string; name: string }[];
  skipped: { file: string; name: string }[];
  focused: { file: string; name: string }[];
}

export interface ClassifyInput {
  repository: string;
  pullRequest: string;
  /** forge accounts ("<forge>:<login>", lower case) of who requested the change; empty: not known */
  requestedBy: string[];
  baseRevision: string;
  headRevision: string;
  files: ChangedFileFacts[];
  commits: CommitFacts[];
  /** undefined: no lockfile on either side (no dependency signal) */
  dependencies: DependencyFacts | undefined;
  tests: TestFacts;
  /** other stages' verdicts known at classification time, by stage name */
  stages: Record<string, { passed: boolean; result: string }>;
}

export interface RiskReason {
  rule: string;
  tier: Tier;
  detail: string;
}

export type FileCategory = 'pipeline' | 'auth' | 'deployment' | 'secrets' | 'generated' | 'dependencies' | 'tests' | 'docs' | 'code';

export interface Classification {
  tier: Tier;
  /** highest tier first, then by rule id */
  reasons: RiskReason[];
  /** each changed file's category (the first that applies, in FileCategory order) */
  categories: Record<string, FileCategory>;
  changedLines: number;
}

const TEST_FILE = /(^|\/)(test|tests|__tests__|spec)\/|\.(test|spec)\.[cm]?[jt]sx?$/;

const matchesAny = (path: string, patterns: readonly string[]): boolean => patterns.some((g) => matchesGlob(path, g));

function list(paths: string[]): string {
  const shown = paths.slice(0, 8).join(', ');
  return paths.length > 8 ? `${shown} and ${String(paths.length - 8)} more` : shown;
}

/** The CEL activation: the input with counts as CEL ints (bigint), documented in docs/risk.md. */
export function celInput(input: ClassifyInput, categories: Record<string, FileCategory>): Record<string, CelInput> {
  const additions = input.files.reduce((n, f) => n + f.additions, 0);
  const deletions = input.files.reduce((n, f) => n + f.deletions, 0);
  const deps = input.dependencies ?? { added: [], removed: [], changed: [] };
  return {
    change: {
      repository: input.repository,
      pullRequest: input.pullRequest,
      requestedBy: [...input.requestedBy],
      baseRevision: input.baseRevision,
      headRevision: input.headRevision,
      files: input.files.map((f) => ({ path: f.path, status: f.status, from: f.from ?? '', additions: BigInt(f.additions), deletions: BigInt(f.deletions), category: categories[f.path] ?? 'code' })),
      additions: BigInt(additions),
      deletions: BigInt(deletions),
    },
    commits: input.commits.map((c) => ({ ...c })),
    dependencies: { added: deps.added.map((d) => ({ ...d })), removed: deps.removed.map((d) => ({ ...d })), changed: deps.changed.map((d) => ({ ...d })) },
    tests: { deleted: input.tests.deleted.map((t) => ({ ...t })), skipped: input.tests.skipped.map((t) => ({ ...t })), focused: input.tests.focused.map((t) => ({ ...t })) },
    stages: Object.fromEntries(Object.entries(input.stages).map(([k, v]) => [k, { ...v }])),
  };
}

/** Classifies a change. Never throws on the input: a custom rule that errors is a high reason. */
export function classify(input: ClassifyInput, policy: RiskPolicySection): Classification {
  const reasons: RiskReason[] = [];
  const categories: Record<string, FileCategory> = {};
  const pipeline = [...BUILTIN_PIPELINE_PATHS, ...policy['pipeline-paths']];
  const byCategory = new Map<FileCategory, string[]>();
  for (const f of input.files) {
    // a rename or a deletion is judged by both of its paths: moving auth code out of auth/ is an auth change
    const paths = f.from !== undefined ? [f.path, f.from] : [f.path];
    const hit = (patterns: readonly string[]): boolean => paths.some((p) => matchesAny(p, patterns));
    const category: FileCategory = hit(pipeline)
      ? 'pipeline'
      : hit(policy['auth-paths'])
        ? 'auth'
        : hit(policy['deployment-paths'])
          ? 'deployment'
          : hit(policy['secret-paths'])
            ? 'secrets'
            : hit(policy['generated-paths'])
              ? 'generated'
              : hit(policy['manifest-paths']) || hit(policy['lockfile-paths'])
                ? 'dependencies'
                : paths.some((p) => TEST_FILE.test(p))
                  ? 'tests'
                  : hit(policy['low-paths'])
                    ? 'docs'
                    : 'code';
    categories[f.path] = category;
    byCategory.set(category, [...(byCategory.get(category) ?? []), f.path]);
    for (const rule of policy.paths) {
      if (hit([rule.glob])) reasons.push({ rule: `path/custom:${rule.glob}`, tier: rule.tier, detail: `${f.path}${rule.reason ? `: ${rule.reason}` : ''}` });
    }
  }
  const fileRule: Record<FileCategory, { tier: Tier; what: string }> = {
    pipeline: { tier: 'high', what: 'changes the pipeline, tasks, policy or CI that judge it' },
    auth: { tier: 'high', what: 'authentication, authorization or cryptography code' },
    deployment: { tier: 'high', what: 'deployment manifests or infrastructure' },
    secrets: { tier: 'high', what: 'secret handling' },
    generated: { tier: policy['generated-tier'], what: 'generated files' },
    dependencies: { tier: policy['default-tier'], what: 'dependency manifests or lockfiles' },
    tests: { tier: 'low', what: 'test code' },
    docs: { tier: 'low', what: 'documentation' },
    code: { tier: policy['default-tier'], what: 'code' },
  };
  for (const [category, paths] of byCategory) {
    // the dependency signal below judges manifests and lockfiles by what they change
    if (category === 'dependencies') continue;
    const r = fileRule[category];
    reasons.push({ rule: `path/${category}`, tier: r.tier, detail: `${r.what}: ${list(paths)}` });
  }

  const deps = input.dependencies;
  if (deps) {
    if (deps.added.length) reasons.push({ rule: 'deps/new', tier: policy['dependency-tier'], detail: `new dependencies: ${list(deps.added.map((d) => `${d.name}@${d.versions.join(',')}`))}` });
    if (deps.changed.length) reasons.push({ rule: 'deps/changed', tier: policy['dependency-tier'], detail: `upgraded or changed dependencies: ${list(deps.changed.map((d) => `${d.name} ${d.before.join(',')} -> ${d.after.join(',')}`))}` });
    if (deps.removed.length) reasons.push({ rule: 'deps/removed', tier: 'low', detail: `removed dependencies: ${list(deps.removed.map((d) => d.name))}` });
  }
  const lockfiles = input.files.filter((f) => matchesAny(f.path, policy['lockfile-paths'])).map((f) => f.path);
  const manifests = input.files.filter((f) => matchesAny(f.path, policy['manifest-paths'])).map((f) => f.path);
  if (lockfiles.length > 0 && manifests.length === 0) {
    reasons.push({ rule: 'deps/lockfile-only', tier: policy['lockfile-only-tier'], detail: `lockfile changed without its manifest: ${list(lockfiles)}` });
  } else if (manifests.length > 0 && !(deps && (deps.added.length || deps.changed.length))) {
    reasons.push({ rule: 'deps/manifest', tier: policy['default-tier'], detail: `dependency manifest changed: ${list(manifests)}` });
  }

  const t = input.tests;
  if (t.deleted.length) reasons.push({ rule: 'tests/deleted', tier: policy['test-removal-tier'], detail: `tests deleted: ${list(t.deleted.map((d) => `${d.name} (${d.file})`))}` });
  if (t.skipped.length) reasons.push({ rule: 'tests/skipped', tier: policy['test-removal-tier'], detail: `tests newly skipped: ${list(t.skipped.map((d) => `${d.name} (${d.file})`))}` });
  if (t.focused.length) reasons.push({ rule: 'tests/focused', tier: policy['test-removal-tier'], detail: `tests newly focused with .only (others may not run): ${list(t.focused.map((d) => `${d.name} (${d.file})`))}` });

  const changedLines = input.files.reduce((n, f) => n + f.additions + f.deletions, 0);
  if (policy['high-lines'] > 0 && changedLines >= policy['high-lines']) reasons.push({ rule: 'size/lines', tier: 'high', detail: `${String(changedLines)} changed lines (high from ${String(policy['high-lines'])})` });
  else if (policy['medium-lines'] > 0 && changedLines >= policy['medium-lines']) reasons.push({ rule: 'size/lines', tier: 'medium', detail: `${String(changedLines)} changed lines (medium from ${String(policy['medium-lines'])})` });

  if (policy.rules.length > 0) {
    const activation = celInput(input, categories);
    for (const rule of policy.rules) {
      const result = evalCel(rule.when, activation);
      if (result === true) reasons.push({ rule: `cel/${rule.id}`, tier: rule.tier, detail: rule.description || rule.when });
      else if (result !== false) reasons.push({ rule: `cel/${rule.id}`, tier: 'high', detail: `the rule cannot be evaluated, so the change counts as high: ${result.error}` });
    }
  }

  if (input.files.length === 0) reasons.push({ rule: 'change/empty', tier: 'low', detail: 'the change touches no file' });
  reasons.sort((a, b) => tierRank(b.tier) - tierRank(a.tier) || a.rule.localeCompare(b.rule) || a.detail.localeCompare(b.detail));
  const tier = reasons.reduce<Tier>((t2, r) => maxTier(t2, r.tier), 'low');
  return { tier, reasons, categories, changedLines };
}

/** Evaluates a CEL expression to true/false, or says why it cannot (errors come back as values, and non-bools are errors). */
export function evalCel(expression: string, activation: Record<string, CelInput>): boolean | { error: string } {
  let value: unknown;
  try {
    value = run(expression, activation);
  } catch (err) {
    return { error: (err as Error).message };
  }
  if (isCelError(value)) return { error: value.message };
  if (typeof value !== 'boolean') return { error: `the expression gives ${typeof value}, not a bool` };
  return value;
}

// The policy room's public API. The policy file `.vouch/policy.yaml` is read from the base revision by whoever
// judges a change (see src/stages/git.ts policyAtBase) and parsed here; the format is documented in docs/policy.md.
// To add a section (issue 8: risk rules): add its fields to SECTIONS, its typed shape to Policy, and document it.

import parseSpdx from 'spdx-expression-parse';
import { defaultsWith, parsePolicyWith, type SectionSpec } from './file.ts';
import { RISK_SECTION, type RiskPolicySection } from './risk.ts';
import { APPROVALS_SECTION, REVIEWERS_SECTION, type ApprovalsPolicySection, type ReviewersPolicySection } from './approvals.ts';

export { POLICY_PATH, parsePolicyWith, type FieldSpec, type SectionSpec } from './file.ts';
export * from './risk.ts';
export * from './approvals.ts';
export * from './brief.ts';

export type SignerRole = 'human' | 'agent';

export interface AllowedSigner {
  /** the identity git reports as the signer (%GS): an e-mail or a name */
  principal: string;
  /** SSH public key as in an authorized_keys/allowed_signers line: "ssh-ed25519 AAAA..." */
  key: string;
  role: SignerRole;
}

export interface GpgSigner {
  principal: string;
  /** ASCII-armored OpenPGP public key block; every (sub)key fingerprint in it counts as this signer */
  'public-key': string;
  role: SignerRole;
}

export interface ClonePolicy {
  'require-signed-head': boolean;
  'allowed-signers': AllowedSigner[];
  /** trailer key marking a commit an agent made */
  'gpg-signers': GpgSigner[];
  'agent-trailer': string;
}

export interface SecretPattern {
  id: string;
  regex: string;
  description: string;
}

export interface SecretsPolicy {
  patterns: SecretPattern[];
  /** glob patterns (path.matchesGlob) of files whose added lines are not scanned */
  'allow-paths': string[];
}

/** Vulnerability, license and dependency policy of the sca stage (src/stages/sca). */
export interface ScaPolicySection {
  /** severities that fail the gate: critical, high, medium, low, none, unknown */
  'fail-on': string[];
  /** fail when the newest advisory in the database is older than this many days; 0: no bound */
  'max-database-age-days': number;
  /** advisory ids or aliases accepted as not applying */
  ignore: string[];
  /** SPDX license ids; when not empty, a license outside it fails */
  'licenses-allow': string[];
  /** SPDX license ids; deny wins over allow */
  'licenses-deny': string[];
  /** a missing or non-SPDX license: fail or warn */
  'licenses-unknown': string;
  /** `name` or `name@semver-range`; deny wins over everything */
  'packages-deny': string[];
  /** when not empty, a direct dependency the change adds must be on it */
  'packages-allow-new-direct': string[];
}

/** How the test stage runs the project's tests and reads their results (src/stages/test). */
export interface TestPolicySection {
  /** shell command (sh -c) run in the source workspace; empty: the Task's `command` param must give one */
  command: string;
  /** report files the command writes (relative to the workspace); empty: its stdout is read as TAP */
  reports: string[];
  /** format of the report files: junit, tap, or auto (by content) */
  format: string;
  /** a test the change deletes does not fail the gate */
  'allow-deleted-tests': boolean;
  /** a test the change marks skipped does not fail the gate */
  'allow-skipped-tests': boolean;
  /** the command is stopped after this many seconds */
  'timeout-seconds': number;
}

/** Gate of the lint stage (src/stages/lint). */
export interface LintPolicySection {
  /** which error-level findings fail: those on lines the change added, all of them, or none (report only) */
  gate: 'touched-lines' | 'all' | 'none';
  /** warning-level findings fail too (where `gate` says errors would) */
  'fail-on-warnings': boolean;
  /** run `tsc --noEmit` when the repository has a tsconfig.json */
  typecheck: boolean;
}

/** Mutation testing of the changed source files (src/stages/mutation). */
export interface MutationPolicySection {
  /** run Stryker on the changed source files */
  enabled: boolean;
  /** shell command (sh -c) that runs the tests; empty: test.command */
  command: string;
  /** lowest mutation score (percent of valid mutants killed) that passes */
  threshold: number;
  /** which changed files are mutated: every line of them, or only the lines the change added */
  scope: 'files' | 'touched-lines';
  /** globs (path.matchesGlob) of changed files that are mutated */
  include: string[];
  /** globs of changed files never mutated (tests, configuration) */
  exclude: string[];
  /** Stryker's test runner processes */
  concurrency: number;
  /** Stryker (with every test command it started) is stopped after this many seconds */
  'timeout-seconds': number;
}

/** A fuzz target: an exported function of the repository, given generated input; throwing or returning false is a crash. */
export interface FuzzTarget {
  name: string;
  /** module file, relative to the repository root */
  module: string;
  /** name of the exported function */
  function: string;
  /** what the function is given: bytes (a Buffer), string, or json (any JSON value) */
  input: 'bytes' | 'string' | 'json';
}

/** Property-based fuzzing with fast-check (src/stages/mutation/fuzz.ts). */
export interface FuzzPolicySection {
  targets: FuzzTarget[];
  /** generated inputs per target */
  runs: number;
  /** time bound per target, shrinking included */
  'timeout-seconds': number;
}

/** The reproducible build of the build stage (src/stages/build): what to build and what it outputs. */
export interface BuildPolicySection {
  /** shell command (sh -c) run twice, each time in a fresh copy of the head tree; empty: no build */
  command: string;
  /** globs (relative to the tree) of the files the build writes; every match is compared; the first glob's single match is the artifact */
  outputs: string[];
  /** Containerfile (relative to the tree) built with buildah after the command; empty: no image */
  containerfile: string;
  /** build context of the image, relative to the tree */
  context: string;
  /** each build (and each image build) is stopped after this many seconds */
  'timeout-seconds': number;
}

export interface Policy {
  clone: ClonePolicy;
  secrets: SecretsPolicy;
  sca: ScaPolicySection;
  lint: LintPolicySection;
  test: TestPolicySection;
  mutation: MutationPolicySection;
  fuzz: FuzzPolicySection;
  build: BuildPolicySection;
  risk: RiskPolicySection;
  reviewers: ReviewersPolicySection;
  approvals: ApprovalsPolicySection;
}

const SSH_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/;

function checkRegex(v: string): string | undefined {
  try {
    new RegExp(v, 'g');
    return undefined;
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
}

function checkGlob(v: string): string | undefined {
  return v !== '' && !v.startsWith('/') && !v.split('/').includes('..') ? undefined : 'must be a relative glob inside the repository';
}

function checkRelativePath(v: string): string | undefined {
  return v !== '' && !v.startsWith('/') && !v.split('/').includes('..') && !v.includes('\\') ? undefined : 'must be a relative path inside the repository';
}

const SEVERITY_WORDS = ['critical', 'high', 'medium', 'low', 'none', 'unknown'];

function checkSpdxId(v: string): string | undefined {
  try {
    return 'license' in parseSpdx(v) ? undefined : 'must be one SPDX license id, not an expression';
  } catch {
    return 'is not an SPDX license id (https://spdx.org/licenses/)';
  }
}

export const SECTIONS: Record<string, SectionSpec> = {
  clone: {
    'require-signed-head': { kind: 'boolean', default: false, doc: 'fail unless the head commit has a good signature by a human signer' },
    'allowed-signers': {
      kind: 'list',
      doc: 'SSH keys whose signatures are trusted, each with the principal git reports and its role',
      unique: 'principal',
      item: {
        principal: { kind: 'string', default: '', required: true, doc: 'signer identity', check: (v) => (/^[^\s,"]+$/.test(v) ? undefined : 'must be one word without spaces, commas or quotes') },
        key: { kind: 'string', default: '', required: true, doc: 'SSH public key', check: (v) => (SSH_KEY.test(v) ? undefined : 'must be an SSH public key line such as "ssh-ed25519 AAAA..."') },
        role: { kind: 'string', default: 'human', oneOf: ['human', 'agent'], doc: 'human or agent' },
      },
    },
    'gpg-signers': {
      kind: 'list',
      doc: 'OpenPGP public keys whose commit signatures are trusted, each with a principal and its role',
      unique: 'principal',
      item: {
        principal: { kind: 'string', default: '', required: true, doc: 'signer identity', check: (v) => (/^[^\s,"]+$/.test(v) ? undefined : 'must be one word without spaces, commas or quotes') },
        'public-key': {
          kind: 'string',
          default: '',
          required: true,
          doc: 'ASCII-armored public key block',
          check: (v) => (/^-----BEGIN PGP PUBLIC KEY BLOCK-----\n[\s\S]+\n-----END PGP PUBLIC KEY BLOCK-----\s*$/.test(v.trim() + '\n') ? undefined : 'must be an ASCII-armored OpenPGP public key block (gpg --armor --export)'),
        },
        role: { kind: 'string', default: 'human', oneOf: ['human', 'agent'], doc: 'human or agent' },
      },
    },
    'agent-trailer': { kind: 'string', default: 'Agent-Run', doc: 'commit trailer key an agent adds', check: (v) => (/^[A-Za-z0-9-]+$/.test(v) ? undefined : 'must be a trailer key (letters, digits, -)') },
  },
  secrets: {
    patterns: {
      kind: 'list',
      doc: 'extra secret patterns (JavaScript regular expressions) on top of the built-in rules',
      unique: 'id',
      item: {
        id: { kind: 'string', default: '', required: true, doc: 'rule id', check: (v) => (/^[a-z0-9][a-z0-9-]*$/.test(v) ? undefined : 'must be lower-case letters, digits and -') },
        regex: { kind: 'string', default: '', required: true, doc: 'regular expression', check: checkRegex },
        description: { kind: 'string', default: '', doc: 'what it finds' },
      },
    },
    'allow-paths': { kind: 'strings', default: [], doc: 'globs of files not scanned (e.g. test/fixtures/**)' },
  },
  lint: {
    gate: { kind: 'string', default: 'touched-lines', oneOf: ['touched-lines', 'all', 'none'], doc: 'which error-level findings fail: on lines the change added, all, or none' },
    'fail-on-warnings': { kind: 'boolean', default: false, doc: 'warning-level findings fail too' },
    typecheck: { kind: 'boolean', default: true, doc: 'run tsc --noEmit when tsconfig.json exists' },
  },
  sca: {
    'fail-on': { kind: 'strings', default: ['critical', 'high'], doc: 'severities that fail the gate', check: (v) => (SEVERITY_WORDS.includes(v) ? undefined : `must be one of ${SEVERITY_WORDS.join(', ')}`) },
    'max-database-age-days': { kind: 'number', default: 0, min: 0, doc: 'fail when the vulnerability database is older (days); 0: no bound' },
    ignore: { kind: 'strings', default: [], doc: 'advisory ids or aliases accepted as not applying' },
    'licenses-allow': { kind: 'strings', default: [], doc: 'SPDX license ids allowed; empty: any not denied', check: checkSpdxId },
    'licenses-deny': { kind: 'strings', default: [], doc: 'SPDX license ids denied (deny wins)', check: checkSpdxId },
    'licenses-unknown': { kind: 'string', default: 'warn', oneOf: ['warn', 'fail'], doc: 'a missing or non-SPDX license: warn or fail' },
    'packages-deny': { kind: 'strings', default: [], doc: 'packages denied: name or name@semver-range', check: (v) => (/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(@.+)?$/i.test(v) ? undefined : 'must be a package name, optionally @range') },
    'packages-allow-new-direct': { kind: 'strings', default: [], doc: 'when not empty: the only direct dependencies a change may add' },
  },
  test: {
    command: { kind: 'string', default: '', doc: 'test command (sh -c), run in the source workspace' },
    reports: { kind: 'strings', default: [], doc: 'report files the command writes (JUnit XML or TAP); empty: its stdout is TAP', check: (v) => (v !== '' && !v.startsWith('/') && !v.split('/').includes('..') ? undefined : 'must be a relative path inside the workspace') },
    format: { kind: 'string', default: 'auto', oneOf: ['auto', 'junit', 'tap'], doc: 'report format' },
    'allow-deleted-tests': { kind: 'boolean', default: false, doc: 'tests the change deletes do not fail the gate' },
    'allow-skipped-tests': { kind: 'boolean', default: false, doc: 'tests the change marks skipped do not fail the gate' },
    'timeout-seconds': { kind: 'number', default: 1800, integer: true, min: 1, doc: 'the test command is stopped after this long' },
  },
  mutation: {
    enabled: { kind: 'boolean', default: true, doc: 'mutation-test the changed source files' },
    command: { kind: 'string', default: '', doc: 'test command (sh -c) Stryker runs per mutant; empty: test.command' },
    threshold: { kind: 'number', default: 80, min: 0, max: 100, doc: 'lowest mutation score (percent) that passes' },
    scope: { kind: 'string', default: 'files', oneOf: ['files', 'touched-lines'], doc: 'mutate whole changed files or only the lines the change added' },
    include: { kind: 'strings', default: ['**/*.{js,mjs,cjs,jsx,ts,mts,cts,tsx}'], doc: 'globs of changed files that are mutated', check: checkGlob },
    exclude: {
      kind: 'strings',
      default: ['**/*.d.{ts,mts,cts}', '**/{test,tests,__tests__,spec,fuzz}/**', '**/*.{test,spec,fuzz}.*', '**/*.config.*', '**/.*'],
      doc: 'globs of changed files never mutated (tests, fuzz harnesses, configuration)',
      check: checkGlob,
    },
    concurrency: { kind: 'number', default: 2, integer: true, min: 1, max: 64, doc: 'test runner processes' },
    'timeout-seconds': { kind: 'number', default: 1800, integer: true, min: 1, doc: 'Stryker is stopped after this long' },
  },
  fuzz: {
    targets: {
      kind: 'list',
      doc: 'exported functions given generated input; throwing or returning false is a crash',
      unique: 'name',
      item: {
        name: { kind: 'string', default: '', required: true, doc: 'target id', check: (v) => (/^[a-z0-9][a-z0-9-]*$/.test(v) ? undefined : 'must be lower-case letters, digits and -') },
        module: { kind: 'string', default: '', required: true, doc: 'module file relative to the repository root', check: checkRelativePath },
        function: { kind: 'string', default: 'fuzz', doc: 'exported function name', check: (v) => (/^[A-Za-z_$][\w$]*$/.test(v) ? undefined : 'must be a JavaScript identifier') },
        input: { kind: 'string', default: 'bytes', oneOf: ['bytes', 'string', 'json'], doc: 'bytes (Buffer), string or json' },
      },
    },
    runs: { kind: 'number', default: 10000, integer: true, min: 1, doc: 'generated inputs per target' },
    'timeout-seconds': { kind: 'number', default: 60, integer: true, min: 1, doc: 'time bound per target' },
  },
  build: {
    command: { kind: 'string', default: '', doc: 'build command (sh -c), run twice in fresh copies of the head tree' },
    outputs: { kind: 'strings', default: [], doc: 'globs of the files the build writes (the first must match exactly one file: the artifact)', check: relativeInside },
    containerfile: { kind: 'string', default: '', doc: 'Containerfile built with buildah after the command; empty: no image', check: (v) => (v === '' ? undefined : relativeInside(v)) },
    context: { kind: 'string', default: '.', doc: 'image build context', check: (v) => (v === '.' ? undefined : relativeInside(v)) },
    'timeout-seconds': { kind: 'number', default: 1800, integer: true, min: 1, doc: 'each build is stopped after this long' },
  },
  risk: RISK_SECTION,
  reviewers: REVIEWERS_SECTION,
  approvals: APPROVALS_SECTION,
};

function relativeInside(v: string): string | undefined {
  return v !== '' && !v.startsWith('/') && !v.split('/').includes('..') ? undefined : 'must be a relative path inside the tree';
}

/** Parses a policy file's text; `file` names it in errors (e.g. "<commit>:.vouch/policy.yaml"). Throws POLICY_INVALID. */
export function parsePolicy(text: string, file: string): Policy {
  return parsePolicyWith(text, file, SECTIONS) as unknown as Policy;
}

/** The policy when the base revision has no policy file (docs/policy.md). */
export function defaultPolicy(): Policy {
  return defaultsWith(SECTIONS) as unknown as Policy;
}

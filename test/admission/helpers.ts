import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from '../../src/attest/dsse.ts';
import { keyId, publicKeyPem, signBytes } from '../../src/attest/keys.ts';
import { logSignedPayload, signStatement } from '../../src/attest/sign.ts';
import { buildStatement } from '../../src/attest/statement.ts';
import { prepareTrustedRoot, type PreparedTrustedRoot } from '../../src/attest/verify.ts';
import { sha256Hex } from '../../src/common/digest.ts';
import { PREDICATES } from '../../src/policy/admission.ts';
import { LocalStore } from '../../src/store/local.ts';
import type { AttestationStore } from '../../src/store/types.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { EmbeddedLogWitness } from '../../src/tlog/witness.ts';

// A small world for admission tests: an embedded log, the sidecar's key, reviewers' keys, a local store and an
// approvals directory, and functions that sign and store every piece of evidence the vouch pipeline produces.

export const REPO = 'registry.example/acme/app';
export const REPO_URL = 'https://github.com/acme/app';
export const HEAD = 'a'.repeat(40);

export interface World {
  dir: string;
  log: EmbeddedLog;
  otherLog: EmbeddedLog;
  trustedRoot: PreparedTrustedRoot;
  trustedRootJson: unknown;
  sidecarKey: KeyObject;
  sidecarPub: string;
  strangerKey: KeyObject;
  reviewers: Record<'alice' | 'bob' | 'carol', { key: KeyObject; pub: string }>;
  store: LocalStore;
  storeDir: string;
  approvalsDir: string;
  close(): Promise<void>;
}

const ec = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

export async function makeWorld(dir: string): Promise<World> {
  const log = await EmbeddedLog.open(join(dir, 'log'));
  const otherLog = await EmbeddedLog.open(join(dir, 'other-log'));
  const trustedRootJson = trustedRootFor(log);
  const sidecarKey = ec();
  const reviewers = { alice: ec(), bob: ec(), carol: ec() };
  const storeDir = join(dir, 'store');
  const approvalsDir = join(dir, 'approvals');
  mkdirSync(approvalsDir, { recursive: true });
  return {
    dir,
    log,
    otherLog,
    trustedRoot: prepareTrustedRoot(trustedRootJson),
    trustedRootJson,
    sidecarKey,
    sidecarPub: publicKeyPem(sidecarKey),
    strangerKey: ec(),
    reviewers: Object.fromEntries(Object.entries(reviewers).map(([k, v]) => [k, { key: v, pub: publicKeyPem(v) }])) as World['reviewers'],
    store: new LocalStore(storeDir),
    storeDir,
    approvalsDir,
    close: async () => {
      await log.close();
      await otherLog.close();
    },
  };
}

export interface EvidenceOptions {
  digest: string;
  /** default: the world's local store, subject REPO */
  store?: AttestationStore;
  repo?: string;
  /** leave these predicates out */
  omit?: string[];
  /** sign these predicates with this key instead of the sidecar's */
  signWith?: Partial<Record<string, KeyObject>>;
  /** log these predicates in the other (untrusted) log */
  otherLog?: string[];
  /** tamper with the statement of these predicates after signing */
  tamper?: string[];
  testResult?: 'PASSED' | 'FAILED';
  criticalVuln?: boolean;
  tier?: 'low' | 'medium' | 'high';
  /** reviewers who approve (default alice and bob) */
  approvers?: ('alice' | 'bob' | 'carol')[];
  taskFailed?: boolean;
  /** also an agent-run attestation, shaped as the agent-run stage writes it (docs/predicates.md) */
  agentRun?: boolean;
  /** a provenance that lists no classify/RISK_EVIDENCE byproduct */
  noRiskEvidence?: boolean;
  /** who took part in the change, as classify records it in the risk assessment */
  parties?: Parties;
}

/** The risk assessment's `authors`, `agentAuthors` and `requestedBy` (docs/risk.md). */
export interface Parties {
  authors?: string[];
  agentAuthors?: string[];
  requestedBy?: string[];
}

export const RISK_FILE = (tier: string, head = HEAD, parties: Parties = {}): string => `${JSON.stringify({ ...riskPredicate(tier, head), ...parties }, null, 2)}\n`;

/** Each image of the world is built from its own commit, so approvals of one never count for another. */
export const headOf = (digest: string): string => digest.slice(0, 40);

function riskPredicate(tier: string, head: string): Record<string, unknown> {
  return {
    tier,
    reasons: [{ rule: 'touches-auth', tier, detail: 'src/auth changed' }],
    requiredApprovals: tier === 'high' ? { count: 2, groups: { security: 1 } } : tier === 'medium' ? { count: 1, groups: {} } : { count: 0, groups: {} },
    policy: { digest: { sha256: 'b'.repeat(64) }, revision: 'c'.repeat(40) },
    baseRevision: 'c'.repeat(40),
    headRevision: head,
    repository: REPO_URL,
    changedFiles: 3,
  };
}

export function provenancePredicate(opts: { riskSha256: string; head: string; taskFailed?: boolean; builderId?: string; noRiskEvidence?: boolean }): Record<string, unknown> {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');
  return {
    buildDefinition: {
      buildType: 'https://tekton.dev/chains/v2/slsa',
      externalParameters: { runSpec: { pipelineRef: { name: 'agent-pr-verify' } } },
      internalParameters: {},
      resolvedDependencies: [{ uri: `git+${REPO_URL}.git`, digest: { sha1: opts.head }, name: 'inputs/result' }],
    },
    runDetails: {
      builder: { id: opts.builderId ?? 'https://tekton.dev/chains/v2' },
      metadata: { invocationID: 'uid-1', startedOn: '2026-11-24T10:00:00Z', finishedOn: '2026-11-24T10:05:00Z' },
      byproducts: [
        { name: 'pipelineRunResults/run-1/CHAINS-GIT_URL', content: b64(REPO_URL), mediaType: 'application/json' },
        { name: 'pipelineRunResults/run-1/CHAINS-GIT_COMMIT', content: b64(opts.head), mediaType: 'application/json' },
        {
          name: 'taskRunResults/run-1-test/TEST_OUTPUT',
          content: b64(JSON.stringify({ result: opts.taskFailed ? 'FAILURE' : 'SUCCESS', namespace: 'vouch.test', timestamp: '2026-11-24T10:03:00Z', successes: 10, failures: opts.taskFailed ? 1 : 0, warnings: 0 })),
          mediaType: 'application/json',
        },
        ...(opts.noRiskEvidence ? [] : [{ name: 'classify/RISK_EVIDENCE', digest: { sha256: opts.riskSha256 }, uri: 'file:///workspace/.vouch/reports/classify/risk.json', annotations: { predicateType: PREDICATES['risk-assessment'] } }]),
      ],
    },
  };
}

/** Signs and logs a statement (Sigstore bundle v0.3), with a key and a log of the test's choosing. */
export async function signAndLog(statement: unknown, key: KeyObject, log: EmbeddedLog): Promise<Record<string, unknown>> {
  const s = await signStatement({ statement: statement as Parameters<typeof signStatement>[0]['statement'], privateKey: key, witness: new EmbeddedLogWitness(log) });
  return s.json;
}

function agentRunPredicate(head: string): Record<string, unknown> {
  return {
    runId: 'run-7f3a',
    agent: { name: 'scripted-agent', version: '1.0.0', command: ['node', 'hack/agent/scripted-agent.ts'], artifacts: [] },
    model: { requested: 'claude-sonnet-4-5', reported: 'claude-sonnet-4-5' },
    prompt: { digest: { sha256: 'b'.repeat(64) }, version: 'v3', source: 'param' },
    sandbox: { runtime: 'bubblewrap', network: { mode: 'egress-proxy', allowedHosts: ['api.anthropic.com:443'] } },
    egress: { attempts: 3, allowed: 2, refused: 1, bytesOut: 10, bytesIn: 20, hosts: [] },
    transcript: { name: 'transcript.jsonl', format: 'stream-json', digest: { sha256: 'c'.repeat(64) }, toolCalls: 4 },
    patch: { name: 'agent.patch', digest: { sha256: 'd'.repeat(64) }, bytes: 100, filesChanged: 1 },
    repository: { baseCommit: 'e'.repeat(40), branch: 'agent/run-7f3a', commit: head },
    outcome: 'committed',
  };
}

/** Puts the pipeline's evidence for a digest in the store, with the defects the options ask for. */
export async function putEvidence(w: World, o: EvidenceOptions): Promise<void> {
  const tier = o.tier ?? 'high';
  const head = headOf(o.digest);
  const riskFile = RISK_FILE(tier, head, o.parties);
  const riskSha = sha256Hex(riskFile);
  const predicates: Record<string, unknown> = {
    [PREDICATES.provenance]: provenancePredicate({ riskSha256: riskSha, head, ...(o.taskFailed ? { taskFailed: true } : {}), ...(o.noRiskEvidence ? { noRiskEvidence: true } : {}) }),
    [PREDICATES['test-result']]: { result: o.testResult ?? 'PASSED', configuration: [], passedTests: ['a', 'b'], warnedTests: [], failedTests: o.testResult === 'FAILED' ? ['auth rejects bad token'] : [] },
    [PREDICATES.sbom]: { bomFormat: 'CycloneDX', specVersion: '1.6', version: 1, components: [] },
    [PREDICATES.vulns]: {
      scanner: {
        uri: 'https://vouch.dev/sca',
        version: '0.1.0',
        db: { uri: 'osv', version: '10 records' },
        result: o.criticalVuln ? [{ vulnerability: { id: 'GHSA-xxxx-yyyy-zzzz', severity: [{ method: 'severity', score: 'critical' }], annotations: [] } }] : [],
      },
      metadata: { scanStartedOn: '2026-11-24T10:00:00Z', scanFinishedOn: '2026-11-24T10:01:00Z' },
    },
    [PREDICATES['risk-assessment']]: JSON.parse(riskFile) as unknown,
    ...(o.agentRun ? { [PREDICATES['agent-run']]: agentRunPredicate(head) } : {}),
  };
  let n = 0;
  for (const [type, predicate] of Object.entries(predicates)) {
    if (o.omit?.includes(type)) continue;
    const statement = buildStatement({ subjects: [{ name: o.repo ?? REPO, sha256: o.digest }], predicateType: type, predicate: predicate as object });
    const bundle = await signAndLog(statement, o.signWith?.[type] ?? w.sidecarKey, o.otherLog?.includes(type) ? w.otherLog : w.log);
    if (o.tamper?.includes(type)) {
      const env = bundle['dsseEnvelope'] as { payload: string };
      const st = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as { predicate: Record<string, unknown> };
      st.predicate['tampered'] = true;
      env.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    }
    n++;
    await (o.store ?? w.store).put({ subject: { name: o.repo ?? REPO, sha256: o.digest }, predicateType: type, runUid: `run-${String(n)}-${o.digest.slice(0, 8)}`, bundle: bundle as never });
  }
  for (const who of o.approvers ?? ['alice', 'bob']) {
    await putApproval(w, who, { tier, riskSha256: riskSha, commit: head });
  }
}

/** An approval statement (CONTRACTS.md), signed by the reviewer's own key and logged. */
export async function putApproval(w: World, who: 'alice' | 'bob' | 'carol', o: { tier: string; riskSha256: string; commit?: string; decision?: string; key?: KeyObject; sidecarLayout?: boolean }): Promise<void> {
  const commit = o.commit ?? HEAD;
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: REPO_URL, digest: { gitCommit: commit } }],
    predicateType: PREDICATES.approval,
    predicate: {
      decision: o.decision ?? 'approve',
      reviewer: { id: `${who}@example.com`, keyid: keyId(w.reviewers[who].key) },
      repository: REPO_URL,
      pullRequest: '42',
      headCommit: commit,
      pipelineRun: 'ci/run-1',
      riskAssessment: { digest: { sha256: o.riskSha256 }, tier: o.tier },
      timestamp: '2026-11-24T10:10:00Z',
    },
  };
  const key = o.key ?? w.reviewers[who].key;
  const payload = Buffer.from(JSON.stringify(statement));
  const signed = { payload, signature: signBytes(key, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload)) };
  const bundle = await logSignedPayload({ signed, privateKey: key, witness: new EmbeddedLogWitness(w.log) });
  const name = `${who}-${commit.slice(0, 12)}-${o.decision ?? 'approve'}-${keyId(key).slice(0, 8)}.json`;
  if (o.sidecarLayout) {
    // as the sidecar's approvals API keeps them (src/sidecar/approvals.ts): <namespace>/<run>/<file>, {bundle, logEntry}
    const runDir = join(w.approvalsDir, 'ci', 'run-1');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, name), JSON.stringify({ bundle: bundle.json, logEntry: { logIndex: 0, uuid: 'x', url: 'http://localhost' } }));
  } else {
    writeFileSync(join(w.approvalsDir, name), JSON.stringify(bundle.json));
  }
}

/** A policy file for the world: the sidecar's key, alice in security, bob and carol in dev. */
export function policyYaml(w: World, extra = '', images = "['registry.example/**']"): string {
  const indent = (pem: string, n: number): string => pem.trim().split('\n').join(`\n${' '.repeat(n)}`);
  return `apiVersion: vouch.dev/v1alpha1
kind: AdmissionPolicy
metadata:
  name: prod
spec:
  images: ${images}
  keys:
    - name: sidecar
      key: |
        ${indent(w.sidecarPub, 8)}
  require: [provenance, test-result, sbom, vulns, risk-assessment, approvals]
  approvers:
    - id: alice@example.com
      groups: [security]
      accounts: [github:Alice]
      key: |
        ${indent(w.reviewers.alice.pub, 8)}
    - id: bob@example.com
      groups: [dev]
      key: |
        ${indent(w.reviewers.bob.pub, 8)}
    - id: carol@example.com
      groups: [dev]
      key: |
        ${indent(w.reviewers.carol.pub, 8)}
${extra}`;
}

export const digestOf = (label: string): string => sha256Hex(`image ${label}`);

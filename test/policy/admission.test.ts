import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError } from '../../src/common/errors.ts';
import { defaultPolicy, globMatch, judge, keyIdOf, parseAdmissionPolicies, provenanceView, type Evidence, type VerifiedAttestation } from '../../src/policy/admission.ts';
import { SHARED } from '../helpers/cli.ts';
import { parse as parseYaml } from 'yaml';
import { buildProvenance, type PipelineRunLike, type TaskRunLike } from '../../src/attest/provenance.ts';

// The policy part of admission on real Tekton Chains and Konflux attestations (their signatures cannot be checked
// here: shared/fixtures/ec/SOURCE.md), and the policy file's parsing.

const EC = join(SHARED, 'fixtures/ec');
const json = (p: string): { predicateType: string; predicate: unknown; subject: { name: string; digest: { sha256: string } }[] } => JSON.parse(readFileSync(join(EC, p), 'utf8')) as never;
const V02 = json('hacks-01-slsa-v0.2-pipeline-in-cluster/attestation.json');
const V1 = json('hacks-05-slsa-v1.0-tekton-build-type-pipeline-in-cluster/attestation.json');
const KONFLUX_V02 = (JSON.parse(readFileSync(join(EC, 'konflux-golden-container/policy-input-slsa-v0.2.json'), 'utf8')) as { attestations: { statement: typeof V02 }[] }).attestations[0]!.statement;
const KONFLUX_V1 = json('konflux-golden-container/attestation-slsa-v1.0.json');

const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
const pem = pub.export({ type: 'spki', format: 'pem' }).toString();
const KEY_ID = keyIdOf(pub);

function policy(spec: string): ReturnType<typeof parseAdmissionPolicies>[number] {
  const keys = `  keys:\n    - name: chains\n      key: |\n        ${pem.trim().split('\n').join('\n        ')}\n`;
  return parseAdmissionPolicies(`apiVersion: vouch.dev/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: chains}\nspec:\n  images: ['**']\n${keys}${spec}`, 'p.yaml')[0]!;
}

function evidenceOf(st: typeof V02): Evidence {
  const s = st.subject[0]!;
  const att: VerifiedAttestation = { predicateType: st.predicateType, predicate: st.predicate, keyId: KEY_ID, source: 'fixture', payloadSha256: '0'.repeat(64), log: { url: 'https://rekor.example', logIndex: '1', integratedTime: '' } };
  return { image: { ref: `${s.name}@sha256:${s.digest.sha256}`, repository: s.name, digest: s.digest.sha256 }, attestations: [att], approvals: [], rejected: [] };
}
const codes = (v: ReturnType<typeof judge>, outcome: string): string[] => v.rules.filter((r) => r.outcome === outcome).map((r) => r.code);

describe('policy: admission on Chains and Konflux provenance (v0.2 and v1, both buildTypes)', () => {
  it('reads the tasks, their refs (pinned or not), results and source of each format', () => {
    const v02 = provenanceView(V02.predicateType, V02.predicate)!;
    expect(v02.builderId).to.equal('https://tekton.dev/chains/v2');
    expect(v02.tasks.map((t) => [t.name, t.status, t.ref.pinned])).to.deep.equal([
      ['git-clone', 'Succeeded', true],
      ['scan', 'Succeeded', false],
      ['av-scan', 'Succeeded', false],
      ['build', 'Succeeded', true],
    ]);
    expect(v02.source.commit).to.equal('a95a628c6bb3de64fe3a56aea3d367a7fd1628a6');
    const v1 = provenanceView(V1.predicateType, V1.predicate)!;
    expect(v1.buildType).to.equal('https://tekton.dev/chains/v2/slsa-tekton');
    expect(v1.tasks.map((t) => t.name)).to.deep.equal(['git-clone', 'scan', 'av-scan', 'build']);
    expect(v1.results['CHAINS-GIT_COMMIT']).to.equal('18304972d3e4a7621b899da8181b563820bb7861');
    const k = provenanceView(KONFLUX_V02.predicateType, KONFLUX_V02.predicate)!;
    expect(k.tasks).to.have.length(15);
    expect(k.tasks.every((t) => t.ref.pinned && t.ref.uri.startsWith('oci://quay.io/konflux-ci/'))).to.equal(true);
    expect(k.source).to.deep.equal({ repository: 'https://github.com/conforma/golden-container', commit: 'd11c0ada39f18f631ff4f54beafa72a9b62dcd7c' });
    const k1 = provenanceView(KONFLUX_V1.predicateType, KONFLUX_V1.predicate)!;
    expect(k1.tasks.find((t) => t.name === 'clair-scan')!.results).to.have.property('TEST_OUTPUT');
    // the pipeline itself: Konflux's PaC pipeline is inline (not pinned); vouch's from a resolver at a commit is
    expect(k.pipelineRef.pinned).to.equal(false);
    const pinned = provenanceView('https://slsa.dev/provenance/v1', { buildDefinition: { resolvedDependencies: [{ name: 'pipeline', uri: 'git+https://github.com/acme/ci.git', digest: { sha1: 'c'.repeat(40) } }] }, runDetails: {} })!;
    expect(pinned.pipelineRef).to.deep.equal({ uri: `git+https://github.com/acme/ci.git@${'c'.repeat(40)}`, pinned: true });
  });

  it("reads vouch's own provenance (the sidecar's builder, Chains' slsa buildType with deep inspection)", () => {
    const children = (V1.predicate as { buildDefinition: { resolvedDependencies: { name?: string; content?: string }[] } }).buildDefinition.resolvedDependencies
      .filter((rd) => rd.name === 'pipelineTask' && rd.content)
      .map((rd) => {
        const tr = JSON.parse(Buffer.from(rd.content!, 'base64').toString('utf8')) as { status: Record<string, unknown> };
        const { taskResults, ...status } = tr.status;
        return { ...tr, status: { ...status, results: taskResults } } as TaskRunLike;
      });
    const pr = parseYaml(readFileSync(join(EC, 'hacks-05-slsa-v1.0-tekton-build-type-pipeline-in-cluster/pipelinerun.yaml'), 'utf8')) as PipelineRunLike;
    const { statement } = buildProvenance({ pipelineRun: pr, taskRuns: children });
    const view = provenanceView(statement.predicateType, statement.predicate)!;
    expect(view.builderId).to.equal('https://tekton.dev/chains/v2');
    expect(view.buildType).to.equal('https://tekton.dev/chains/v2/slsa');
    expect(view.source.commit).to.equal('18304972d3e4a7621b899da8181b563820bb7861');
    // the slsa buildType names tasks by TaskRun and records their results (not image hints), not their status: the
    // build task's only results are IMAGE_URL/IMAGE_DIGEST, so three of the four tasks appear
    expect(view.tasks.length).to.equal(3);
    expect(view.tasks.some((t) => 'TEST_OUTPUT' in t.results)).to.equal(true);
    expect(view.tasks.every((t) => t.status === '')).to.equal(true);
    const s = (statement.subject as { name: string; digest: { sha256: string } }[])[0]!;
    const v = judge(policy(''), { image: { ref: '', repository: s.name, digest: s.digest.sha256 }, attestations: [{ predicateType: statement.predicateType, predicate: statement.predicate, keyId: KEY_ID, source: 'built', payloadSha256: '0'.repeat(64), log: { url: 'x', logIndex: '0', integratedTime: '' } }], approvals: [], rejected: [] });
    expect(v.allowed, JSON.stringify(v.rules)).to.equal(true);
  });

  it('admits Konflux provenance under a Chains policy with CEL on tasks, source and TEST_OUTPUT', () => {
    const p = policy(`  require: [provenance]
  sources: [{repository: 'https://github.com/conforma/*'}]
  rules:
    - code: tasks.pinned
      description: every task from a digest-pinned bundle
      condition: "provenance.tasks.all(t, t.ref.pinned)"
      fix: pin every task bundle by digest
    - code: tasks.required
      condition: "['clair-scan', 'sast-snyk-check', 'clamav-scan'].all(n, provenance.tasks.exists(t, t.name == n))"
      fix: run the required scans
`);
    const v = judge(p, evidenceOf(KONFLUX_V02));
    expect(codes(v, 'fail'), JSON.stringify(v.rules, null, 1)).to.deep.equal([]);
    expect(codes(v, 'pass')).to.include.members(['signature.verified', 'provenance.present', 'provenance.builder', 'provenance.source', 'gates.passed', 'tasks.pinned', 'tasks.required']);
    expect(v.allowed).to.equal(true);
  });

  it('denies the hacks recordings: an inline and an unpinned cluster task, and a source outside the allowed ones', () => {
    const p = policy(`  sources: [{repository: 'https://github.com/conforma/*'}]
  rules:
    - code: tasks.pinned
      condition: "provenance.tasks.all(t, t.ref.pinned)"
      fix: pin every task
`);
    for (const st of [V02, V1]) {
      const v = judge(p, evidenceOf(st));
      expect(v.allowed).to.equal(false);
      expect(codes(v, 'fail')).to.deep.equal(['provenance.source', 'tasks.pinned']);
      const src = v.rules.find((r) => r.code === 'provenance.source')!;
      expect(src.message).to.match(/source gitspam\.spam\/spam\/spam/);
      expect(src.fix).to.match(/https:\/\/github\.com\/conforma\/\*/);
    }
  });

  it('an untrusted builder id fails provenance.builder; an evidence of another key is not counted', () => {
    const v = judge(policy('  builderIds: [https://example.com/builder]\n'), evidenceOf(V02));
    expect(codes(v, 'fail')).to.deep.equal(['provenance.builder']);
    const other = evidenceOf(V02);
    other.attestations[0]!.keyId = 'f'.repeat(64);
    const w = judge(policy(''), other);
    expect(codes(w, 'fail')).to.deep.equal(['signature.verified', 'provenance.present']);
    expect(w.rules[0]!.evidence.join('\n')).to.match(/signed by key ffffffffffff, which policy chains does not trust/);
  });

  it('the default policy requires every gate and the approvals, and needs a key', () => {
    const d = defaultPolicy([{ name: 'k', key: pub, keyId: KEY_ID }]);
    expect(d.require).to.deep.equal(['provenance', 'test-result', 'sbom', 'vulns', 'risk-assessment', 'approvals']);
    const v = judge(d, evidenceOf(KONFLUX_V02));
    expect(codes(v, 'fail')).to.deep.equal(['tests.passed', 'sbom.present', 'vulns.none-blocking', 'risk.present', 'approvals.satisfied']);
    expect(() => defaultPolicy([])).to.throw(VouchError, /--key/);
  });

  it('globs: * stays within a path segment, ** crosses them', () => {
    expect(globMatch('registry.example/*', 'registry.example/app')).to.equal(true);
    expect(globMatch('registry.example/*', 'registry.example/acme/app')).to.equal(false);
    expect(globMatch('registry.example/**', 'registry.example/acme/app')).to.equal(true);
    expect(globMatch('prod-?', 'prod-1')).to.equal(true);
  });

  describe('policy file errors (fail closed, with the path)', () => {
    const bad = (spec: string, re: RegExp): void => {
      expect(() => policy(spec)).to.throw(VouchError, re);
    };
    it('unknown fields, wrong kinds, bad modes and severities', () => {
      bad('  mdoe: warn\n', /spec\.mdoe: unknown field/);
      bad('  mode: audit\n', /spec\.mode: must be enforce or warn/);
      bad('  require: [provenance, tests]\n', /spec\.require\[1\]: unknown requirement "tests"/);
      bad('  blockSeverities: [severe]\n', /spec\.blockSeverities\[0\]/);
      bad('  namespaces: prod\n', /spec\.namespaces: must be a list/);
    });
    it('a CEL syntax error, a duplicate or built-in code, a bad date, an exception without reference', () => {
      bad('  rules:\n    - code: x.y\n      condition: "1 +"\n', /spec\.rules\[0\]\.condition: not a valid CEL expression/);
      bad('  rules:\n    - code: tests.passed\n      condition: "true"\n', /built-in/);
      bad('  rules:\n    - code: Bad Code\n      condition: "true"\n', /spec\.rules\[0\]\.code/);
      bad('  rules:\n    - code: a.b\n      condition: "true"\n      effectiveOn: someday\n', /effectiveOn: "someday" is not a date/);
      bad("  exceptions:\n    - rules: ['*']\n      images: ['**']\n      until: '2030-01-01'\n", /reference: is required/);
    });
    it('approvers: one key is one approver, an id is listed once', () => {
      const approver = (id: string, k: string): string => `    - id: ${id}\n      key: |\n        ${k.trim().split('\n').join('\n        ')}\n`;
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      bad(`  approvers:\n${approver('alice@example.com', pem)}${approver('alias@example.com', pem)}`, /spec\.approvers\[1\]: one key, one approver: this key is already alice@example\.com's/);
      bad(`  approvers:\n${approver('alice@example.com', pem)}${approver('alice@example.com', other)}`, /spec\.approvers\[1\]: duplicate id alice@example\.com/);
      expect(policy(`  approvers:\n${approver('alice@example.com', pem)}${approver('bob@example.com', other)}`).approvers.map((a) => a.id)).to.deep.equal(['alice@example.com', 'bob@example.com']);
    });
    it('approvers: accounts are "<forge>:<login>", one account belongs to one approver', () => {
      const approver = (id: string, k: string, accounts: string): string => `    - id: ${id}\n      accounts: ${accounts}\n      key: |\n        ${k.trim().split('\n').join('\n        ')}\n`;
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      bad(`  approvers:\n${approver('alice@example.com', pem, '[alice]')}`, /spec\.approvers\[0\]\.accounts\[0\]: must be a forge account "<forge>:<login>"/);
      bad(`  approvers:\n${approver('alice@example.com', pem, '["GitHub:alice"]')}`, /spec\.approvers\[0\]\.accounts\[0\]: must be a forge account/);
      bad(`  approvers:\n${approver('alice@example.com', pem, 'github:alice')}`, /spec\.approvers\[0\]\.accounts: must be a list/);
      bad(`  approvers:\n${approver('alice@example.com', pem, '[github:alice]')}${approver('bob@example.com', other, '[github:bob, github:Alice]')}`, /spec\.approvers\[1\]\.accounts\[1\]: one account, one approver: github:Alice is already listed \(spec\.approvers\[0\]\.accounts\[0\]\)/);
      const p = policy(`  approvers:\n${approver('alice@example.com', pem, '[github:Alice, gitlab:alice]')}${approver('bob@example.com', other, '[]')}`);
      expect(p.approvers.map((a) => a.accounts)).to.deep.equal([['github:Alice', 'gitlab:alice'], []]);
    });
    it('a policy without keys, images or the right kind; invalid YAML; a ConfigMap holding policies', () => {
      expect(() => parseAdmissionPolicies('apiVersion: vouch.dev/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: a}\nspec:\n  images: ["**"]\n', 'p.yaml')).to.throw(VouchError, /spec\.keys: list at least one trusted signer key/);
      expect(() => parseAdmissionPolicies('apiVersion: v1\nkind: Pod\n', 'p.yaml')).to.throw(VouchError, /apiVersion: must be vouch\.dev\/v1alpha1/);
      expect(() => parseAdmissionPolicies('a: [', 'p.yaml')).to.throw(VouchError, /not valid YAML/);
      const inner = `apiVersion: vouch.dev/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: cm}\nspec:\n  images: ['**']\n  keys: [{name: k, key: ${JSON.stringify(pem)}}]\n`;
      const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vouch-policy}\ndata:\n  policy.yaml: ${JSON.stringify(inner)}\n`;
      const ps = parseAdmissionPolicies(cm, 'cm.yaml');
      expect(ps.map((p) => p.name)).to.deep.equal(['cm']);
      expect(ps[0]!.keys[0]!.keyId).to.equal(KEY_ID);
    });
  });

  it('each policy of a file has its own digest, so a VSA for one (policy.digest) never stands for another', () => {
    const keys = `  keys:\n    - name: chains\n      key: |\n        ${pem.trim().split('\n').join('\n        ')}\n`;
    const doc = (name: string, ns: string): string => `apiVersion: vouch.dev/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: ${name}}\nspec:\n  namespaces: [${ns}]\n  images: ['**']\n${keys}`;
    const text = `${doc('dev', 'dev')}---\n${doc('prod', 'prod')}`;
    const [dev, prod] = parseAdmissionPolicies(text, 'p.yaml');
    expect(dev!.digest).to.match(/^[0-9a-f]{64}$/);
    expect(dev!.digest).to.not.equal(prod!.digest);
    // stable: the same file gives the same digests (a VSA stays valid until the policy changes)
    expect(parseAdmissionPolicies(text, 'p.yaml').map((p) => p.digest)).to.deep.equal([dev!.digest, prod!.digest]);
    // and the file is part of it: the same policy in a changed file is another policy
    expect(parseAdmissionPolicies(`${text}# edited\n`, 'p.yaml')[0]!.digest).to.not.equal(dev!.digest);
  });
});

import { expect } from 'chai';
import { readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import type { VouchError } from '../../src/common/errors.ts';
import { request } from 'node:https';
import { join } from 'node:path';
import { AdmissionEngine, type EngineOptions } from '../../src/admission/engine.ts';
import { CARRIERS } from '../../src/admission/images.ts';
import { signVsa } from '../../src/admission/vsa.ts';
import { breakGlassLogger } from '../../src/admission/vsa.ts';
import { AdmissionWebhook, serveWebhook, type RunningWebhook, type WebhookOptions } from '../../src/admission/webhook.ts';
import { parseAdmissionPolicies, PREDICATES } from '../../src/policy/admission.ts';
import { EmbeddedLogWitness } from '../../src/tlog/witness.ts';
import { SHARED } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { digestOf, makeWorld, policyYaml, putEvidence, REPO, type World } from './helpers.ts';
import { selfSignedCert } from './tls.ts';
import { parse as parseYaml } from 'yaml';
import { defaultConfig } from '../../src/common/config.ts';
import { startAdmission } from '../../src/admission/index.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { buildStatement } from '../../src/attest/statement.ts';
import { signAndLog } from './helpers.ts';

const FIX = join(SHARED, 'fixtures/admission');
const fixture = (name: string): Record<string, unknown> => {
  const d = JSON.parse(readFileSync(join(FIX, name), 'utf8')) as Record<string, unknown>;
  return d['apiVersion'] ? d : { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `uid-${name}`, namespace: 'prod', ...d } };
};

interface Answer {
  status: number;
  body: { response?: { uid: string; allowed: boolean; status?: { code: number; message: string }; warnings?: string[]; auditAnnotations?: Record<string, string> }; error?: { code: string; message: string } };
}

const podSpec = (images: { containers: string[]; init?: string[]; volume?: string }): Record<string, unknown> => ({
  containers: images.containers.map((image, i) => ({ name: `c${String(i)}`, image })),
  ...(images.init ? { initContainers: images.init.map((image, i) => ({ name: `i${String(i)}`, image })) } : {}),
  ...(images.volume ? { volumes: [{ name: 'data', image: { reference: images.volume, pullPolicy: 'IfNotPresent' } }] } : {}),
});

function carrier(kind: string, spec: Record<string, unknown>, annotations: Record<string, string> = {}, templateAnnotations: Record<string, string> = {}): Record<string, unknown> {
  const metadata = { name: `x-${kind.toLowerCase()}`, namespace: 'prod', annotations };
  const template = { metadata: { labels: { app: 'x' }, annotations: templateAnnotations }, spec };
  const apiVersion = ['Job', 'CronJob'].includes(kind) ? 'batch/v1' : ['Pod', 'ReplicationController'].includes(kind) ? 'v1' : 'apps/v1';
  if (kind === 'Pod') return { apiVersion, kind, metadata, spec };
  if (kind === 'CronJob') return { apiVersion, kind, metadata, spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } };
  return { apiVersion, kind, metadata, spec: { selector: { matchLabels: { app: 'x' } }, template } };
}

function reviewOf(object: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: `uid-${String(object['kind'])}-${String(Math.random()).slice(2)}`, kind: { group: '', version: 'v1', kind: object['kind'] }, namespace: 'prod', operation: 'CREATE', userInfo: { username: 'alice' }, object, ...extra },
  };
}

describe('admission: webhook over HTTPS (admission.k8s.io/v1)', function () {
  this.timeout(30_000);
  let w: World;
  let dir: string;
  let tls: ReturnType<typeof selfSignedCert>;
  const running: RunningWebhook[] = [];
  const GOOD = `${REPO}@sha256:${digestOf('good')}`;
  const CRIT = `${REPO}@sha256:${digestOf('critical')}`;

  before(async () => {
    dir = tempDir('vouch-webhook-');
    w = await makeWorld(dir);
    tls = selfSignedCert();
    await putEvidence(w, { digest: digestOf('good') });
    await putEvidence(w, { digest: digestOf('critical'), criticalVuln: true });
  });
  after(async () => {
    for (const r of running) await r.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(opts: { policy?: string; engine?: Partial<EngineOptions>; webhook?: Partial<WebhookOptions> } = {}): Promise<RunningWebhook> {
    const engine = new AdmissionEngine({ policies: parseAdmissionPolicies(opts.policy ?? policyYaml(w), 'policy.yaml'), stores: [w.store], approvalDirs: [w.approvalsDir], trustedRoot: w.trustedRoot, resolve: () => Promise.reject(new Error('registry unreachable')), ...opts.engine });
    const r = await serveWebhook(new AdmissionWebhook({ engine, auditLog: join(dir, 'audit.jsonl'), ...opts.webhook }), tls, '127.0.0.1', 0);
    running.push(r);
    return r;
  }

  function post(url: string, body: unknown, path = '/admission'): Promise<Answer> {
    const data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(`${url}${path}`, { method: 'POST', ca: tls.ca, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Answer['body'] });
        });
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  let url = '';
  before(async () => {
    url = (await serve()).url;
  });

  for (const kind of CARRIERS) {
    it(`${kind}: admitted with full evidence (containers, initContainers, image volume); denied when one image fails`, async () => {
      const ok = await post(url, reviewOf(carrier(kind, podSpec({ containers: [GOOD], init: [GOOD], volume: GOOD }))));
      expect(ok.status).to.equal(200);
      expect(ok.body.response!.allowed, ok.body.response!.status?.message).to.equal(true);
      const bad = await post(url, reviewOf(carrier(kind, podSpec({ containers: [GOOD], init: [GOOD], volume: CRIT }))));
      expect(bad.body.response!.allowed).to.equal(false);
      expect(bad.body.response!.status!.code).to.equal(403);
      expect(bad.body.response!.status!.message).to.match(new RegExp(`image ${CRIT.replace(/[./]/g, '\\$&')} \\(sha256:[0-9a-f]{12}\\): vulns\\.none-blocking: 1 blocking finding\\(s\\): GHSA-xxxx-yyyy-zzzz \\(critical\\); fix: `));
    });
  }

  it('over HTTPS, each missing or broken piece denies with its rule code', async () => {
    const cases: [string, Parameters<typeof putEvidence>[1] | undefined, RegExp][] = [
      ['h-no-prov', { digest: digestOf('h-no-prov'), omit: [PREDICATES.provenance] }, /provenance\.present/],
      ['h-wrong-signer', { digest: digestOf('h-wrong-signer'), signWith: { [PREDICATES.provenance]: w.strangerKey } }, /provenance\.present/],
      ['h-tampered', { digest: digestOf('h-tampered'), tamper: [PREDICATES.provenance] }, /provenance\.present/],
      ['h-not-in-log', { digest: digestOf('h-not-in-log'), otherLog: [PREDICATES.provenance] }, /provenance\.present/],
      ['h-failed-tests', { digest: digestOf('h-failed-tests'), testResult: 'FAILED' }, /tests\.passed: test result FAILED/],
      ['h-critical', { digest: digestOf('h-critical'), criticalVuln: true }, /vulns\.none-blocking/],
      ['h-no-security', { digest: digestOf('h-no-security'), approvers: ['bob', 'carol'] }, /approvals\.satisfied: .*1 from group security needed, 0 valid/],
      ['h-no-evidence', undefined, /signature\.verified: no attestation/],
    ];
    for (const [label, evidence, re] of cases) {
      if (evidence) await putEvidence(w, evidence);
      const a = await post(url, reviewOf(carrier('Pod', podSpec({ containers: [`${REPO}@sha256:${digestOf(label)}`] }))));
      expect(a.body.response!.allowed, label).to.equal(false);
      expect(a.body.response!.status!.message, label).to.match(re);
    }
  });

  it('echoes the uid; the shared fixtures: a Pod with a tag-only image and an initContainer is denied naming every failing image', async () => {
    const a = await post(url, fixture('pod.create.json'));
    const review = fixture('pod.create.json')['request'] as { uid: string };
    expect(a.body.response!.uid).to.equal(review.uid);
    expect(a.body.response!.allowed).to.equal(false);
    const msg = a.body.response!.status!.message;
    // three distinct images in the fixture; no policy covers registry.example.com, so each is named with policy.none
    expect(msg.match(/image [^ ]+/g)!.length).to.equal(3);
    expect(msg).to.match(/policy\.none: no admission policy covers registry\.example\.com\/team\/widget in namespace prod/);
  });

  it('the real captures of every carrier (kubewarden) are judged: uncovered images are denied by default', async () => {
    for (const name of ['real.pod.initcontainers.request-only.json', 'real.cronjob.create.request-only.json', 'real.daemonset_creation_signed.request-only.json', 'real.deployment_creation_unsigned.request-only.json', 'real.job_creation_signed.request-only.json', 'real.replicaset_creation_signed.request-only.json', 'real.replicationcontroller_creation_unsigned.request-only.json', 'real.statefulset_creation_signed.request-only.json']) {
      const a = await post(url, fixture(name));
      expect(a.body.response!.allowed, name).to.equal(false);
      expect(a.body.response!.status!.message, name).to.match(/policy\.none/);
    }
    const real = await post(url, fixture('real.pod.create.json'));
    expect(real.body.response!.allowed).to.equal(false);
  });

  it('an UPDATE that changes no image passes without verification; one that adds an image is judged', async () => {
    const broken = await serve({ engine: { stores: [{ kind: 'local', put: () => Promise.reject(new Error('no')), list: () => Promise.reject(new Error('store down')) }] } });
    // the shared fixture changes the app container's digest: only that image is judged
    const fx = await post(url, fixture('deployment.update.json'));
    expect(fx.body.response!.allowed).to.equal(false);
    expect(fx.body.response!.status!.message.match(/image [^ ]+/g)).to.deep.equal(['image registry.example.com/team/widget@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0']);
    const review = fixture('deployment.update.json');
    const r = review['request'] as { object: unknown; oldObject: { spec: { replicas: number } } };
    r.oldObject = structuredClone(r.object) as never;
    r.oldObject.spec.replicas = 1;
    const same = await post(broken.url, review);
    expect(same.body.response!.allowed).to.equal(true);
    const obj = carrier('Deployment', podSpec({ containers: [GOOD, CRIT] }));
    const old = carrier('Deployment', podSpec({ containers: [GOOD] }));
    const changed = await post(url, reviewOf(obj, { operation: 'UPDATE', oldObject: old }));
    expect(changed.body.response!.allowed).to.equal(false);
    expect(changed.body.response!.status!.message).to.not.include(GOOD);
    // a container that takes an image another container already ran is judged: it pulls the tag afresh, and the tag
    // may point elsewhere by now
    const TAG = '127.0.0.1:1/acme/app:latest';
    const tagged = await post(url, reviewOf(carrier('Deployment', podSpec({ containers: [TAG, TAG] })), { operation: 'UPDATE', oldObject: carrier('Deployment', podSpec({ containers: [TAG, GOOD] })) }));
    expect(tagged.body.response!.allowed).to.equal(false);
    expect(tagged.body.response!.status!.message).to.include(TAG);
    const scale = await post(broken.url, reviewOf(obj, { operation: 'UPDATE', subResource: 'scale' }));
    expect(scale.body.response!.allowed).to.equal(true);
    const del = await post(broken.url, reviewOf(obj, { operation: 'DELETE' }));
    expect(del.body.response!.allowed).to.equal(true);
    // an engine error denies (fail closed)
    const err = await post(broken.url, reviewOf(carrier('Pod', podSpec({ containers: [GOOD] }))));
    expect(err.body.response!.allowed).to.equal(false);
    expect(err.body.response!.status!.message).to.match(/engine\.error: store down/);
  });

  it('pods/ephemeralcontainers (kubectl debug): only the added debug image is judged', async () => {
    const a = await post(url, fixture('pod.ephemeralcontainers.update.json'));
    expect(a.body.response!.allowed).to.equal(false);
    const msg = a.body.response!.status!.message;
    expect(msg.match(/image [^ ]+/g)).to.deep.equal(['image docker.io/library/busybox:1.36:']);
  });

  it('dryRun is judged the same and leaves nothing in the audit log', async () => {
    const before = existsSync(join(dir, 'audit.jsonl')) ? readFileSync(join(dir, 'audit.jsonl'), 'utf8') : '';
    const a = await post(url, fixture('cronjob.create.dryrun.json'));
    expect(a.body.response!.allowed).to.equal(false);
    expect(existsSync(join(dir, 'audit.jsonl')) ? readFileSync(join(dir, 'audit.jsonl'), 'utf8') : '').to.equal(before);
    await post(url, reviewOf(carrier('Pod', podSpec({ containers: [CRIT] }))));
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(JSON.parse(lines[lines.length - 1]!)).to.include({ kind: 'Pod', allowed: false, user: 'alice' });
  });

  it('warn mode admits with warnings under 120 characters', async () => {
    const warn = await serve({ policy: policyYaml(w).replace('  images:', '  mode: warn\n  images:') });
    const a = await post(warn.url, reviewOf(carrier('Pod', podSpec({ containers: [CRIT] }))));
    expect(a.body.response!.allowed).to.equal(true);
    expect(a.body.response!.warnings!.join('\n')).to.match(/vulns\.none-blocking/);
    expect(a.body.response!.warnings!.every((x) => x.length <= 120)).to.equal(true);
  });

  it('break-glass admits a denied object, logs it to the transparency log first, and says so', async () => {
    const size = w.log.info().treeSize;
    const bg = await serve({ webhook: { logBreakGlass: breakGlassLogger({ privateKey: w.sidecarKey, witness: new EmbeddedLogWitness(w.log) }) } });
    // on the pod template, where the Deployment's Pods (each judged again) carry it too
    const a = await post(bg.url, reviewOf(carrier('Deployment', podSpec({ containers: [CRIT] }), {}, { 'vouch.dev/break-glass': 'INC-42 outage fix' })));
    expect(a.body.response!.allowed).to.equal(true);
    expect(a.body.response!.warnings![0]).to.match(/^break-glass admitted, logged as entry #\d+: INC-42/);
    expect(a.body.response!.auditAnnotations!['decision']).to.equal('break-glass');
    expect(w.log.info().treeSize).to.equal(size + 1);
    const entry = w.log.getByIndex(size)!;
    expect(JSON.parse(Buffer.from(entry.body, 'base64').toString()) as unknown).to.have.nested.property('kind', 'dsse');
    // a CronJob's is on its job template's pod template
    const cron = await post(bg.url, reviewOf(carrier('CronJob', podSpec({ containers: [CRIT] }), {}, { 'vouch.dev/break-glass': 'INC-43' })));
    expect(cron.body.response!.allowed).to.equal(true);
    expect(w.log.info().treeSize).to.equal(size + 2);
    // on the Deployment's own metadata only: its Pods would not inherit it, so it is refused, saying where it belongs,
    // and nothing is logged
    for (const kind of ['Deployment', 'CronJob']) {
      const misplaced = await post(bg.url, reviewOf(carrier(kind, podSpec({ containers: [CRIT] }), { 'vouch.dev/break-glass': 'INC-44' })));
      expect(misplaced.body.response!.allowed).to.equal(false);
      expect(misplaced.body.response!.status!.message).to.include(`is on the ${kind}'s own metadata`).and.include(kind === 'CronJob' ? 'spec.jobTemplate.spec.template.metadata.annotations' : 'spec.template.metadata.annotations');
    }
    expect(w.log.info().treeSize).to.equal(size + 2);
    // without a way to log it, the break-glass is refused
    const refused = await post(url, reviewOf(carrier('Pod', podSpec({ containers: [CRIT] }), { 'vouch.dev/break-glass': 'please' })));
    expect(refused.body.response!.allowed).to.equal(false);
    expect(refused.body.response!.status!.message).to.match(/cannot log it to the transparency log/);
  });

  it("resolves tags with the pod's pull secrets; digests need none; unreadable secrets mean anonymous", async () => {
    const seen: unknown[] = [];
    const secrets = { 'regcred': { data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { 'registry.example': { username: 'robot', password: 'pw' } } })).toString('base64') } } } as Record<string, { data: Record<string, string> }>;
    const withSecrets = await serve({
      engine: {
        resolve: (_image, credentials) => {
          seen.push(credentials);
          return Promise.resolve({ registry: 'registry.example', repository: 'acme/app', digest: digestOf('good') });
        },
      },
      webhook: { pullSecrets: { secret: (_ns, name) => Promise.resolve(secrets[name]), serviceAccountPullSecrets: () => Promise.resolve([]) } },
    });
    const spec = { ...podSpec({ containers: [`${REPO}:v1`, GOOD] }), imagePullSecrets: [{ name: 'regcred' }] };
    const a = await post(withSecrets.url, reviewOf(carrier('Deployment', spec)));
    expect(a.body.response!.allowed, a.body.response!.status?.message).to.equal(true);
    expect(seen).to.deep.equal([{ username: 'robot', password: 'pw' }]);
    const failing = await serve({
      engine: { resolve: (_image, credentials) => (seen.push(credentials), Promise.reject(new Error('unauthorized'))) },
      webhook: { pullSecrets: { secret: () => Promise.reject(new Error('forbidden')), serviceAccountPullSecrets: () => Promise.resolve(['x']) } },
    });
    const b = await post(failing.url, reviewOf(carrier('Pod', spec)));
    expect(b.body.response!.allowed).to.equal(false);
    expect(seen[1]).to.equal(undefined);
  });

  it('answers within its budget: an engine that hangs is a denial', async () => {
    const slow = await serve({ engine: { resolve: () => new Promise(() => undefined) }, webhook: { budgetMs: 100 } });
    const a = await post(slow.url, reviewOf(carrier('Pod', podSpec({ containers: [`${REPO}:v1`] }))));
    expect(a.body.response!.allowed).to.equal(false);
    expect(a.body.response!.status!.message).to.match(/engine\.timeout: not judged within 100 ms/);
  });

  it('accepts a fresh, valid VSA for the policy instead of re-evaluating; a VSA for another policy does not count', async () => {
    const policies = parseAdmissionPolicies(policyYaml(w), 'policy.yaml');
    const d = digestOf('vsa-only');
    const verdict = { image: `${REPO}@sha256:${d}`, repository: REPO, digest: d, allowed: true, via: 'evaluated' as const, policies: [], reasons: [], warnings: [], inputs: [] };
    for (const [digestOfPolicy, run] of [[policies[0]!.digest, 'a'], ['0'.repeat(64), 'b']] as const) {
      const vsa = await signVsa(verdict, { uri: 'policy.yaml', sha256: digestOfPolicy }, { privateKey: w.sidecarKey, witness: new EmbeddedLogWitness(w.log) });
      await w.store.put({ subject: { name: REPO, sha256: d }, predicateType: 'https://slsa.dev/verification_summary/v1', runUid: `vsa-${run}`, bundle: vsa.json });
      expect(vsa.json).to.have.property('dsseEnvelope');
      if (run === 'b') break;
      const withVsa = await serve({ engine: { acceptVsa: true } });
      const a = await post(withVsa.url, reviewOf(carrier('Pod', podSpec({ containers: [`${REPO}@sha256:${d}`] }))));
      expect(a.body.response!.allowed, a.body.response!.status?.message).to.equal(true);
      const without = await post(url, reviewOf(carrier('Pod', podSpec({ containers: [`${REPO}@sha256:${d}`] }))));
      expect(without.body.response!.allowed).to.equal(false);
    }
    // a FAILED-result or stale VSA is not accepted either
    const d2 = digestOf('vsa-stale');
    const st = buildStatement({ subjects: [{ name: REPO, sha256: d2 }], predicateType: 'https://slsa.dev/verification_summary/v1', predicate: { verifier: { id: 'x' }, timeVerified: '2020-01-01T00:00:00Z', resourceUri: `${REPO}@sha256:${d2}`, policy: { uri: 'p', digest: { sha256: policies[0]!.digest } }, inputAttestations: [], verificationResult: 'PASSED', verifiedLevels: [], slsaVersion: '1.0' } });
    await w.store.put({ subject: { name: REPO, sha256: d2 }, predicateType: 'https://slsa.dev/verification_summary/v1', runUid: 'vsa-stale', bundle: (await signAndLog(st, w.sidecarKey, w.log)) as never });
    const withVsa = await serve({ engine: { acceptVsa: true } });
    const stale = await post(withVsa.url, reviewOf(carrier('Pod', podSpec({ containers: [`${REPO}@sha256:${d2}`] }))));
    expect(stale.body.response!.allowed).to.equal(false);
  });

  it('startAdmission serves the webhook from config section admission (embedded log trusted root, audit log)', async () => {
    const config = defaultConfig();
    writeFileSync(join(dir, 'tls.crt'), tls.cert);
    writeFileSync(join(dir, 'tls.key'), tls.key);
    writeFileSync(join(dir, 'cfg-policy.yaml'), policyYaml(w));
    Object.assign(config.admission, { listen: '127.0.0.1:0', tlsCert: join(dir, 'tls.crt'), tlsKey: join(dir, 'tls.key'), policy: join(dir, 'cfg-policy.yaml'), approvals: w.approvalsDir, auditLog: join(dir, 'cfg-audit.jsonl') });
    config.tlog.data = join(dir, 'log');
    config.sidecar.store = w.storeDir;
    const r = (await startAdmission(config))!;
    running.push(r);
    // the files are watched for a renewed pair (tls-reload.test.ts shows what a reload does)
    expect(r.tls).to.not.equal(undefined);
    expect(await r.tls!.check()).to.equal('unchanged');
    const a = await post(r.url, reviewOf(carrier('Pod', podSpec({ containers: [GOOD] }))));
    expect(a.body.response!.allowed, a.body.response!.status?.message).to.equal(true);
    expect(readFileSync(join(dir, 'cfg-audit.jsonl'), 'utf8')).to.include(digestOf('good'));
    config.admission.tlsReloadSeconds = -1;
    try {
      await startAdmission(config);
      expect.fail('expected CONFIG_INVALID');
    } catch (err) {
      expect((err as VouchError).message).to.include('tlsReloadSeconds');
    }
    config.admission.tlsReloadSeconds = 60;
    config.admission.tlsCert = '';
    try {
      await startAdmission(config);
      expect.fail('expected CONFIG_INVALID');
    } catch (err) {
      expect((err as VouchError).code).to.equal('CONFIG_INVALID');
    }
    config.admission.listen = '';
    expect(await startAdmission(config)).to.equal(undefined);
  });

  it('sidecar/webhook.yaml: fail closed, a timeout above the budget, every carrier and kubectl debug, opt-in namespaces', () => {
    const cfg = parseYaml(readFileSync(join(REPO_ROOT, 'sidecar/webhook.yaml'), 'utf8')) as { kind: string; webhooks: { failurePolicy: string; sideEffects: string; timeoutSeconds: number; admissionReviewVersions: string[]; namespaceSelector: unknown; clientConfig: { service: { path: string } }; rules: { resources: string[]; operations: string[] }[] }[] };
    expect(cfg.kind).to.equal('ValidatingWebhookConfiguration');
    const hook = cfg.webhooks[0]!;
    expect(hook.failurePolicy).to.equal('Fail');
    expect(['None', 'NoneOnDryRun']).to.include(hook.sideEffects);
    expect(hook.timeoutSeconds * 1000).to.be.greaterThan(defaultConfig().admission.budgetMs);
    expect(hook.admissionReviewVersions).to.deep.equal(['v1']);
    expect(hook.namespaceSelector).to.have.property('matchLabels');
    expect(hook.clientConfig.service.path).to.equal('/admission');
    const resources = hook.rules.flatMap((r) => r.resources);
    expect(resources).to.include.members(['pods', 'pods/ephemeralcontainers', 'deployments', 'replicasets', 'replicationcontrollers', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs']);
    expect(hook.rules.every((r) => r.operations.includes('CREATE') && r.operations.includes('UPDATE'))).to.equal(true);
  });

  it('malformed reviews get clean errors, never a crash', async () => {
    const cases: [unknown, number, RegExp][] = [
      ['{not json', 400, /not JSON/],
      [{ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }, 400, /apiVersion must be admission\.k8s\.io\/v1/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { kind: 'Pod' }, operation: 'CREATE' } }, 400, /request\.uid is missing/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 400, /request is missing/],
      [[1, 2], 400, /not a JSON object/],
      [Buffer.alloc(5 * 1024 * 1024, 0x20), 413, /larger than/],
    ];
    for (const [body, status, re] of cases) {
      const a = await post(url, body);
      expect(a.status).to.equal(status);
      expect(a.body.error!.code).to.equal('ADMISSION_REVIEW_INVALID');
      expect(a.body.error!.message).to.match(re);
    }
    const notList = await post(url, reviewOf({ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: 'nginx' } }));
    expect(notList.body.response!.allowed).to.equal(false);
    expect(notList.body.response!.status!.message).to.match(/spec\.containers is not a list/);
    const health = await post(url, {}, '/nope');
    expect(health.status).to.equal(404);
  });
});

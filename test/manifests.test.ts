// Every YAML a cluster applies, validated offline, and the references between the files checked:
// - Tekton (tasks/, pipelines/): the runner's own validator (src/tekton/validate.ts) and, strictly, Tekton's CRD
//   schemas (../shared/fixtures/tekton/crds, ajv); the TriggerTemplate's PipelineRun, rendered from a real GitHub
//   payload, validated against the Pipeline it names.
// - Kubernetes (sidecar/, pipelines/triggers/): the OpenAPI schemas of Kubernetes as the npm package
//   kubernetes-models ships them (types, required fields, enums: its validate()) plus its TypeScript declarations
//   compiled with excess-property checks, so an unknown field (a typo) is an error as with --validate=strict.
// - references: task names, params, results, workspaces, images, ServiceAccounts, Secrets, volumes, ports, probes,
//   the Service behind Tekton's CloudEvents sink, the kustomization's resource list, the sidecar's config keys;
//   admission end to end on paper: webhook -> Service port -> containerPort = admission.listen, cert-manager's
//   Certificate/Issuer/Secret -> TLS files, the example policy loaded by the real parser, RBAC verbs = the client's
//   API calls, the TaskRun egress NetworkPolicies, the namespace label the docs tell you to set.
import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { loadConfig } from '../src/common/config.ts';
import { loadAdmissionPolicies } from '../src/policy/admission.ts';
import { loadFile, loadTasksDir, loadText, validatePipeline, validatePipelineRun, type Loaded, type Pipeline, type PipelineRun, type Task } from '../src/tekton/index.ts';
import { loadTriggersDir, processEvent, signPayload } from '../src/tekton/triggers.ts';
import { REPO_ROOT, SHARED } from './helpers/cli.ts';
import { crdValidator } from './helpers/crd.ts';
import { tempDirPerSuite } from './helpers/tmp.ts';

type Obj = Record<string, unknown>;
const IMAGE = 'ghcr.io/vouch-dev/vouch:0.1.0';

function yamlDocs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' })
    .map((d) => d.toJS() as unknown)
    .filter((d): d is Obj => typeof d === 'object' && d !== null);
}
const yamlFiles = (dir: string): string[] => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
const get = (o: unknown, ...path: (string | number)[]): unknown => path.reduce<unknown>((cur, k) => (cur as Record<string | number, unknown> | undefined)?.[k], o);

// ---- Kubernetes OpenAPI checks (kubernetes-models) ----

const require = createRequire(import.meta.url);
/** apiVersion + kind -> the kubernetes-models module of that type, e.g. apps/v1 Deployment -> kubernetes-models/apps/v1/Deployment */
const modelModule = (apiVersion: string, kind: string): string => `kubernetes-models/${apiVersion}/${kind}`;

/** The typed model's validate(): the Kubernetes OpenAPI schema (types, required, enums, formats). */
async function openApiErrors(doc: Obj): Promise<string[]> {
  const mod = (await import(modelModule(String(doc['apiVersion']), String(doc['kind'])))) as Record<string, new (o: Obj) => { validate(): void }>;
  const Model = mod[String(doc['kind'])]!;
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** Compiles `const x: I<Kind> = <doc>` against kubernetes-models' declarations: excess properties are errors. */
function typeErrors(docs: Obj[]): string[] {
  const files = new Map<string, string>();
  docs.forEach((doc, i) => {
    const kind = String(doc['kind']);
    // virtual files beside node_modules, so that the package resolves; nothing is written
    files.set(join(REPO_ROOT, `.vouch-manifest-doc${String(i)}.ts`), `import type { I${kind} } from '${modelModule(String(doc['apiVersion']), kind)}';\nexport const doc: I${kind} = ${JSON.stringify(doc, null, 1)};\n`);
  });
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => files.get(f) ?? readFile(f);
  host.fileExists = (f) => files.has(f) || fileExists(f);
  host.getSourceFile = (f, lang, ...rest) => (files.has(f) ? ts.createSourceFile(f, files.get(f)!, lang) : getSourceFile(f, lang, ...rest));
  host.getCurrentDirectory = () => join(REPO_ROOT);
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file ? d.file.fileName : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

async function kubeErrors(docs: Obj[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of docs) out.push(...(await openApiErrors(d)).map((e) => `${String(d['kind'])}/${String(get(d, 'metadata', 'name'))}: ${e}`));
  return [...out, ...typeErrors(docs)];
}

describe('manifests: every YAML a cluster applies', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-manifests-');

  let tasks: Map<string, Loaded<Task>>;
  let pipeline: Loaded<Pipeline>;
  before(async () => {
    tasks = await loadTasksDir(join(REPO_ROOT, 'tasks'));
    const docs = await loadFile(join(REPO_ROOT, 'pipelines/agent-pr-verify.yaml'));
    expect(docs.map((d) => d.kind)).to.deep.equal(['Pipeline']);
    pipeline = docs[0] as Loaded<Pipeline>;
  });

  describe('Tekton', () => {
    it("pipelines/agent-pr-verify.yaml passes the runner's validator, every taskRef resolving in tasks/", () => {
      const v = validatePipeline(pipeline, (n) => tasks.get(n));
      const names = [...v.tasks, ...v.finally].map((t) => `${t.section === 'finally' ? 'finally:' : ''}${t.pipelineTask.name}=${t.taskName ?? '(embedded)'}`);
      expect(names).to.deep.equal([
        'clone=vouch-clone', 'agent-run=vouch-agent-run', 'change=(embedded)', 'classify=vouch-classify', 'lint=vouch-lint', 'test=vouch-test', 'secrets=vouch-secrets',
        'mutation=vouch-mutation', 'sbom=vouch-sbom', 'sca=vouch-sca', 'build=vouch-build', 'gate=vouch-gate', 'finally:report=vouch-report',
      ]);
      // the oracle is not vacuous: a param the real gate Task needs, renamed, is refused
      const bad = readFileSync(join(REPO_ROOT, 'pipelines/agent-pr-verify.yaml'), 'utf8').replace('        - name: risk-digest\n', '        - name: no-such-param\n');
      expect(() => validatePipeline(loadText(bad, 'agent-pr-verify.yaml')[0] as Loaded<Pipeline>, (n) => tasks.get(n))).to.throw(/missing param "risk-digest"/);
    });

    it('the mission order: agent-run only with a prompt, the checks after classify, sca after sbom, build after all checks, gate last', () => {
      const byName = new Map((pipeline.resource.spec.tasks ?? []).map((t) => [t.name, t]));
      expect(byName.get('agent-run')?.when).to.deep.equal([{ input: '$(params.prompt)', operator: 'notin', values: [''] }]);
      expect(byName.get('change')?.runAfter).to.deep.equal(['agent-run']);
      expect(byName.get('change')?.when).to.equal(undefined);
      expect(byName.get('classify')?.runAfter).to.deep.equal(['change']);
      // no task after agent-run reads its results (absent when it was skipped); every stage waits on `change`
      for (const t of pipeline.resource.spec.tasks ?? []) {
        if (['clone', 'agent-run', 'change'].includes(t.name)) continue;
        expect(JSON.stringify(t), t.name).not.to.include('tasks.agent-run.');
        expect(t.when, t.name).to.deep.equal([{ input: '$(tasks.change.results.verify)', operator: 'in', values: ['true'] }]);
      }
      for (const t of ['lint', 'test', 'secrets', 'mutation', 'sbom']) expect(byName.get(t)?.runAfter, t).to.deep.equal(['classify']);
      expect(byName.get('sca')?.runAfter).to.deep.equal(['sbom']);
      expect(byName.get('build')?.runAfter).to.have.members(['lint', 'test', 'secrets', 'mutation', 'sca']);
      expect(byName.get('gate')?.runAfter).to.deep.equal(['build']);
      // the gate ends on its own terms (timed-out, with its report) before Tekton's timeout kills it
      const approvalTimeout = Number(pipeline.resource.spec.params?.find((p) => p.name === 'approval-timeout-seconds')?.default);
      const gateTimeout = /^(\d+)m0s$/.exec(String(byName.get('gate')?.timeout));
      expect(Number(gateTimeout?.[1]) * 60).to.be.greaterThan(approvalTimeout);
      // `tkn pipeline start` / `vouch run --pipeline-name` need exactly these three; the rest default to ""
      const params = pipeline.resource.spec.params ?? [];
      expect(params.map((p) => p.name)).to.deep.equal(['repo-url', 'base-revision', 'head-revision', 'pr-number', 'agent', 'prompt', 'prompt-version', 'model', 'approvals', 'tlog-trusted-root', 'approval-timeout-seconds', 'image', 'image-tls-verify', 'evidence-repository', 'requested-by']);
      expect(params.filter((p) => p.default === undefined).map((p) => p.name)).to.deep.equal(['repo-url', 'base-revision', 'head-revision']);
      expect(pipeline.resource.spec.workspaces?.map((w) => w.name)).to.deep.equal(['source', 'dockerconfig', 'osv-database']);
    });

    it("the report task's statuses name every pipeline task exactly once", () => {
      const report = pipeline.resource.spec.finally?.find((t) => t.name === 'report');
      const value = report?.params?.find((p) => p.name === 'task-statuses')?.value;
      if (typeof value !== 'string') return expect.fail('report has no task-statuses string param');
      const listed = [...value.matchAll(/(\S+)=\$\(tasks\.(\S+)\.status\)/g)].map((m) => { expect(m[1]).to.equal(m[2]); return m[1]; });
      expect(listed).to.deep.equal((pipeline.resource.spec.tasks ?? []).map((t) => t.name));
    });

    it("every Task, the Pipeline and the template's PipelineRun pass Tekton's CRD schemas strictly", () => {
      const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
      const task = crdValidator(ajv, '300-task.yaml');
      const pipe = crdValidator(ajv, '300-pipeline.yaml');
      const run = crdValidator(ajv, '300-pipelinerun.yaml');
      const failures: string[] = [];
      const check = (v: typeof task, doc: unknown, what: string): void => {
        if (!v(doc)) failures.push(`${what}: ${ajv.errorsText(v.errors)}`);
      };
      for (const f of yamlFiles(join(REPO_ROOT, 'tasks'))) for (const d of yamlDocs(join(REPO_ROOT, 'tasks', f))) check(task, d, f);
      for (const d of yamlDocs(join(REPO_ROOT, 'pipelines/agent-pr-verify.yaml'))) check(pipe, d, 'agent-pr-verify.yaml');
      const tt = yamlDocs(join(REPO_ROOT, 'pipelines/triggers/triggertemplate.yaml'))[0]!;
      for (const rt of get(tt, 'spec', 'resourcetemplates') as Obj[]) check(run, rt, 'triggertemplate.yaml resourcetemplate');
      // the oracle is not vacuous: a typo is caught
      check(pipe, { ...yamlDocs(join(REPO_ROOT, 'pipelines/agent-pr-verify.yaml'))[0], spek: {} }, 'typo probe');
      expect(failures).to.have.length(1);
      expect(failures[0]).to.match(/^typo probe: .*additional properties/);
    });

    it('a real pull_request delivery, through the Triggers, becomes a PipelineRun that validates against agent-pr-verify', async () => {
      const secret = 's3cret';
      const body = readFileSync(join(SHARED, 'fixtures/github/pull_request.synchronize.json'));
      const triggers = await loadTriggersDir(join(REPO_ROOT, 'pipelines/triggers'));
      const [o] = processEvent(triggers, 'vouch-github', { headers: { 'x-github-event': 'pull_request', 'x-hub-signature-256': signPayload(body, secret) }, body, requestURL: 'http://el/' }, () => secret);
      if (!o?.fired) return expect.fail('the trigger did not fire');
      const [runDoc] = loadText(JSON.stringify(o.resources[0]), 'rendered.yaml') as Loaded<PipelineRun>[];
      const v = validatePipelineRun(runDoc!, { resolveTask: (n) => tasks.get(n), resolvePipeline: (n) => (n === 'agent-pr-verify' ? pipeline : undefined), locallyBound: new Set(['osv-database']) });
      expect(v.pipeline.name).to.equal('agent-pr-verify');
      // the template's params are the Pipeline's, by name
      const declared = new Set((pipeline.resource.spec.params ?? []).map((p) => p.name));
      for (const p of runDoc!.resource.spec.params ?? []) expect(declared.has(p.name), p.name).to.equal(true);
    });

    it('every step of every Task, and the sidecar, run the one vouch image that Dockerfile and hack/kind-up.sh build', () => {
      for (const t of tasks.values()) for (const s of t.resource.spec.steps ?? []) expect(s.image, t.resource.metadata.name).to.equal(IMAGE);
      const deployment = yamlDocs(join(REPO_ROOT, 'sidecar/deployment.yaml'))[0]!;
      expect(get(deployment, 'spec', 'template', 'spec', 'containers', 0, 'image')).to.equal(IMAGE);
      expect(readFileSync(join(REPO_ROOT, 'hack/kind-up.sh'), 'utf8')).to.include(`IMAGE=${IMAGE}\n`);
    });
  });

  describe('Triggers references', () => {
    it('the EventListener runs as the ServiceAccount beside it, the template binds a claim that exists, and names the Pipeline', () => {
      const dir = join(REPO_ROOT, 'pipelines/triggers');
      const all = yamlFiles(dir).flatMap((f) => yamlDocs(join(dir, f)));
      const el = all.find((d) => d['kind'] === 'EventListener')!;
      const sa = all.filter((d) => d['kind'] === 'ServiceAccount').map((d) => get(d, 'metadata', 'name'));
      expect(sa).to.include(get(el, 'spec', 'serviceAccountName'));
      for (const b of all.filter((d) => String(d['kind']).endsWith('RoleBinding'))) expect(get(b, 'subjects', 0, 'name')).to.equal(get(el, 'spec', 'serviceAccountName'));
      const tt = all.find((d) => d['kind'] === 'TriggerTemplate')!;
      const run = get(tt, 'spec', 'resourcetemplates', 0);
      expect(get(run, 'spec', 'pipelineRef', 'name')).to.equal(pipeline.resource.metadata?.name);
      const claims = (get(run, 'spec', 'workspaces') as Obj[]).map((w) => get(w, 'persistentVolumeClaim', 'claimName')).filter((c) => c !== undefined);
      const pvcs = all.filter((d) => d['kind'] === 'PersistentVolumeClaim').map((d) => get(d, 'metadata', 'name'));
      // the Job that fills the OSV database mounts the claim the runs read
      claims.push(...(get(yamlDocs(join(REPO_ROOT, 'hack/osv-sync-job.yaml'))[0], 'spec', 'template', 'spec', 'volumes') as Obj[]).map((v) => get(v, 'persistentVolumeClaim', 'claimName')).filter((c) => c !== undefined));
      expect(claims).to.have.length(2);
      // `tkn pipeline start --pod-template hack/pod-template.yaml` gives runs the pod template triggered runs get
      expect(get(run, 'spec', 'taskRunTemplate', 'podTemplate')).to.deep.equal(parse(readFileSync(join(REPO_ROOT, 'hack/pod-template.yaml'), 'utf8')));
      for (const c of claims) expect(pvcs).to.include(c);
    });
  });

  describe('Kubernetes (OpenAPI schemas offline)', () => {
    const sidecarDir = join(REPO_ROOT, 'sidecar');
    const kustomization = parse(readFileSync(join(sidecarDir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; namespace?: string };
    const present = kustomization.resources.filter((f) => existsSync(join(sidecarDir, f)));
    const docs = (): Obj[] => present.flatMap((f) => yamlDocs(join(sidecarDir, f)));
    const find = (kind: string, name?: string): Obj => docs().find((d) => d['kind'] === kind && (name === undefined || get(d, 'metadata', 'name') === name))!;
    // cert-manager's kinds are not in kubernetes-models (and its CRDs are not among the offline fixtures): checked by hand below
    const CERT_MANAGER = 'cert-manager.io/v1';
    const kubeDocs = (): Obj[] => docs().filter((d) => d['apiVersion'] !== CERT_MANAGER);
    /** The sidecar's config as vouch loads it from the ConfigMap. */
    const config = (): ReturnType<typeof loadConfig> => {
      const file = join(tmp(), 'sidecar-vouch.yaml');
      writeFileSync(file, String(get(find('ConfigMap', 'vouch-config'), 'data', 'vouch.yaml')));
      return loadConfig({ file, env: {} });
    };

    it('the checker is not vacuous: a typo, a wrong type and a missing required field are errors', async () => {
      const d = structuredClone(find('Deployment'));
      (get(d, 'spec', 'template', 'spec', 'containers', 0) as Obj)['imagee'] = 'x';
      const svc = structuredClone(find('Service'));
      (get(svc, 'spec', 'ports', 0) as Obj)['port'] = 'eighty';
      const role = structuredClone(find('Role'));
      Reflect.deleteProperty(get(role, 'rules', 0) as Obj, 'verbs');
      const errors = (await kubeErrors([d, svc, role])).join('\n');
      expect(errors).to.include("'\"imagee\"' does not exist in type 'IContainer'");
      expect(errors).to.match(/port.*(must be integer|not assignable to type 'number')/s);
      expect(errors).to.match(/verbs/);
    });

    it('sidecar/ (every resource of the kustomization) and the Kubernetes objects of pipelines/triggers/ are valid', async () => {
      const triggers = join(REPO_ROOT, 'pipelines/triggers');
      const kube = yamlFiles(triggers).flatMap((f) => yamlDocs(join(triggers, f))).filter((d) => !String(d['apiVersion']).startsWith('triggers.tekton.dev/'));
      const all = [...kubeDocs(), ...kube, ...yamlDocs(join(REPO_ROOT, 'hack/osv-sync-job.yaml'))];
      expect(all.map((d) => d['kind'])).to.include.members(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ConfigMap', 'PersistentVolumeClaim', 'Deployment', 'Service', 'ClusterRoleBinding', 'Job', 'ValidatingWebhookConfiguration', 'NetworkPolicy']);
      expect(await kubeErrors(all)).to.deep.equal([]);
    });

    it('the kustomization lists every manifest in sidecar/, each file exists, and moves nothing to another namespace', () => {
      expect(kustomization.namespace, 'a namespace transformer would move resources').to.equal(undefined);
      const manifests = yamlFiles(sidecarDir).filter((f) => f !== 'kustomization.yaml' && f !== 'config-events-patch.yaml');
      expect(kustomization.resources).to.include.members(manifests);
      const missing = kustomization.resources.filter((f) => !present.includes(f));
      // webhook.yaml (the ValidatingWebhookConfiguration) comes from the admission branch
      expect(missing.filter((f) => f !== 'webhook.yaml'), 'listed but missing').to.deep.equal([]);
      for (const d of docs()) {
        if (['Namespace', 'ValidatingWebhookConfiguration', 'ClusterRole', 'ClusterRoleBinding'].includes(String(d['kind']))) continue;
        expect(get(d, 'metadata', 'namespace'), `${String(d['kind'])} ${String(get(d, 'metadata', 'name'))}`).to.equal('vouch');
      }
    });

    it('webhook.yaml, listed in the kustomization, exists (it comes from the admission branch)', function () {
      if (!present.includes('webhook.yaml')) this.skip();
      expect(docs().map((d) => d['kind'])).to.include('ValidatingWebhookConfiguration');
    });

    it('the Deployment: non-root, read-only root, no privilege escalation, resources, probes on the paths the sidecar serves', () => {
      const d = find('Deployment');
      const pod = get(d, 'spec', 'template', 'spec') as Obj;
      const c = get(pod, 'containers', 0) as Obj;
      expect(get(pod, 'securityContext', 'runAsNonRoot')).to.equal(true);
      expect(get(pod, 'securityContext', 'runAsUser')).to.be.a('number').and.above(0);
      expect(get(c, 'securityContext')).to.deep.include({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(get(c, 'securityContext', 'capabilities', 'drop')).to.deep.equal(['ALL']);
      for (const k of ['requests', 'limits']) expect(Object.keys(get(c, 'resources', k) as Obj), k).to.have.members(['cpu', 'memory']);
      expect(get(c, 'livenessProbe', 'httpGet', 'path')).to.equal('/healthz');
      expect(get(c, 'readinessProbe', 'httpGet', 'path')).to.equal('/readyz');
      const ports = (get(c, 'ports') as Obj[]).map((p) => p['name']);
      expect(ports).to.include(get(c, 'livenessProbe', 'httpGet', 'port')).and.include(get(c, 'readinessProbe', 'httpGet', 'port'));
      const server = readFileSync(join(REPO_ROOT, 'src/sidecar/server.ts'), 'utf8');
      for (const path of ['/healthz', '/readyz', '/events']) expect(server, path).to.match(new RegExp(`app\\.(get|post)\\(\\s*'${path}'`));
      // the root filesystem is read-only: every path the config writes to is a mounted volume
      expect((get(c, 'volumeMounts') as Obj[]).map((m) => m['mountPath'])).to.include.members(['/tmp', '/var/lib/vouch']);
    });

    it("the config ConfigMap is a valid vouch config whose paths are the Deployment's mounts and port", () => {
      const cm = find('ConfigMap', 'vouch-config');
      const file = join(tmp(), 'vouch.yaml');
      writeFileSync(file, String(get(cm, 'data', 'vouch.yaml')));
      const config = loadConfig({ file, env: {} });
      expect(config.sidecar.mode).to.equal('cluster');
      const d = find('Deployment');
      const pod = get(d, 'spec', 'template', 'spec') as Obj;
      const c = get(pod, 'containers', 0) as Obj;
      const mounts = new Map((get(c, 'volumeMounts') as Obj[]).map((m) => [String(m['name']), String(m['mountPath'])]));
      const volumes = new Map((get(pod, 'volumes') as Obj[]).map((v) => [String(v['name']), v]));
      // VOUCH_CONFIG points into the ConfigMap's volume, at the key that holds the config
      const env = new Map((get(c, 'env') as Obj[]).map((e) => [String(e['name']), e]));
      expect(get(env.get('VOUCH_CONFIG'), 'value')).to.equal(`${mounts.get('config')!}/vouch.yaml`);
      expect(get(volumes.get('config'), 'configMap', 'name')).to.equal(get(cm, 'metadata', 'name'));
      // the signing key: a file of the Secret volume; its password (if any) in the env var the config names
      const keyVolume = volumes.get('signing-key')!;
      const items = (get(keyVolume, 'secret', 'items') as Obj[]).map((i) => `${mounts.get('signing-key')!}/${String(i['path'])}`);
      expect(items).to.include(config.signing.key);
      expect(get(env.get(config.signing.passwordEnv), 'valueFrom', 'secretKeyRef', 'name')).to.equal(get(keyVolume, 'secret', 'secretName'));
      for (const p of [config.sidecar.data, config.sidecar.store, config.tlog.data]) expect(p.startsWith(`${mounts.get('data')!}/`), p).to.equal(true);
      expect(get(volumes.get('data'), 'persistentVolumeClaim', 'claimName')).to.equal(get(find('PersistentVolumeClaim'), 'metadata', 'name'));
      const port = Number(config.sidecar.listen.split(':').pop());
      expect((get(c, 'ports') as Obj[]).map((p) => p['containerPort'])).to.include(port);
      expect(config.kube.namespace).to.equal(get(d, 'metadata', 'namespace'));
      // cluster mode has no token: POST /approvals accepts only the reviewers' keys, from their ConfigMap's volume
      expect(config.sidecar.reviewerKeys).to.equal(mounts.get('reviewer-keys'));
      expect(get(volumes.get('reviewer-keys'), 'configMap', 'name')).to.equal('vouch-reviewer-keys');
    });

    it('RBAC: the sidecar may get, list and patch TaskRuns and PipelineRuns, and nothing more in its namespace', () => {
      const role = find('Role');
      expect(get(role, 'rules')).to.deep.equal([{ apiGroups: ['tekton.dev'], resources: ['pipelineruns', 'taskruns'], verbs: ['get', 'list', 'patch'] }]);
      // the verbs are the ones the client uses: it never watches
      const client = readFileSync(join(REPO_ROOT, 'src/kube/client.ts'), 'utf8');
      const calls = new Set([...client.matchAll(/this\.(?:api|core)\.(\w+)\(/g)].map((m) => m[1]));
      // each API call maps to one RBAC grant: a new call must come with its rule here and in rbac.yaml
      expect([...calls].sort()).to.deep.equal(['getNamespacedCustomObject', 'listNamespacedCustomObject', 'patchNamespacedCustomObject', 'readNamespacedSecret', 'readNamespacedServiceAccount']);
      expect(client).to.not.match(/watch/i);
      const binding = find('RoleBinding');
      expect(get(binding, 'roleRef')).to.deep.equal({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: get(role, 'metadata', 'name') });
      const sa = find('ServiceAccount');
      expect(get(binding, 'subjects')).to.deep.equal([{ kind: 'ServiceAccount', name: get(sa, 'metadata', 'name'), namespace: get(sa, 'metadata', 'namespace') }]);
      expect(get(find('Deployment'), 'spec', 'template', 'spec', 'serviceAccountName')).to.equal(get(sa, 'metadata', 'name'));
    });

    it('RBAC for admission pull secrets: a ClusterRole of get on secrets and serviceaccounts, bound by no file here (per labelled namespace, documented)', () => {
      const role = find('ClusterRole', 'vouch-admission-pull-secrets');
      expect(get(role, 'rules')).to.deep.equal([{ apiGroups: [''], resources: ['secrets', 'serviceaccounts'], verbs: ['get'] }]);
      // cluster mode with admission is what reads them (src/cli/sidecar.ts)
      expect(readFileSync(join(REPO_ROOT, 'src/cli/sidecar.ts'), 'utf8')).to.match(/config\.admission\.listen !== '' && config\.sidecar\.mode === 'cluster' \? kubePullSecrets/);
      for (const d of docs()) if (String(d['kind']).endsWith('Binding')) expect(get(d, 'roleRef', 'name'), String(get(d, 'metadata', 'name'))).to.not.equal(get(role, 'metadata', 'name'));
      const docsText = readFileSync(join(REPO_ROOT, 'docs/admission.md'), 'utf8');
      expect(docsText).to.include('--clusterrole=vouch-admission-pull-secrets --serviceaccount=vouch:vouch-sidecar');
    });

    it('admission: the webhook calls the Service port that reaches admission.listen over HTTPS at /admission, with the caBundle of the Certificate the sidecar serves', () => {
      const hook = find('ValidatingWebhookConfiguration');
      const [w, ...more] = get(hook, 'webhooks') as Obj[];
      expect(more).to.deep.equal([]);
      const ref = get(w, 'clientConfig', 'service') as Obj;
      const svc = find('Service');
      expect(`${String(ref['namespace'])}/${String(ref['name'])}`).to.equal(`${String(get(svc, 'metadata', 'namespace'))}/${String(get(svc, 'metadata', 'name'))}`);
      expect(ref['path']).to.equal('/admission');
      expect(readFileSync(join(REPO_ROOT, 'src/admission/webhook.ts'), 'utf8')).to.include("if (path !== '/admission')");
      const svcPort = (get(svc, 'spec', 'ports') as Obj[]).find((p) => p['port'] === ref['port']);
      expect(svcPort, `Service port ${String(ref['port'])}`).to.not.equal(undefined);
      expect(svcPort!['name']).to.equal('https');
      const d = find('Deployment');
      const pod = get(d, 'spec', 'template', 'spec') as Obj;
      const c = get(pod, 'containers', 0) as Obj;
      const containerPort = (get(c, 'ports') as Obj[]).find((p) => p['name'] === svcPort!['targetPort']);
      const cfg = config();
      expect(cfg.admission.listen).to.match(/^0\.0\.0\.0:/);
      expect(containerPort?.['containerPort']).to.equal(Number(cfg.admission.listen.split(':').pop()));
      // the budget fits inside the API server's timeout
      expect(cfg.admission.budgetMs).to.be.below(Number(get(w, 'timeoutSeconds')) * 1000);
      // TLS: the config's files are items of the Secret cert-manager writes for the Certificate whose CA is injected
      const [injectNs, injectName] = String(get(hook, 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).split('/');
      const cert = find('Certificate', injectName);
      expect(get(cert, 'metadata', 'namespace')).to.equal(injectNs);
      const mounts = new Map((get(c, 'volumeMounts') as Obj[]).map((m) => [String(m['name']), String(m['mountPath'])]));
      const tlsVolume = (get(pod, 'volumes') as Obj[]).find((v) => get(v, 'secret', 'secretName') === get(cert, 'spec', 'secretName'));
      expect(tlsVolume, 'a volume of the Certificate Secret').to.not.equal(undefined);
      const tlsFiles = (get(tlsVolume, 'secret', 'items') as Obj[]).map((i) => `${mounts.get(String(tlsVolume!['name']))!}/${String(i['path'])}`);
      expect(tlsFiles).to.have.members([cfg.admission.tlsCert, cfg.admission.tlsKey]);
      expect((get(tlsVolume, 'secret', 'items') as Obj[]).map((i) => i['key'])).to.have.members(['tls.crt', 'tls.key']);
      // the certificate names what the API server dials, and its issuer is here
      const host = `${String(ref['name'])}.${String(ref['namespace'])}.svc`;
      expect(get(cert, 'spec', 'dnsNames')).to.include(host);
      const issuerRef = get(cert, 'spec', 'issuerRef') as Obj;
      expect(issuerRef).to.deep.include({ kind: 'Issuer', group: 'cert-manager.io' });
      const issuer = find('Issuer', String(issuerRef['name']));
      expect(get(issuer, 'metadata', 'namespace')).to.equal(get(cert, 'metadata', 'namespace'));
      // two levels: the serving certificate is issued by a CA Issuer whose Secret a self-signed CA Certificate writes,
      // so the injected caBundle (the CA) stays the same across renewals of the serving certificate
      const caSecret = String(get(issuer, 'spec', 'ca', 'secretName'));
      const ca = docs().find((d) => d['kind'] === 'Certificate' && get(d, 'spec', 'secretName') === caSecret);
      expect(ca, `a Certificate writing the CA Issuer's Secret ${caSecret}`).to.not.equal(undefined);
      expect(get(ca, 'spec', 'isCA')).to.equal(true);
      expect(get(cert, 'spec', 'isCA')).to.not.equal(true);
      const hours = (d: Obj | undefined): number => Number(/^([0-9]+)h$/.exec(String(get(d, 'spec', 'duration')))![1]);
      expect(hours(ca)).to.be.greaterThan(hours(cert));
      const root = find('Issuer', String(get(ca, 'spec', 'issuerRef', 'name')));
      expect(get(root, 'metadata', 'namespace')).to.equal(get(cert, 'metadata', 'namespace'));
      expect(get(root, 'spec')).to.deep.equal({ selfSigned: {} });
      // cert-manager's fields as its v1 API spells them (no CRD schema offline: the known keys by hand)
      for (const c2 of [cert, ca!]) expect(Object.keys(get(c2, 'spec') as Obj)).to.satisfy((ks: string[]) => ks.every((k) => ['secretName', 'dnsNames', 'duration', 'renewBefore', 'privateKey', 'usages', 'issuerRef', 'commonName', 'isCA'].includes(k)));
      expect(get(cert, 'spec', 'usages')).to.include('server auth');
      // the namespaces it judges are the ones the docs tell you to label
      const [[labelKey, labelValue]] = Object.entries(get(w, 'namespaceSelector', 'matchLabels') as Record<string, string>) as [[string, string]];
      for (const doc of ['README.md', 'docs/admission.md', 'docs/cluster.md']) expect(readFileSync(join(REPO_ROOT, doc), 'utf8'), doc).to.include(`kubectl label namespace`).and.include(`${labelKey}=${labelValue}`);
    });

    it('admission: the policy the sidecar loads is the example ConfigMap, valid for the real parser, beside the signer key it trusts', () => {
      const cfg = config();
      const d = find('Deployment');
      const pod = get(d, 'spec', 'template', 'spec') as Obj;
      const c = get(pod, 'containers', 0) as Obj;
      const mounts = get(c, 'volumeMounts') as Obj[];
      // no volume is mounted inside another (the kubelet would have to create the mount point in a read-only volume)
      for (const m of mounts) for (const n of mounts) if (m !== n) expect(String(n['mountPath']).startsWith(`${String(m['mountPath'])}/`), `${String(n['mountPath'])} in ${String(m['mountPath'])}`).to.equal(false);
      const mount = mounts.find((m) => cfg.admission.policy.startsWith(`${String(m['mountPath'])}/`));
      expect(mount, `a mount holding ${cfg.admission.policy}`).to.not.equal(undefined);
      const volume = (get(pod, 'volumes') as Obj[]).find((v) => v['name'] === mount!['name'])!;
      // lay the projected volume out as the kubelet does, from the manifests (and a fresh key for the user's Secret)
      const dir = join(tmp(), 'admission-volume');
      mkdirSync(dir, { recursive: true });
      const signingKeyVolume = (get(pod, 'volumes') as Obj[]).find((v) => v['name'] === 'signing-key')!;
      for (const source of get(volume, 'projected', 'sources') as Obj[]) {
        for (const item of (get(source, 'configMap', 'items') ?? get(source, 'secret', 'items')) as Obj[]) {
          const out = join(dir, String(item['path']));
          if (source['configMap']) writeFileSync(out, String(get(find('ConfigMap', String(get(source, 'configMap', 'name'))), 'data', String(item['key']))));
          else {
            // the public half of the Secret the signing key comes from (README: --from-file=signing.pub=...)
            expect(get(source, 'secret', 'name')).to.equal(get(signingKeyVolume, 'secret', 'secretName'));
            expect(item['key']).to.equal('signing.pub');
            writeFileSync(out, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
          }
        }
      }
      const policyFile = join(dir, cfg.admission.policy.slice(String(mount!['mountPath']).length + 1));
      const policies = loadAdmissionPolicies(policyFile);
      expect(policies.map((p) => p.name)).to.deep.equal(['prod']);
      expect(policies[0]!.keys).to.have.length(1);
      expect(policies[0]!.mode).to.equal('enforce');
      // the README's Secret command supplies that key
      expect(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')).to.include('--from-file=signing.pub=signing.pub');
      // approvals where the sidecar's approvals API writes them; the audit log on the writable data volume
      expect(cfg.admission.approvals).to.equal(`${cfg.sidecar.data}/approvals`);
      const dataMount = String(mounts.find((m) => m['name'] === 'data')!['mountPath']);
      expect(cfg.admission.auditLog.startsWith(`${dataMount}/`), cfg.admission.auditLog).to.equal(true);
      expect(get(c, 'securityContext', 'readOnlyRootFilesystem')).to.equal(true);
    });

    it('a probe: the policy parser refuses the example with a typo, so the check above can fail', () => {
      const text = String(get(find('ConfigMap', 'vouch-admission-policy'), 'data', 'policy.yaml')).replace('blockSeverities:', 'blockSeverity:');
      const dir = join(tmp(), 'admission-probe');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'signing.pub'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(join(dir, 'policy.yaml'), text);
      expect(() => loadAdmissionPolicies(join(dir, 'policy.yaml'))).to.throw(/spec\.blockSeverity: unknown field/);
    });

    it("NetworkPolicy: TaskRun pods' egress is denied but for DNS and the sidecar's approvals; clone, agent-run and build get their own HTTPS", () => {
      const policies = docs().filter((d) => d['kind'] === 'NetworkPolicy');
      const taskRunPods = { key: 'tekton.dev/pipelineRun', operator: 'Exists' };
      const deny = policies.find((p) => get(p, 'metadata', 'name') === 'vouch-taskruns-default-deny-egress')!;
      expect(get(deny, 'metadata', 'namespace')).to.equal(config().kube.namespace);
      expect(get(deny, 'spec', 'podSelector')).to.deep.equal({ matchExpressions: [taskRunPods] });
      expect(get(deny, 'spec', 'policyTypes')).to.deep.equal(['Egress']);
      const [dns, sidecar, ...rest] = get(deny, 'spec', 'egress') as Obj[];
      expect(rest).to.deep.equal([]);
      expect((get(dns, 'ports') as Obj[]).map((p) => `${String(p['protocol'])}/${String(p['port'])}`)).to.have.members(['UDP/53', 'TCP/53']);
      // the sidecar rule names the sidecar's pods and the container port behind the Service the gate calls
      const podLabels = get(find('Deployment'), 'spec', 'template', 'metadata', 'labels') as Obj;
      for (const [k, v] of Object.entries(get(sidecar, 'to', 0, 'podSelector', 'matchLabels') as Obj)) expect(podLabels[k], k).to.equal(v);
      const http = (get(find('Deployment'), 'spec', 'template', 'spec', 'containers', 0, 'ports') as Obj[]).find((p) => p['name'] === 'http')!;
      expect(get(sidecar, 'ports')).to.deep.equal([{ protocol: 'TCP', port: http['containerPort'] }]);
      // the per-task allowances select pipeline tasks that exist, and only TaskRun pods
      const taskNames = new Set((pipeline.resource.spec.tasks ?? []).map((t) => t.name));
      const allowed = policies.filter((p) => p !== deny).map((p) => {
        const exprs = get(p, 'spec', 'podSelector', 'matchExpressions') as Obj[];
        expect(exprs).to.deep.include(taskRunPods);
        const byTask = exprs.find((e) => e['key'] === 'tekton.dev/pipelineTask')!;
        for (const t of byTask['values'] as string[]) expect(taskNames.has(t), t).to.equal(true);
        for (const rule of get(p, 'spec', 'egress') as Obj[]) expect(get(rule, 'to', 0, 'ipBlock', 'except')).to.include('169.254.169.254/32');
        return (byTask['values'] as string[]).join();
      });
      expect(allowed).to.have.members(['clone', 'agent-run', 'build']);
    });

    it("Tekton's config-events sink, patched, points at the sidecar Service's /events and stays a valid ConfigMap", async () => {
      const patch = parse(readFileSync(join(sidecarDir, 'config-events-patch.yaml'), 'utf8')) as { data: Record<string, string> };
      const upstream = parse(readFileSync(join(SHARED, 'fixtures/tekton/config-events.yaml'), 'utf8')) as Obj;
      const merged = { ...upstream, data: { ...(upstream['data'] as Obj), ...patch.data } };
      expect(await kubeErrors([merged])).to.deep.equal([]);
      expect(patch.data['formats']).to.equal('tektonv1');
      const svc = find('Service');
      expect((get(svc, 'spec', 'ports') as Obj[])[0]!['name']).to.equal('http');
      const d = find('Deployment');
      const podLabels = get(d, 'spec', 'template', 'metadata', 'labels') as Obj;
      for (const [k, v] of Object.entries(get(svc, 'spec', 'selector') as Obj)) expect(podLabels[k], k).to.equal(v);
      const port = (get(svc, 'spec', 'ports') as Obj[])[0]!;
      const containerPorts = (get(d, 'spec', 'template', 'spec', 'containers', 0, 'ports') as Obj[]).map((p) => p['name']);
      expect(containerPorts).to.include(port['targetPort']);
      const host = `${String(get(svc, 'metadata', 'name'))}.${String(get(svc, 'metadata', 'namespace'))}.svc.cluster.local`;
      expect(patch.data['sink']).to.equal(`http://${host}${port['port'] === 80 ? '' : `:${String(port['port'])}`}/events`);
      // triggered runs' gates read approvals from the same Service
      const template = yamlDocs(join(REPO_ROOT, 'pipelines/triggers/triggertemplate.yaml'))[0]!;
      const runParams = get(template, 'spec', 'resourcetemplates', 0, 'spec', 'params') as { name: string; value: string }[];
      expect(runParams.find((p) => p.name === 'approvals')?.value).to.equal(`http://${host}${port['port'] === 80 ? '' : `:${String(port['port'])}`}`);
    });

    it('the ValidatingWebhookConfiguration (when present) calls a Service of this kustomization', function () {
      const hook = docs().find((d) => d['kind'] === 'ValidatingWebhookConfiguration');
      if (!hook) this.skip();
      const services = docs().filter((d) => d['kind'] === 'Service').map((d) => `${String(get(d, 'metadata', 'namespace'))}/${String(get(d, 'metadata', 'name'))}`);
      for (const w of get(hook, 'webhooks') as Obj[]) expect(services).to.include(`${String(get(w, 'clientConfig', 'service', 'namespace'))}/${String(get(w, 'clientConfig', 'service', 'name'))}`);
    });
  });

  describe('Dockerfile', () => {
    const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    it('multi-stage from Node 24 slim pinned by digest, production dependencies only, non-root, runs the vouch CLI', () => {
      const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
      expect(base).to.match(/^node:24-[a-z]+-slim@sha256:[0-9a-f]{64}$/);
      expect(text.match(/^FROM \$\{NODE_IMAGE\}/gm)).to.have.length(2);
      expect(text).to.match(/npm ci --omit=dev/);
      const user = /^USER (\S+)$/m.exec(text)?.[1] ?? '';
      expect(user.split(':')[0]).to.match(/^[1-9][0-9]*$/);
      expect(text).to.include('ENTRYPOINT ["node", "/opt/vouch/src/cli/main.ts"]');
      for (const dir of ['src', 'tasks', 'pipelines']) expect(text).to.include(`COPY ${dir} ./${dir}`);
      // what the image runs at run time is in "dependencies", not devDependencies
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      for (const dep of ['typescript', 'yaml', 'commander', '@bufbuild/cel']) expect(pkg.dependencies, dep).to.have.property(dep);
      expect(require.resolve('kubernetes-models/package.json')).to.be.a('string');
    });
  });
});

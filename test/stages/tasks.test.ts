// The Task YAMLs in tasks/ are used for real: they validate with the tekton room's rules, and the clone and secrets
// Tasks run under `vouch run` (sandboxed steps, no network) in a small Pipeline from test/stages/fixtures.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadFile, validateTask, type Loaded, type Task } from '../../src/tekton/index.ts';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, filesUnder, git, initRepo, policyYaml, requireTool, sshKey, type SshKey } from './helpers.ts';

const TASKS = join(REPO_ROOT, 'tasks');
const PIPELINE = join(REPO_ROOT, 'test/stages/fixtures/verify-change.yaml');
const AWS_KEY_ID = 'AKIAW2RT6YHN8UJM4KOL';

interface PipelineRunFile {
  status: { conditions: { reason: string }[]; results?: { name: string; value: string }[] };
}
interface TaskRunFile {
  metadata: { labels: Record<string, string> };
  status: { conditions: { reason: string; message: string }[]; results?: { name: string; value: string }[] };
}

describe('tasks/ (Task YAMLs)', function () {
  this.timeout(120_000);

  it('every file in tasks/ is a valid Tekton v1 Task (tekton room: loadFile + validateTask)', async () => {
    const files = readdirSync(TASKS).filter((f) => /\.ya?ml$/.test(f));
    expect(files).to.include.members(['clone.yaml', 'secrets.yaml']);
    for (const f of files) {
      const docs = await loadFile(join(TASKS, f));
      expect(docs.length, f).to.be.greaterThan(0);
      for (const doc of docs) {
        expect(doc.kind, f).to.equal('Task');
        const spec = validateTask(doc as Loaded<Task>);
        // every step runs vouch's own image with `task <stage>`, so the same CLI runs in a cluster and under vouch run
        for (const step of spec.steps) {
          expect(step.image, f).to.match(/^ghcr\.io\/vouch-dev\/vouch:/);
          expect(step.args?.[0], f).to.equal('task');
        }
        // gate evidence is an object result the sidecar reads (CONTRACTS.md): exactly these three string properties
        for (const r of spec.results ?? []) {
          if (!r.name.endsWith('_EVIDENCE')) continue;
          expect(r.type, `${f} ${r.name}`).to.equal('object');
          expect(r.properties, `${f} ${r.name}`).to.deep.equal({ predicateType: { type: 'string' }, uri: { type: 'string' }, digest: { type: 'string' } });
          expect(spec.steps.some((st) => st.args?.includes(`${r.name}=$(results.${r.name}.path)`)), `${f} ${r.name} is passed to the stage`).to.equal(true);
        }
        // a Task with gate evidence offers its OCI transport (docs/evidence.md): the repository param (default: off)
        // and the optional dockerconfig workspace, both handed to the stage
        if ((spec.results ?? []).some((r) => r.name.endsWith('_EVIDENCE'))) {
          expect(spec.params?.find((p) => p.name === 'evidence-repository')?.default, `${f} evidence-repository`).to.equal('');
          expect(spec.workspaces?.find((w) => w.name === 'dockerconfig')?.optional, `${f} dockerconfig`).to.equal(true);
          const args = spec.steps.flatMap((st) => st.args ?? []);
          expect(args.join(' '), f).to.include('--evidence-repository $(params.evidence-repository)').and.include('--docker-config $(workspaces.dockerconfig.path)');
        }
      }
    }
  });

  describe('under vouch run, sandboxed, no network', () => {
    const tmp = tempDirPerSuite('vouch-tasks-');
    // the sandbox hides /tmp: the upstream repository lives where steps can read it
    let upstreamRoot = '';
    let alice: SshKey;
    let upstream: string;
    let n = 0;

    before(() => {
      requireTool('git');
      requireTool('ssh-keygen');
      requireTool('bwrap');
      upstreamRoot = mkdtempSync('/var/tmp/vouch-tasks-');
      alice = sshKey(tmp(), 'alice');
      upstream = initRepo(join(upstreamRoot, 'upstream'));
      commit(upstream, { '.vouch/policy.yaml': policyYaml({ requireSignedHead: true, signers: [{ principal: 'alice@example.com', key: alice }] }) }, 'policy');
      git(upstream, ['tag', 'base']);
      commit(upstream, { 'src/sum.ts': 'export const sum = (a: number, b: number) => a + b;\n' }, 'add sum', { signWith: alice });
      git(upstream, ['branch', 'clean']);
      git(upstream, ['checkout', '--quiet', 'base']);
      commit(upstream, { 'src/aws.ts': `export const keyId = "${AWS_KEY_ID}";\n` }, 'agent: aws client', { signWith: alice, trailers: { 'Agent-Run': 'run-9' } });
      git(upstream, ['branch', 'leaky']);
      git(upstream, ['checkout', '--quiet', 'base']);
      commit(upstream, { 'src/x.ts': 'export const x = 1;\n' }, 'unsigned');
      git(upstream, ['branch', 'unsigned']);
    });
    after(() => {
      if (upstreamRoot) rmSync(upstreamRoot, { recursive: true, force: true });
    });

    async function run(revision: string): Promise<{ code: number | null; stderr: string; runDir: string; pipelineRun: PipelineRunFile; taskRuns: Map<string, TaskRunFile> }> {
      const runDir = join(tmp(), `run-${String(++n)}`);
      const r = await runVouch(['run', '--pipeline', PIPELINE, '--tasks', TASKS, '-p', `url=${upstream}`, '-p', `revision=${revision}`, '-p', 'base-revision=base', '--run-dir', runDir, '--json'], { timeoutMs: 100_000 });
      const pipelineRun = JSON.parse(readFileSync(join(runDir, 'pipelinerun.json'), 'utf8')) as PipelineRunFile;
      const taskRuns = new Map<string, TaskRunFile>();
      for (const f of readdirSync(join(runDir, 'taskruns'))) {
        const tr = JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as TaskRunFile;
        taskRuns.set(tr.metadata.labels['tekton.dev/pipelineTask'] ?? f, tr);
      }
      return { code: r.code, stderr: r.stderr, runDir, pipelineRun, taskRuns };
    }

    const resultOf = (tr: TaskRunFile | undefined, name: string): string | undefined => tr?.status.results?.find((x) => x.name === name)?.value;

    it('a signed, clean change: clone and secrets succeed, results flow from clone to secrets', async () => {
      const r = await run('clean');
      expect(r.code, r.stderr).to.equal(0);
      const clone = r.taskRuns.get('clone');
      const secrets = r.taskRuns.get('secrets');
      expect(clone?.status.conditions[0]?.reason).to.equal('Succeeded');
      expect(secrets?.status.conditions[0]?.reason).to.equal('Succeeded');
      const head = git(upstream, ['rev-parse', 'clean']).trim();
      expect(resultOf(clone, 'commit')).to.equal(head);
      expect(resultOf(clone, 'CHAINS-GIT_COMMIT')).to.equal(head);
      expect(resultOf(clone, 'CHAINS-GIT_URL')).to.equal(`file://${upstream}`);
      expect(JSON.parse(resultOf(clone, 'TEST_OUTPUT') ?? '{}')).to.include({ result: 'SUCCESS' });
      expect(JSON.parse(resultOf(secrets, 'TEST_OUTPUT') ?? '{}')).to.include({ result: 'SUCCESS', failures: 0 });
      expect(r.pipelineRun.status.results?.find((x) => x.name === 'commit')?.value).to.equal(head);
      // both reports are in the shared workspace
      const ws = join(r.runDir, 'workspaces/source/.vouch/reports');
      expect(readdirSync(ws).sort()).to.deep.equal(['clone', 'secrets']);
    });

    it('an AWS key in the change fails the secrets TaskRun, and the key is in no log, result or report', async () => {
      const r = await run('leaky');
      expect(r.code).to.equal(1);
      const secrets = r.taskRuns.get('secrets');
      expect(r.taskRuns.get('clone')?.status.conditions[0]?.reason).to.equal('Succeeded');
      expect(secrets?.status.conditions[0]?.reason).to.equal('Failed');
      expect(JSON.parse(resultOf(secrets, 'TEST_OUTPUT') ?? '{}')).to.include({ result: 'FAILURE', failures: 1 });
      const log = readFileSync(join(r.runDir, 'logs/secrets/scan.log'), 'utf8');
      expect(log).to.include('src/aws.ts:1:23').and.include('vouch/aws-access-key-id');
      const outputs = [...filesUnder(join(r.runDir, 'logs')), ...filesUnder(join(r.runDir, 'taskruns')), join(r.runDir, 'pipelinerun.json'), ...filesUnder(join(r.runDir, 'workspaces/source/.vouch/reports/secrets'))];
      for (const f of outputs) expect(readFileSync(f, 'utf8').includes(AWS_KEY_ID), f).to.equal(false);
    });

    it('an unsigned head under the base policy fails the clone TaskRun with the reason in its log', async () => {
      const r = await run('unsigned');
      expect(r.code).to.equal(1);
      const clone = r.taskRuns.get('clone');
      expect(clone?.status.conditions[0]?.reason).to.equal('Failed');
      expect(clone?.status.conditions[0]?.message).to.include('"step-clone" exited with code 1');
      expect(readFileSync(join(r.runDir, 'logs/clone/clone.log'), 'utf8')).to.include('requires a human signature on the head commit');
      expect(r.taskRuns.has('secrets')).to.equal(false);
    });
  });
});

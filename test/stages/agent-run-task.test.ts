// tasks/agent-run.yaml under `vouch run`: the agent's bubblewrap sandbox nests inside the runner's step sandbox (the
// Task runs its step as a non-root user), results flow to the secrets Task, and `changed` stops the pipeline cleanly.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, git, initRepo, requireTool } from './helpers.ts';

const PIPELINE = join(REPO_ROOT, 'test/stages/fixtures/agent-change.yaml');
const SCRIPTED = join(REPO_ROOT, 'hack/agent/scripted-agent.ts');
const LEAKED_KEY = 'AKIAR5TW8QZ2MX7NP3LD';

interface TaskRunFile {
  metadata: { labels: Record<string, string> };
  status: { conditions: { reason: string }[]; results?: { name: string; value: unknown }[] };
}

interface Run {
  code: number | null;
  stderr: string;
  runDir: string;
  reason: string | undefined;
  skipped: { name: string; reason: string }[];
  results: Map<string, string>;
  taskRuns: Map<string, TaskRunFile>;
}

describe('tasks/agent-run.yaml under vouch run (nested sandbox)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-agent-task-');
  let upstreamRoot = '';
  let upstream = '';
  let n = 0;

  before(() => {
    requireTool('git');
    requireTool('bwrap');
    upstreamRoot = mkdtempSync('/var/tmp/vouch-agent-task-');
    upstream = initRepo(join(upstreamRoot, 'upstream'));
    commit(upstream, { 'src/math.ts': 'export const sum = (a: number, b: number): number => a + b;\n', 'deploy/aws.txt': `${LEAKED_KEY}\n` }, 'base');
  });
  after(() => {
    if (upstreamRoot) rmSync(upstreamRoot, { recursive: true, force: true });
  });

  async function run(actions: string): Promise<Run> {
    const runDir = join(tmp(), `run-${String(++n)}`);
    const r = await runVouch(['run', '--pipeline', PIPELINE, '--tasks', join(REPO_ROOT, 'tasks'), '-p', `url=${upstream}`, '-p', 'revision=main', '-p', `agent=node ${SCRIPTED} ${actions}`, '-p', 'prompt=Add a greeting', '--run-dir', runDir, '--json'], { timeoutMs: 110_000 });
    const pr = JSON.parse(readFileSync(join(runDir, 'pipelinerun.json'), 'utf8')) as { status: { conditions: { reason: string }[]; results?: { name: string; value: string }[]; skippedTasks?: { name: string; reason: string }[] } };
    const taskRuns = new Map<string, TaskRunFile>();
    for (const f of readdirSync(join(runDir, 'taskruns'))) {
      const tr = JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as TaskRunFile;
      taskRuns.set(tr.metadata.labels['tekton.dev/pipelineTask'] ?? f, tr);
    }
    return { code: r.code, stderr: r.stderr, runDir, reason: pr.status.conditions[0]?.reason, skipped: pr.status.skippedTasks ?? [], results: new Map((pr.status.results ?? []).map((x) => [x.name, x.value])), taskRuns };
  }

  const reasonOf = (r: Run, task: string): string | undefined => r.taskRuns.get(task)?.status.conditions[0]?.reason;

  it('the agent runs nested, commits on the branch, the secrets Task judges its change and the evidence result is an object', async () => {
    const r = await run('write:src/greeting.ts connect:evil.example:443');
    expect(r.code, r.stderr).to.equal(0);
    expect(reasonOf(r, 'agent-run')).to.equal('Succeeded');
    expect(reasonOf(r, 'secrets')).to.equal('Succeeded');
    expect(r.results.get('changed')).to.equal('true');
    const ws = join(r.runDir, 'workspaces/source');
    expect(git(ws, ['rev-parse', 'HEAD']).trim()).to.equal(r.results.get('agent-commit'));
    const reports = join(ws, '.vouch/reports/agent-run');
    const predicate = JSON.parse(readFileSync(join(reports, 'predicate.json'), 'utf8')) as { sandbox: { proc: string }; egress: { refused: number } };
    // nested: the agent gets its own pid namespace but no /proc (the kernel refuses a new procfs there)
    expect(predicate.sandbox.proc).to.equal('none');
    expect(predicate.egress.refused).to.equal(1);
    expect(r.results.get('evidence-digest')).to.equal(`sha256:${createHash('sha256').update(readFileSync(join(reports, 'predicate.json'))).digest('hex')}`);
    const evidence = r.taskRuns.get('agent-run')?.status.results?.find((x) => x.name === 'AGENT_RUN_EVIDENCE')?.value as Record<string, string>;
    expect(evidence).to.include({ predicateType: 'https://vouch.dev/attestation/agent-run/v0.1', uri: `file://${join(reports, 'predicate.json')}` });
  });

  it('an agent that repeats a secret: the transcript is redacted and the secrets Task fails the run', async () => {
    const r = await run('say-file:deploy/aws.txt write:src/greeting.ts');
    expect(r.code).to.equal(1);
    expect(reasonOf(r, 'agent-run')).to.equal('Succeeded');
    expect(reasonOf(r, 'secrets')).to.equal('Failed');
    expect(readFileSync(join(r.runDir, 'logs/secrets/scan.log'), 'utf8')).to.include('vouch/agent-run-redacted');
    expect(readFileSync(join(r.runDir, 'workspaces/source/.vouch/reports/agent-run/transcript.jsonl'), 'utf8')).to.not.include(LEAKED_KEY);
  });

  it('no change: agent-run succeeds with changed=false and the rest of the pipeline is skipped', async () => {
    const r = await run('noop');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.reason).to.equal('Completed');
    expect(r.results.get('changed')).to.equal('false');
    expect(r.taskRuns.has('secrets')).to.equal(false);
    expect(r.skipped.map((x) => [x.name, x.reason])).to.deep.equal([['secrets', 'When Expressions evaluated to false']]);
    expect(readFileSync(join(r.runDir, 'logs/agent-run/agent.log'), 'utf8')).to.include('no change: the agent exited successfully without changing any file');
  });
});

// Real Tekton YAML pipelines run by the local executor, each step sandboxed with bubblewrap.
import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { sha256Hex } from '../../src/common/digest.ts';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { isVouchError } from '../../src/common/errors.ts';
import { MemorySink } from '../../src/runner/events.ts';
import { planRun } from '../../src/runner/plan.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FIXTURES, runFixture } from './helpers.ts';
import { captureLogs } from '../helpers/log.ts';
import { configureLogging } from '../../src/common/log.ts';

describe('vouch run: pipelines', function () {
  this.timeout(30_000);
  let root = '';
  beforeEach(() => {
    root = tempDir('vouch-run-');
  });
  afterEach(() => { rmSync(root, { recursive: true, force: true }); });
  const runDir = (): string => join(root, 'run');

  it('fans out and in, running independent tasks at the same time (each waits for the other)', async () => {
    const r = await runFixture('fanout.yaml', runDir());
    expect(r.succeeded, JSON.stringify(r.pipelineRun.status?.conditions)).to.equal(true);
    expect(r.log('b', 'wait-for-other')).to.include('b saw c');
    expect(r.log('c', 'wait-for-other')).to.include('c saw b');
    expect(r.log('d', 'join')).to.include('joined');
    // d starts only after b and c ended, b and c only after a
    const order = r.view.records.filter((x) => x.kind === 'TaskRun' && x.reason === 'Started').map((x) => x.pipelineTask);
    expect(order[0]).to.equal('a');
    expect(order[3]).to.equal('d');
    const c = r.pipelineRun.status!.conditions![0]!;
    expect(c).to.include({ status: 'True', reason: 'Succeeded', message: 'Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 0' });
  });

  it('makes TaskRuns and a PipelineRun shaped as Tekton makes them, written under the run directory', async () => {
    const r = await runFixture('fanout.yaml', runDir());
    const pr = r.pipelineRun;
    const name = pr.metadata.name!;
    expect(name).to.match(/^fanout-run-[a-z0-9]{5}$/);
    expect(pr.metadata).to.include({ namespace: 'default' });
    expect(pr.metadata.uid).to.match(/^[0-9a-f-]{36}$/);
    expect(pr.metadata.labels).to.deep.include({ 'tekton.dev/pipeline': 'fanout' });
    const tr = r.taskRun('b');
    expect(tr.metadata.name).to.equal(`${name}-b`);
    expect(tr.metadata.labels).to.deep.include({
      'app.kubernetes.io/managed-by': 'tekton-pipelines',
      'tekton.dev/pipelineRun': name,
      'tekton.dev/pipelineRunUID': pr.metadata.uid,
      'tekton.dev/pipelineTask': 'b',
      'tekton.dev/task': 'rendezvous',
      'tekton.dev/pipeline': 'fanout',
      // the Task's own labels propagate
      'app.kubernetes.io/version': '0.1',
    });
    expect(tr.metadata.ownerReferences).to.deep.equal([{ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', name, uid: pr.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(tr.spec.taskRef).to.deep.equal({ kind: 'Task', name: 'rendezvous' });
    // which Task file ran, by digest, as a resolver's refSource records it (and the Pipeline's file on the run)
    const taskFile = join(FIXTURES, 'tasks', 'rendezvous.yaml');
    expect(tr.status!.provenance!.refSource).to.deep.equal({ uri: pathToFileURL(taskFile).href, digest: { sha256: sha256Hex(readFileSync(taskFile)) }, entryPoint: taskFile });
    expect(pr.status!.provenance!.refSource!.digest).to.deep.equal({ sha256: sha256Hex(readFileSync(join(FIXTURES, 'fanout.yaml'))) });
    expect(r.taskRun('a').status!.provenance).to.equal(undefined);
    expect(tr.spec.params).to.deep.equal([{ name: 'me', value: 'b' }, { name: 'other', value: 'c' }]);
    expect(tr.status!.podName).to.equal(`${name}-b-pod`);
    expect(tr.status!.taskSpec!.steps[0]!.name).to.equal('wait-for-other');
    expect(tr.status!.steps![0]).to.deep.include({ name: 'wait-for-other', container: 'step-wait-for-other', terminationReason: 'Completed' });
    expect(tr.status!.steps![0]!.terminated!.exitCode).to.equal(0);
    expect(tr.status!.startTime).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(tr.status!.completionTime).to.be.a('string');
    expect(pr.status!.childReferences!.map((c) => c.pipelineTaskName)).to.have.members(['a', 'b', 'c', 'd']);
    expect(pr.status!.childReferences![0]).to.deep.equal({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: `${name}-a`, pipelineTaskName: 'a' });
    expect(readdirSync(join(r.runDir, 'taskruns')).sort()).to.deep.equal([`${name}-a.json`, `${name}-b.json`, `${name}-c.json`, `${name}-d.json`]);
    expect(existsSync(join(r.runDir, 'pipelinerun.json'))).to.equal(true);
    expect(existsSync(join(r.runDir, 'logs', 'a', 'start.log'))).to.equal(true);
  });

  it('passes string, array and object results between tasks, and into pipeline results', async () => {
    const r = await runFixture('results.yaml', runDir());
    expect(r.succeeded, r.log('consume', 'check')).to.equal(true);
    expect(r.taskRun('produce').status!.results).to.deep.equal([
      { name: 'greeting', type: 'string', value: 'hello world' },
      { name: 'names', type: 'array', value: ['ann', 'bob', 'cy d'] },
      { name: 'image', type: 'object', value: { url: 'registry.local/app', digest: 'sha256:abc' } },
    ]);
    expect(r.taskRun('consume').spec.params).to.deep.include({ name: 'names', value: ['ann', 'bob', 'cy d'] });
    const child = r.pipelineRun.status!.childReferences!.find((c) => c.pipelineTaskName === 'produce')!;
    expect(child.displayName).to.equal(`Produce results for ${r.pipelineRun.metadata.name!}`);
    expect(r.pipelineRun.status!.results).to.deep.equal([
      { name: 'greeting', value: 'hello world' },
      { name: 'checked', value: 'ok:ann' },
    ]);
  });

  it('skips on `when` and propagates skips as Tekton does', async () => {
    const r = await runFixture('when.yaml', runDir());
    const c = r.pipelineRun.status!.conditions![0]!;
    expect(c).to.include({ status: 'True', reason: 'Completed', message: 'Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 4' });
    const skipped = Object.fromEntries(r.pipelineRun.status!.skippedTasks!.map((s) => [s.name, s]));
    expect(skipped['gated']).to.deep.equal({
      name: 'gated',
      reason: 'When Expressions evaluated to false',
      whenExpressions: [{ input: 'no', operator: 'in', values: ['yes'] }],
    });
    expect(skipped['needs-gated-result']!.reason).to.equal('Results were missing');
    expect(skipped['grandchild']!.reason).to.equal('Parent Tasks were skipped');
    expect(skipped['slow-only']!.reason).to.equal('When Expressions evaluated to false');
    // a task that only runs after a when-skipped task still runs
    expect(r.taskRun('after-gated').status!.conditions![0]!.reason).to.equal('Succeeded');
    expect(r.taskRuns.map((t) => t.metadata.labels!['tekton.dev/pipelineTask']).sort()).to.deep.equal(['after-gated', 'check']);
  });

  it('fails a task on a failing step (skipping the rest), stops the DAG, and runs finally with $(tasks.status)', async () => {
    const r = await runFixture('finally.yaml', runDir());
    expect(r.succeeded).to.equal(false);
    const name = r.pipelineRun.metadata.name!;
    expect(r.pipelineRun.status!.conditions![0]).to.include({ status: 'False', reason: 'Failed', message: 'Tasks Completed: 4 (Failed: 1, Cancelled 0), Skipped: 2' });
    const boom = r.taskRun('boom');
    expect(boom.status!.conditions![0]).to.include({ status: 'False', reason: 'Failed', message: '"step-fail" exited with code 3' });
    expect(boom.status!.steps!.map((s) => [s.name, s.terminated!.exitCode, s.terminationReason])).to.deep.equal([
      ['fail', 3, 'Error'],
      ['after', 1, 'Skipped'],
    ]);
    expect(r.log('boom', 'fail')).to.include('about to fail');
    expect(existsSync(join(r.runDir, 'logs', 'boom', 'after.log'))).to.equal(false);
    const skipped = Object.fromEntries(r.pipelineRun.status!.skippedTasks!.map((s) => [s.name, s.reason]));
    expect(skipped).to.deep.equal({ downstream: 'PipelineRun was stopping', 'only-on-success': 'When Expressions evaluated to false' });
    expect(r.taskRun('report').status!.results).to.deep.equal([{ name: 'seen', type: 'string', value: 'Failed Failed Succeeded None / written before failing' }]);
    expect(r.taskRun('boom').status!.results).to.deep.equal([{ name: 'partial', type: 'string', value: 'written before failing' }]);
    expect(r.taskRun('report').metadata.labels!['tekton.dev/memberOf']).to.equal('finally');
    expect(r.taskRun('only-on-failure').status!.conditions![0]!.reason).to.equal('Succeeded');
    expect(r.pipelineRun.status!.finallyStartTime).to.be.a('string');
    // the failing step's log reaches the view
    const failed = r.view.records.find((x) => x.kind === 'TaskRun' && x.state === 'failed');
    expect(failed?.failedStepLog).to.equal(join(r.runDir, 'logs', 'boom', 'fail.log'));
    expect(name).to.match(/^finally-run-/);
  });

  it('is PipelineRunStopping while a task still runs after another failed, and starts nothing new', async () => {
    const memory = new MemorySink();
    const r = await runFixture('stopping.yaml', runDir(), { sinks: [memory] });
    expect(r.pipelineRun.status!.conditions![0]).to.include({ status: 'False', reason: 'Failed', message: 'Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1' });
    expect(r.view.records.some((x) => x.kind === 'PipelineRun' && x.reason === 'PipelineRunStopping')).to.equal(true);
    // Unknown with a reason other than Started/Running is Tekton's "unknown" event
    expect(memory.events.some((e) => e.type === 'dev.tekton.event.pipelinerun.unknown.v1')).to.equal(true);
    expect(r.taskRun('slow').status!.conditions![0]!.reason).to.equal('Succeeded');
    expect(r.pipelineRun.status!.skippedTasks).to.deep.equal([{ name: 'later', reason: 'PipelineRun was stopping' }]);
  });

  it('retries a failing task, recording each attempt in retriesStatus as Tekton does', async () => {
    const r = await runFixture('retries.yaml', runDir());
    expect(r.succeeded).to.equal(true);
    const tr = r.taskRun('flaky');
    const name = tr.metadata.name!;
    expect(tr.spec.retries).to.equal(2);
    expect(tr.status!.retriesStatus).to.have.length(2);
    expect(tr.status!.retriesStatus!.map((s) => s.podName)).to.deep.equal([`${name}-pod`, `${name}-pod-retry1`]);
    expect(tr.status!.retriesStatus![0]!.conditions![0]).to.include({ status: 'False', reason: 'Failed' });
    expect(tr.status!.podName).to.equal(`${name}-pod-retry2`);
    expect(tr.status!.conditions![0]!.reason).to.equal('Succeeded');
    expect(r.log('flaky', 'try')).to.include('attempt 3, retry-count 2');
    expect(readdirSync(join(r.runDir, 'logs', 'flaky')).sort()).to.deep.equal(['try.attempt-0.log', 'try.attempt-1.log', 'try.log']);
    expect(r.view.records.filter((x) => x.reason === 'ToBeRetried')).to.have.length(2);
  });

  it('kills a hung task at its timeout, and a step at its own timeout', async () => {
    const r = await runFixture('timeout.yaml', runDir());
    expect(r.succeeded).to.equal(false);
    const hung = r.taskRun('hung');
    expect(hung.status!.conditions![0]).to.include({ status: 'False', reason: 'TaskRunTimeout', message: `TaskRun "${hung.metadata.name!}" failed to finish within "1s"` });
    expect(hung.spec.timeout).to.equal('1s');
    const slow = r.taskRun('step-timeout');
    expect(slow.status!.conditions![0]).to.include({ status: 'False', reason: 'Failed', message: '"step-slow" exited because the step exceeded the specified timeout limit' });
    expect(slow.status!.steps![0]!.terminationReason).to.equal('TimeoutExceeded');
  });

  it('onError: continue records the exit code and lets the task succeed', async () => {
    const r = await runFixture('continue.yaml', runDir());
    expect(r.succeeded).to.equal(true);
    const steps = r.taskRun('lenient').status!.steps!;
    expect(steps[0]).to.deep.include({ name: 'may-fail', terminationReason: 'Continued' });
    expect(steps[0]!.terminated!.exitCode).to.equal(4);
    expect(r.log('lenient', 'goes-on')).to.include('still here');
  });

  it('cancellation kills running steps, marks the run Cancelled and starts nothing else', async () => {
    const ac = new AbortController();
    const running = runFixture('cancel.yaml', runDir(), { signal: ac.signal });
    // abort once the long step has started
    const started = async (): Promise<void> => {
      for (;;) {
        const f = join(runDir(), 'logs', 'long', 'wait.log');
        if (existsSync(f)) return;
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    await started();
    ac.abort();
    const r = await running;
    expect(r.succeeded).to.equal(false);
    expect(r.pipelineRun.status!.conditions![0]).to.include({ status: 'False', reason: 'Cancelled', message: `PipelineRun "${r.pipelineRun.metadata.name!}" was cancelled` });
    const long = r.taskRun('long');
    expect(long.status!.conditions![0]!.reason).to.equal('TaskRunCancelled');
    expect(r.taskRuns).to.have.length(1);
  });

  it('timeouts.tasks cancels the running task, skips the rest, still runs finally, and times the run out', async () => {
    const r = await runFixture('timeouts-run.yaml', runDir(), { pipelineRun: true });
    const name = r.pipelineRun.metadata.name!;
    expect(name).to.match(/^budget-[a-z0-9]{5}$/);
    expect(r.pipelineRun.status!.conditions![0]).to.include({ status: 'False', reason: 'PipelineRunTimeout', message: `PipelineRun "${name}" failed due to tasks failed to finish within "1s"` });
    expect(r.taskRun('long').status!.conditions![0]).to.include({
      reason: 'TaskRunCancelled',
      message: `TaskRun "${name}-long" was cancelled. TaskRun cancelled as the PipelineRun it belongs to has timed out.`,
    });
    expect(r.pipelineRun.status!.skippedTasks).to.deep.equal([{ name: 'later', reason: 'PipelineRun Tasks timeout has been reached' }]);
    expect(r.log('cleanup', 'note')).to.include('long was Failed');
  });

  it('the pipeline timeout (--timeout) cancels what runs and skips everything else, finally included', async () => {
    const r = await runFixture('cancel.yaml', runDir(), { timeout: '1s' });
    const name = r.pipelineRun.metadata.name!;
    expect(r.pipelineRun.spec.timeouts).to.deep.equal({ pipeline: '1s' });
    expect(r.pipelineRun.status!.conditions![0]).to.include({ reason: 'PipelineRunTimeout', message: `PipelineRun "${name}" failed to finish within "1s"` });
    expect(r.taskRun('long').status!.conditions![0]!.reason).to.equal('TaskRunCancelled');
    expect(r.pipelineRun.status!.skippedTasks).to.deep.equal([
      { name: 'later', reason: 'PipelineRun timeout has been reached' },
      { name: 'cleanup', reason: 'PipelineRun timeout has been reached' },
    ]);
  });

  it('a pipeline task with onError: continue fails alone; its dependents run and the run completes', async () => {
    const r = await runFixture('pipeline-onerror.yaml', runDir());
    expect(r.succeeded).to.equal(true);
    expect(r.pipelineRun.status!.conditions![0]).to.include({ reason: 'Succeeded', message: 'Tasks Completed: 2 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0' });
    expect(r.taskRun('optional').status!.conditions![0]).to.include({ status: 'False', reason: 'FailureIgnored', message: '"step-fail" exited with code 2' });
    expect(r.taskRun('next').status!.conditions![0]!.reason).to.equal('Succeeded');
  });

  it('-w binds a pipeline workspace to a host directory; --pipeline-name finds the Pipeline by name', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared);
    const r = await runFixture('fanout.yaml', runDir(), { pipelineName: 'fanout', pipelinesDir: FIXTURES, workspaces: [`shared=${shared}`] });
    expect(r.succeeded).to.equal(true);
    expect(readdirSync(shared).sort()).to.deep.equal(['a.done', 'b.marker', 'c.marker']);
    expect(existsSync(join(r.runDir, 'workspaces', 'shared'))).to.equal(false);
  });

  it('an emptyDir workspace is fresh for every TaskRun; a volumeClaimTemplate one is shared by the run', async () => {
    const r = await runFixture('emptydir-run.yaml', runDir(), { pipelineRun: true });
    expect(r.succeeded, JSON.stringify(r.pipelineRun.status?.conditions)).to.equal(true);
    expect(r.taskRun('second').status!.results![0]!.value).to.equal('scratch-fresh volume-shared');
    expect(r.taskRun('second').spec.workspaces).to.deep.include({ name: 's', emptyDir: {} });
  });

  it('a workspace a Task declares readOnly is readable but not writable', async () => {
    const r = await runFixture('readonly.yaml', runDir());
    expect(r.succeeded).to.equal(true);
    expect(r.taskRun('read').status!.results![0]!.value).to.equal('data read-only');
  });

  describe('sandboxing of pipeline steps', () => {
    let server: Server;
    let port = 0;
    before(async () => {
      server = createServer((s) => {
        s.on('error', () => undefined);
        s.end('hi\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => { resolve(); })));

    it('a step cannot write outside its workspace, sees only its own env, and has no network', async () => {
      const outside = join(root, 'outside');
      mkdirSync(outside);
      process.env['VOUCH_RUNNER_MARKER'] = 'caller-secret';
      try {
        const r = await runFixture('sandbox.yaml', runDir(), { params: [`outside=${outside}`, `port=${port}`] });
        expect(r.succeeded).to.equal(true);
        expect(r.taskRun('probe').status!.results![0]!.value).to.equal(' no-write-outside wrote-workspace clean-env step-env no-network');
        expect(existsSync(join(outside, 'escape'))).to.equal(false);
      } finally {
        delete process.env['VOUCH_RUNNER_MARKER'];
      }
    });

    it("a step's securityContext asking for privileges is ignored, with a warning: the step still has no capabilities", async () => {
      const logs = captureLogs('warn');
      try {
        const r = await runFixture('privileges.yaml', runDir());
        expect(r.taskRun('probe').status!.results![0]!.value).to.equal('CapEff:0000000000000000 read-only');
      } finally {
        configureLogging();
      }
      const warning = logs.map((l) => JSON.parse(l) as { msg: string; ignored?: string[] }).find((l) => l.msg.includes('never grants'));
      expect(warning?.ignored).to.deep.equal(['privileged', 'allowPrivilegeEscalation', 'capabilities.add [SYS_ADMIN]']);
    });

    it('a task allowed the network reaches the host', async () => {
      const outside = join(root, 'outside');
      mkdirSync(outside);
      const r = await runFixture('sandbox.yaml', runDir(), { params: [`outside=${outside}`, `port=${port}`], allowNetwork: ['probe'] });
      expect(r.taskRun('probe').status!.results![0]!.value).to.include(' network');
    });
  });

  describe('rejected before any step runs', () => {
    const cases: [string, string, RegExp][] = [
      ['unknown field', 'bad/unknown-field.yaml', /unknown-field\.yaml:12:13: .*scriptt: unknown field/],
      ['cycle', 'bad/cycle.yaml', /cycle\.yaml:\d+:\d+: .*cycle detected/],
      ['missing result', 'bad/missing-result.yaml', /missing-result\.yaml:18:11: .*no result "imaginary"/],
    ];
    for (const [what, file, message] of cases) {
      it(`${what}, with file:line`, async () => {
        try {
          await runFixture(file, runDir());
          expect.fail('accepted');
        } catch (err) {
          expect(isVouchError(err, 'TEKTON_INVALID'), String(err)).to.equal(true);
          expect((err as Error).message).to.match(message);
        }
        expect(existsSync(runDir())).to.equal(false);
      });
    }

    it('a PipelineRun missing a required param', async () => {
      try {
        await runFixture('bad/missing-param.yaml', runDir(), { pipelineRun: true });
        expect.fail('accepted');
      } catch (err) {
        expect((err as Error).message).to.match(/missing-param\.yaml:\d+:\d+: spec\.params: PipelineRun missing parameters: needed/);
      }
      expect(existsSync(runDir())).to.equal(false);
    });

    it('a step image that is neither the task image nor allowed, naming the image and the flag', async () => {
      try {
        await runFixture('images.yaml', runDir());
        expect.fail('accepted');
      } catch (err) {
        expect(isVouchError(err, 'STEP_IMAGE_REFUSED')).to.equal(true);
        expect((err as Error).message).to.include('docker.io/library/alpine:3.20').and.include('--host-image');
        expect((err as Error).message).not.to.include('ghcr.io/vouch-dev/vouch:0.1.0');
      }
      expect(existsSync(runDir())).to.equal(false);
    });

    it('-w for a workspace the pipeline does not declare', async () => {
      try {
        await runFixture('fanout.yaml', runDir(), { workspaces: [`nope=${root}`] });
        expect.fail('accepted');
      } catch (err) {
        expect(isVouchError(err, 'USAGE')).to.equal(true);
        expect((err as Error).message).to.include('declares no workspace "nope" (declared: shared)');
      }
      expect(existsSync(runDir())).to.equal(false);
    });

    it('-p for a param the pipeline does not declare', async () => {
      try {
        await planRun({ pipelineFile: join(FIXTURES, 'when.yaml'), params: ['nope=1'] });
        expect.fail('accepted');
      } catch (err) {
        expect(isVouchError(err, 'USAGE')).to.equal(true);
      }
    });
  });

  it("runs vouch's own task image as the local vouch CLI", async () => {
    const r = await runFixture('images.yaml', runDir(), { hostImages: ['docker.io/library/*'] });
    expect(r.succeeded).to.equal(true);
    expect(r.log('cli', 'version').trim()).to.equal('0.1.0');
    // the pinned digest in the YAML is not what ran: imageID carries no digest
    expect(r.taskRun('cli').status!.steps![0]!.imageID).to.equal('ghcr.io/vouch-dev/vouch:0.1.0');
    // a script step of the task image finds `vouch` on its PATH
    expect(r.log('cli', 'script').trim()).to.equal('0.1.0');
  });
});

// Small pieces of the runner: image rules, step commands, object names, the views.
import { expect } from 'chai';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifyImage, imageRepository, matchesImagePattern } from '../../src/runner/images.ts';
import { childName, storedPipelineSpec, storedTaskSpec } from '../../src/runner/objects.ts';
import type { PipelineSpec } from '../../src/tekton/types.ts';
import { DEFAULT_SCRIPT_PREAMBLE, mergeStepTemplate, stepCommand } from '../../src/runner/steps.ts';
import { JsonView, PlainView, TerminalView, type TransitionRecord } from '../../src/runner/view.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('runner units', () => {
  describe('images', () => {
    const policy = { taskImage: 'ghcr.io/vouch-dev/vouch', hostImages: ['docker.io/library/busybox*', 'registry.local:5000/tools/*'] };
    it('splits repository from tag and digest, keeping a registry port', () => {
      expect(imageRepository('ghcr.io/vouch-dev/vouch:1.2@sha256:ab')).to.equal('ghcr.io/vouch-dev/vouch');
      expect(imageRepository('registry.local:5000/tools/x:1')).to.equal('registry.local:5000/tools/x');
      expect(imageRepository('alpine')).to.equal('alpine');
    });
    it("recognises vouch's task image with any tag or digest, host globs, and refuses the rest", () => {
      expect(classifyImage('ghcr.io/vouch-dev/vouch', policy)).to.equal('vouch');
      expect(classifyImage('ghcr.io/vouch-dev/vouch@sha256:00', policy)).to.equal('vouch');
      expect(classifyImage('ghcr.io/vouch-dev/vouch-evil:1', policy)).to.equal(undefined);
      expect(classifyImage('docker.io/library/busybox:1.36', policy)).to.equal('host');
      expect(classifyImage('registry.local:5000/tools/go:1.22', policy)).to.equal('host');
      expect(classifyImage('docker.io/library/alpine:3', policy)).to.equal(undefined);
      expect(matchesImagePattern('a.b/c:1', 'a.b/c')).to.equal(true);
      expect(matchesImagePattern('axb/c:1', 'a.b/c')).to.equal(false);
    });
  });

  describe('step commands', () => {
    let dir = '';
    beforeEach(() => {
      dir = tempDir('vouch-steps-');
    });
    afterEach(() => { rmSync(dir, { recursive: true, force: true }); });
    const input = (step: Parameters<typeof stepCommand>[0]['step'], kind: 'vouch' | 'host' = 'host') => ({
      step, index: 0, kind, scriptsDir: join(dir, 'scripts'), shimDir: join(dir, 'bin'), home: join(dir, 'home'), defaultWorkingDir: join(dir, 'ws'),
    });
    it('writes a script without shebang with Tekton\'s preamble, and keeps a shebang script as is', () => {
      const a = stepCommand(input({ name: 's', image: 'x', script: 'echo hi', args: ['1'] }));
      expect(readFileSync(a.argv[0]!, 'utf8')).to.equal(`${DEFAULT_SCRIPT_PREAMBLE}echo hi`);
      expect(a.argv.slice(1)).to.deep.equal(['1']);
      const b = stepCommand(input({ name: 's', image: 'x', script: '#!/usr/bin/env python3\nprint(1)' }));
      expect(readFileSync(b.argv[0]!, 'utf8')).to.equal('#!/usr/bin/env python3\nprint(1)');
    });
    it('gives only the step env plus PATH and HOME, and runs vouch for the task image', () => {
      const c = stepCommand(input({ name: 's', image: 'x', command: ['vouch', 'task', 'lint'], env: [{ name: 'A', value: '1' }] }, 'vouch'));
      expect(Object.keys(c.env).sort()).to.deep.equal(['A', 'HOME', 'PATH']);
      expect(c.argv).to.deep.equal([join(dir, 'bin', 'vouch'), 'task', 'lint']);
      const d = stepCommand(input({ name: 's', image: 'x', args: ['--version'] }, 'vouch'));
      expect(d.argv).to.deep.equal([join(dir, 'bin', 'vouch'), '--version']);
      expect(() => stepCommand(input({ name: 's', image: 'x', env: [{ name: 'S', valueFrom: { secretKeyRef: {} } }], command: ['true'] }))).to.throw(/valueFrom/);
      expect(() => stepCommand(input({ name: 's', image: 'x' }))).to.throw(/neither script nor command/);
    });
    it('merges stepTemplate as Tekton does (step wins, env by name)', () => {
      const m = mergeStepTemplate({ name: 's', script: 'x', env: [{ name: 'A', value: 'step' }] }, { image: 'img', command: ['no'], env: [{ name: 'A', value: 't' }, { name: 'B', value: 't' }] });
      expect(m.image).to.equal('img');
      expect(m.command).to.equal(undefined);
      expect(m.env).to.deep.equal([{ name: 'A', value: 'step' }, { name: 'B', value: 't' }]);
    });
  });

  it('names child TaskRuns as knative kmeta.ChildName: plain when short, hashed to 63 characters when long', () => {
    expect(childName('run-abcde', '-build')).to.equal('run-abcde-build');
    const long = childName('p'.repeat(60), '-task');
    expect(long).to.have.length.at.most(63);
    expect(long.endsWith('-task')).to.equal(true);
    expect(childName('p'.repeat(60), '-task')).to.equal(long);
  });

  it('shapes specs as Tekton\'s API server returns them (SetDefaults, then Go\'s marshalling), as a real cluster recorded them', () => {
    const given: PipelineSpec = {
      params: [{ name: 'p' }, { name: 'o', properties: { k: {} as { type: 'string' } } }],
      results: [{ name: 'r', value: '$(tasks.a.results.x)' }],
      tasks: [
        { name: 'a', taskSpec: { results: [{ name: 'x' }, { name: 'y', properties: { uri: {} as { type: 'string' } } }], steps: [{ name: 's', image: 'i' }], stepTemplate: { image: 'i' } } },
        { name: 'b', taskRef: { name: 't' } },
      ],
      finally: [{ name: 'f', taskSpec: { metadata: { labels: { l: 'v' } }, steps: [{ image: 'i' } as { name: string; image: string }] } }],
    };
    const before = structuredClone(given);
    // the shape of fixtures/ec/hacks-05's status.pipelineSpec (kubectl get -o yaml on a real cluster)
    expect(storedPipelineSpec(given)).to.deep.equal({
      params: [{ name: 'p', type: 'string' }, { name: 'o', type: 'object', properties: { k: { type: 'string' } } }],
      results: [{ name: 'r', value: '$(tasks.a.results.x)', description: '' }],
      tasks: [
        {
          name: 'a',
          taskSpec: {
            results: [{ name: 'x', type: 'string' }, { name: 'y', type: 'object', properties: { uri: { type: 'string' } } }],
            steps: [{ name: 's', image: 'i', computeResources: {} }],
            stepTemplate: { image: 'i', computeResources: {} },
            metadata: {},
            spec: null,
          },
        },
        { name: 'b', taskRef: { name: 't', kind: 'Task' } },
      ],
      finally: [{ name: 'f', taskSpec: { steps: [{ name: '', image: 'i', computeResources: {} }], metadata: { labels: { l: 'v' } }, spec: null } }],
    });
    expect(given, 'the input is not changed').to.deep.equal(before);
    // a TaskRun's taskSpec has no embedding fields; real resources are kept
    expect(storedTaskSpec({ steps: [{ name: 's', image: 'i', computeResources: { limits: { cpu: '1' } } }] })).to.deep.equal({ steps: [{ name: 's', image: 'i', computeResources: { limits: { cpu: '1' } } }] });
  });

  describe('views', () => {
    const rec = (r: Partial<TransitionRecord>): TransitionRecord => ({ time: 't', kind: 'TaskRun', name: 'pr-a', pipelineTask: 'a', state: 'running', reason: 'Running', ...r });
    it('--json writes one parseable record per transition', () => {
      let out = '';
      const v = new JsonView((s) => (out += s));
      v.transition(rec({}));
      v.transition(rec({ state: 'succeeded', reason: 'Succeeded' }));
      expect(out.trim().split('\n').map((l) => (JSON.parse(l) as TransitionRecord).reason)).to.deep.equal(['Running', 'Succeeded']);
    });
    it('shows the failing step log when a task fails', () => {
      const dir = tempDir('vouch-view-');
      try {
        mkdirSync(join(dir, 'l'));
        writeFileSync(join(dir, 'l', 's.log'), 'line one\nthe reason it failed\n');
        let out = '';
        new PlainView((s) => (out += s)).transition(rec({ state: 'failed', reason: 'Failed', message: '"step-s" exited with code 1', failedStepLog: join(dir, 'l', 's.log') }));
        expect(out).to.include('task a Failed').and.include('│ the reason it failed');
        let tty = '';
        const fake = { write: (s: string) => ((tty += s), true) } as unknown as NodeJS.WriteStream;
        const t = new TerminalView(fake);
        t.plan([{ name: 'a', finally: false }, { name: 'f', finally: true }]);
        t.transition(rec({ state: 'running', reason: 'Running' }));
        t.output('a', 's', 'first\nworking on it \x1b[2J\n');
        t.transition(rec({ state: 'running', reason: 'Running' }));
        expect(tty).to.include('│ s: working on it  [2J');
        expect(tty).not.to.include('\x1b[2J');
        t.transition(rec({ state: 'failed', reason: 'Failed', failedStepLog: join(dir, 'l', 's.log') }));
        t.close();
        expect(tty).to.include('finally').and.include('the reason it failed').and.include('\x1b[');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

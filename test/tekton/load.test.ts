import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVouchError } from '../../src/common/errors.ts';
import { loadFile, loadTasksDir, loadText } from '../../src/tekton/load.ts';
import type { Pipeline, PipelineRun, Task } from '../../src/tekton/types.ts';
import { validatePipeline, validateTask } from '../../src/tekton/validate.ts';
import type { Loaded } from '../../src/tekton/load.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { expectProblem, invalidOf, pos } from './helpers.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

const MULTI = `# leading comment
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: one
spec:
  steps:
    - name: a
      image: img
      args: ["x", "y"]
---
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: two
spec:
  tasks:
    - name: t
      taskRef:
        name: one
`;

describe('tekton/load', () => {
  it('loads every document of a multi-document file and skips empty ones', () => {
    const docs = loadText(MULTI, 'multi.yaml');
    expect(docs.map((d) => d.kind)).to.deep.equal(['Task', 'Pipeline']);
    expect(docs.map((d) => d.index)).to.deep.equal([0, 2]);
    expect((docs[0]!.resource as Task).spec.steps[0]!.args).to.deep.equal(['x', 'y']);
  });

  it('locates any field path as file:line:col, keys for fields and items for indices', () => {
    const [task, pipeline] = loadText(MULTI, 'multi.yaml');
    expect(task!.locate(['spec', 'steps', 0, 'image'])).to.equal(`multi.yaml:${pos(MULTI, 'image: img')}`);
    expect(task!.locate(['spec', 'steps', 0, 'args', 1])).to.equal(`multi.yaml:${pos(MULTI, '"y"')}`);
    expect(task!.locate(['spec', 'steps', 0])).to.equal(`multi.yaml:${pos(MULTI, 'name: a')}`);
    expect(pipeline!.locate(['spec', 'tasks', 0, 'taskRef', 'name'])).to.equal(`multi.yaml:${pos(MULTI, 'name: one', 1)}`);
    // a missing field points at its deepest existing parent
    expect(task!.locate(['spec', 'steps', 0, 'script'])).to.equal(`multi.yaml:${pos(MULTI, 'name: a')}`);
    expect(task!.locate(['spec', 'params'])).to.equal(`multi.yaml:${pos(MULTI, 'spec:')}`);
  });

  it('reports YAML syntax errors and duplicate keys with their position, before anything else', () => {
    const text = 'apiVersion: tekton.dev/v1\nkind: Task\nkind: Pipeline\n';
    const { err, problems } = invalidOf(() => loadText(text, 'dup.yaml'));
    expect(err.message).to.match(/^dup\.yaml:3:1: \(document\): YAML: /);
    expect(problems).to.have.length(1);
    const broken = 'apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  steps: [a, b\n';
    const r = invalidOf(() => loadText(broken, 'broken.yaml'));
    expect(r.err.message).to.match(/^broken\.yaml:\d+:\d+: /);
  });

  it('refuses an alias bomb with a position instead of expanding it', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]', ''].join('\n');
    const { err } = invalidOf(() => loadText(bomb, 'bomb.yaml'));
    expect(err.message).to.match(/^bomb\.yaml:1:1: \(document\): YAML: .*alias/i);
  });

  it('reads YAML 1.1 booleans as Kubernetes does (yes/on are booleans), timestamps as strings', () => {
    const [doc] = loadText('apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: x\n  creationTimestamp: 2021-01-29T14:47:57Z\nspec:\n  description: yes\n', 'b.yaml');
    const t = doc!.resource as unknown as { metadata: { creationTimestamp: unknown }; spec: { description: unknown } };
    expect(t.spec.description).to.equal(true);
    expect(t.metadata.creationTimestamp).to.equal('2021-01-29T14:47:57Z');
  });

  it('reads a block scalar that ends the file without a line break as Go\'s YAML (kubectl) does: no final newline', () => {
    const task = (script: string): string => `apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: x\nspec:\n  steps:\n  - name: s\n    image: i\n    script: ${script}`;
    const scriptOf = (text: string): string | undefined => (loadText(text, 't.yaml')[0]!.resource as Task).spec.steps[0]!.script;
    expect(scriptOf(task('|\n      echo a\n      echo b'))).to.equal('echo a\necho b');
    expect(scriptOf(task('>\n      echo a'))).to.equal('echo a');
    // with a line break, or anything after it, clip keeps exactly one; keep and strip are untouched
    expect(scriptOf(task('|\n      echo a\n      echo b\n'))).to.equal('echo a\necho b\n');
    expect(scriptOf(`${task('|\n      echo a')}\n  description: d\n`)).to.equal('echo a\n');
    expect(scriptOf(task('|+\n      echo a'))).to.equal('echo a\n');
    expect(scriptOf(task('|-\n      echo a'))).to.equal('echo a');
  });

  it('rejects unknown apiVersion and kind, naming the field', () => {
    const text = 'apiVersion: tekton.dev/v2\nkind: Task\n---\napiVersion: tekton.dev/v1\nkind: Deployment\n---\n- a list\n';
    const { problems } = invalidOf(() => loadText(text, 'k.yaml'));
    expectProblem(problems, 'k.yaml:1:1', 'apiVersion', 'expected tekton.dev/v1');
    expectProblem(problems, `k.yaml:${pos(text, 'kind: Deployment')}`, 'kind', 'expected one of Task, Pipeline, TaskRun, PipelineRun');
    expectProblem(problems, `k.yaml:${pos(text, '- a list')}`, '', 'expected a Kubernetes object');
  });

  it('converts v1beta1 to v1 and keeps positions of renamed fields', () => {
    const text = `apiVersion: tekton.dev/v1beta1
kind: PipelineRun
metadata:
  name: r
spec:
  serviceAccountName: builder
  timeout: 1h
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
            - name: s
              image: img
              resources:
                limits: {cpu: "1"}
`;
    const [doc] = loadText(text, 'beta.yaml');
    const pr = doc!.resource as PipelineRun;
    expect(doc!.sourceApiVersion).to.equal('tekton.dev/v1beta1');
    expect(pr.apiVersion).to.equal('tekton.dev/v1');
    expect(pr.spec.taskRunTemplate).to.deep.equal({ serviceAccountName: 'builder' });
    expect(pr.spec.timeouts).to.deep.equal({ pipeline: '1h' });
    expect(pr.spec.pipelineSpec!.tasks![0]!.taskSpec!.steps[0]!.computeResources).to.deep.equal({ limits: { cpu: '1' } });
    expect(doc!.locate(['spec', 'timeouts', 'pipeline'])).to.equal(`beta.yaml:${pos(text, 'timeout: 1h')}`);
    expect(doc!.locate(['spec', 'taskRunTemplate', 'serviceAccountName'])).to.equal(`beta.yaml:${pos(text, 'serviceAccountName')}`);
    expect(doc!.locate(['spec', 'pipelineSpec', 'tasks', 0, 'taskSpec', 'steps', 0, 'computeResources', 'limits'])).to.equal(`beta.yaml:${pos(text, 'limits')}`);
  });

  it('refuses v1beta1 fields with no v1 equivalent: bundles, PipelineResources, ClusterTask', () => {
    const text = `apiVersion: tekton.dev/v1beta1
kind: Pipeline
metadata:
  name: p
spec:
  resources:
    - name: repo
      type: git
  tasks:
    - name: a
      taskRef:
        name: x
        bundle: registry.example/tasks:1
    - name: b
      taskRef:
        name: y
        kind: ClusterTask
`;
    const { problems } = invalidOf(() => loadText(text, 'refuse.yaml'));
    expectProblem(problems, `refuse.yaml:${pos(text, 'resources:')}`, 'spec.resources', 'PipelineResources were removed');
    expectProblem(problems, `refuse.yaml:${pos(text, 'bundle:')}`, 'spec.tasks[0].taskRef.bundle', 'bundles are not supported');
    expectProblem(problems, `refuse.yaml:${pos(text, 'kind: ClusterTask')}`, 'spec.tasks[1].taskRef.kind', 'ClusterTask was removed');
  });

  it('validates converted v1beta1 Tasks and Pipelines; v1beta1-only step fields are unknown in v1, at their position', () => {
    const text = `apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: old
spec:
  params:
    - name: x
      type: string
  steps:
    - name: s
      image: img
      resources:
        requests: {memory: 1Gi}
      script: echo $(params.x)
---
apiVersion: tekton.dev/v1beta1
kind: Pipeline
metadata:
  name: oldp
spec:
  tasks:
    - name: a
      taskRef:
        name: old
        kind: Task
      params:
        - name: x
          value: "1"
`;
    const [t, p] = loadText(text, 'beta.yaml') as [Loaded<Task>, Loaded<Pipeline>];
    const spec = validateTask(t);
    expect(spec.steps[0]!.computeResources).to.deep.equal({ requests: { memory: '1Gi' } });
    expect(validatePipeline(p, (n) => (n === 'old' ? t : undefined)).tasks[0]!.taskName).to.equal('old');
    const withPorts = text.replace('      script: echo', '      ports: [{containerPort: 80}]\n      script: echo');
    const { err } = invalidOf(() => validateTask(loadText(withPorts, 'beta.yaml')[0] as Loaded<Task>));
    expect(err.message).to.equal(`beta.yaml:${pos(withPorts, 'ports')}: spec.steps[0].ports: unknown field "ports"`);
  });

  describe('loadTasksDir', () => {
    const dir = tempDirPerSuite('vouch-tekton-');

    it('maps Tasks by metadata.name and skips other kinds', async () => {
      const tasks = await loadTasksDir(join(FIXTURES, 'tasks'));
      expect([...tasks.keys()].sort()).to.deep.equal(['build', 'notify']);
      expect(tasks.get('notify')!.file).to.equal(join(FIXTURES, 'tasks', 'notify.yaml'));
    });

    it('rejects two Tasks with one name, naming both places', async () => {
      const d = join(dir(), 'dups');
      mkdirSync(d);
      const t = 'apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: same\nspec:\n  steps: [{name: a, image: i}]\n';
      writeFileSync(join(d, 'a.yaml'), t);
      writeFileSync(join(d, 'b.yml'), t);
      writeFileSync(join(d, 'notes.txt'), 'not yaml: [');
      try {
        await loadTasksDir(d);
        expect.fail('expected an error');
      } catch (err) {
        expect(isVouchError(err, 'TEKTON_INVALID')).to.equal(true);
        expect((err as Error).message).to.equal(`${join(d, 'b.yml')}:4:3: metadata.name: Task "same" is also defined at ${join(d, 'a.yaml')}:4:3`);
      }
    });

    it('fails with IO for a missing directory or file', async () => {
      try {
        await loadTasksDir(join(dir(), 'nope'));
        expect.fail('expected an error');
      } catch (err) {
        expect(isVouchError(err, 'IO')).to.equal(true);
      }
      try {
        await loadFile(join(dir(), 'nope.yaml'));
        expect.fail('expected an error');
      } catch (err) {
        expect(isVouchError(err, 'IO')).to.equal(true);
      }
    });
  });
});

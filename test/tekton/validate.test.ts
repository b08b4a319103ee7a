import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFile, loadTasksDir, loadText, type Loaded } from '../../src/tekton/load.ts';
import { validatePipeline, validatePipelineRun, validateTask, validateTaskRun } from '../../src/tekton/validate.ts';
import type { Pipeline, PipelineRun, Task, TaskRun } from '../../src/tekton/types.ts';
import { expectProblem, invalidOf, pos } from './helpers.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

const TASK_A = `apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: task-a
spec:
  params:
    - name: msg
    - name: list
      type: array
      default: []
  results:
    - name: out
    - name: obj
      type: object
      properties:
        url: {type: string}
  workspaces:
    - name: src
  steps:
    - name: s
      image: img
      script: echo $(params.msg) > $(results.out.path)
`;

function tasksFrom(...texts: string[]): (name: string) => Loaded<Task> | undefined {
  const map = new Map<string, Loaded<Task>>();
  texts.forEach((t, i) => {
    for (const l of loadText(t, `task${i}.yaml`)) map.set((l.resource as Task).metadata.name!, l as Loaded<Task>);
  });
  return (n) => map.get(n);
}

function task(text: string): Loaded<Task> {
  return loadText(text, 'task.yaml')[0] as Loaded<Task>;
}
function pipeline(text: string): Loaded<Pipeline> {
  return loadText(text, 'pipeline.yaml')[0] as Loaded<Pipeline>;
}

/** A pipeline using task-a, with `tasks` and extra spec text spliced in. */
function pipelineText(tasks: string, extra = ''): string {
  return `apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: p
spec:
  params:
    - name: word
    - name: words
      type: array
    - name: cfg
      type: object
      properties:
        host: {type: string}
  workspaces:
    - name: ws
${extra}  tasks:
${tasks}`;
}

const OK_TASK = (name: string, extra = ''): string => `    - name: ${name}
      taskRef:
        name: task-a
      params:
        - name: msg
          value: hi
      workspaces:
        - name: src
          workspace: ws
${extra}`;

describe('tekton/validate', () => {
  describe('Task', () => {
    it('accepts a good Task and returns its spec with Tekton defaults', () => {
      const spec = validateTask(task(TASK_A));
      expect(spec.params!.map((p) => p.type)).to.deep.equal(['string', 'array']);
      expect(spec.results!.map((r) => r.type)).to.deep.equal(['string', 'object']);
    });

    it('rejects an unknown field, naming file:line:col and the field path', () => {
      const text = TASK_A.replace('      image: img\n', '      image: img\n      imagee: typo\n');
      const { err } = invalidOf(() => validateTask(task(text)));
      expect(err.message).to.equal(`task.yaml:${pos(text, 'imagee')}: spec.steps[0].imagee: unknown field "imagee"`);
    });

    it('rejects wrong types as kubectl would (a YAML 1.1 boolean for a string)', () => {
      const text = TASK_A.replace('      image: img\n', '      image: img\n      workingDir: yes\n');
      const { problems } = invalidOf(() => validateTask(task(text)));
      expectProblem(problems, `task.yaml:${pos(text, 'workingDir')}`, 'spec.steps[0].workingDir', 'expected string, got boolean');
    });

    it('lists all problems at once, sorted by position, the first one leading the message', () => {
      const text = TASK_A.replace('  name: task-a', '  name: Task_A').replace('      image: img\n', '      image: [img]\n      bogus: 1\n');
      const { err, problems } = invalidOf(() => validateTask(task(text)));
      expect(problems.map((p) => p.path)).to.deep.equal(['metadata.name', 'spec.steps[0].image', 'spec.steps[0].bogus']);
      expect(err.message.split('\n')).to.deep.equal([
        `task.yaml:${pos(text, 'name: Task_A')}: metadata.name: invalid resource name "Task_A": must be a valid DNS label (lower case letters, digits and '-')`,
        `task.yaml:${pos(text, 'image: [img]')}: spec.steps[0].image: expected string, got array`,
        `task.yaml:${pos(text, 'bogus')}: spec.steps[0].bogus: unknown field "bogus"`,
        '(3 problems)',
      ]);
      // the step whose image has the wrong type is not also reported as having no image
      expect(problems.some((p) => p.message.includes('missing field(s): image'))).to.equal(false);
    });

    const taskRules: [string, (t: string) => string, string, string, string][] = [
      ['invalid step name', (t) => t.replace('    - name: s\n', '    - name: Step_1\n'), 'name: Step_1', 'spec.steps[0].name', 'must be a valid DNS Label'],
      ['duplicate step names', (t) => t.replace('      script: echo $(params.msg) > $(results.out.path)\n', '      script: echo $(params.msg) > $(results.out.path)\n    - name: s\n      image: img\n'), 'name: s\n', 'spec.steps[1].name', 'is used more than once'],
      ['duplicate params', (t) => t.replace('    - name: list\n', '    - name: msg\n'), 'name: msg', 'spec.params[1].name', 'appears more than once'],
      ['bad param type', (t) => t.replace('      type: array\n', '      type: list\n'), 'type: list', 'spec.params[1].type', 'invalid value: list'],
      ['default of the wrong type', (t) => t.replace('      default: []\n', '      default: "x"\n'), 'default: "x"', 'spec.params[1].default', '"array" type does not match default value\'s type: "string"'],
      ['undeclared param', (t) => t.replace('$(params.msg)', '$(params.nope)'), 'script:', 'spec.steps[0].script', 'no param "nope" is declared'],
      ['array param inside a string', (t) => t.replace('$(params.msg)', '$(params.list[*])'), 'script:', 'spec.steps[0].script', 'array param "list" can only be used as a whole item'],
      ['undeclared result path', (t) => t.replace('$(results.out.path)', '$(results.missing.path)'), 'script:', 'spec.steps[0].script', 'declares no result "missing"'],
      ['unknown context variable', (t) => t.replace('$(params.msg)', '$(context.taskRun.namespaces)'), 'script:', 'spec.steps[0].script', 'not a Tekton context variable'],
      ['undeclared workspace variable', (t) => t.replace('$(params.msg)', '$(workspaces.other.path)'), 'script:', 'spec.steps[0].script', 'declares no workspace "other"'],
      ['object key not declared', (t) => t.replace('    - name: msg\n', '    - name: msg\n    - name: o\n      type: object\n      properties:\n        a: {type: string}\n').replace('$(params.msg)', '$(params.o.b)'), 'script:', 'spec.steps[0].script', 'has no key "b"'],
      ['an exit-code path of a missing step', (t) => t.replace('$(params.msg)', '$(steps.step-zz.exitCode.path)'), 'script:', 'spec.steps[0].script', 'no step is named "zz"'],
      ['script with command', (t) => t.replace('      image: img\n', '      image: img\n      command: [sh]\n'), 'script:', 'spec.steps[0].script', 'script cannot be used with command'],
      ['missing image', (t) => t.replace('      image: img\n', ''), 'name: s\n', 'spec.steps[0].image', 'missing field(s): image'],
      ['bad onError', (t) => t.replace('      image: img\n', '      image: img\n      onError: ignore\n'), 'onError', 'spec.steps[0].onError', 'must be either "continue" or "stopAndFail"'],
      ['bad step timeout', (t) => t.replace('      image: img\n', '      image: img\n      timeout: 5 minutes\n'), 'timeout', 'spec.steps[0].timeout', 'invalid duration'],
      ['invalid result name', (t) => t.replace('    - name: out\n', '    - name: out-\n').replace('$(results.out.path)', '$(results.out-.path)'), 'name: out-', 'spec.results[0].name', 'invalid result name'],
      ['object result without properties', (t) => t.replace('      properties:\n        url: {type: string}\n  workspaces', '  workspaces'), 'name: obj', 'spec.results[1].properties', 'missing field(s)'],
      ['duplicate workspaces', (t) => t.replace('    - name: src\n', '    - name: src\n    - name: src\n'), 'name: src', 'spec.workspaces[1].name', 'must be unique'],
      ['step results (local runner)', (t) => t.replace('      image: img\n', '      image: img\n      results:\n        - name: r\n'), 'results:\n        - name: r', 'spec.steps[0].results', 'step results (steps[].results) are not supported by vouch run'],
      ['sidecars (local runner)', (t) => t.replace('  steps:\n', '  sidecars:\n    - name: db\n      image: pg\n  steps:\n'), 'sidecars:', 'spec.sidecars', 'not supported by vouch run'],
      ['volumeMounts (local runner)', (t) => t.replace('      image: img\n', '      image: img\n      volumeMounts:\n        - name: v\n          mountPath: /v\n'), 'volumeMounts:', 'spec.steps[0].volumeMounts', 'volumeMounts are not supported by vouch run'],
      ['step when (local runner)', (t) => t.replace('      image: img\n', '      image: img\n      when:\n        - input: a\n          operator: in\n          values: [a]\n'), 'when:', 'spec.steps[0].when', 'step when expressions are not supported by vouch run'],
      ['env valueFrom (local runner)', (t) => t.replace('      image: img\n', '      image: img\n      env:\n        - name: TOKEN\n          valueFrom:\n            secretKeyRef: {name: s, key: k}\n'), 'valueFrom:', 'spec.steps[0].env[0].valueFrom', 'valueFrom (Secrets, ConfigMaps, fields) is not supported by vouch run'],
      ['no steps', (t) => t.replace(/ {2}steps:[^]*$/, '  steps: []\n'), 'steps: []', 'spec.steps', 'missing field(s): steps'],
    ];
    for (const [name, mutate, needle, path, message] of taskRules) {
      it(`rejects ${name}`, () => {
        const text = mutate(TASK_A);
        expect(text, 'test mutation applied').to.not.equal(TASK_A);
        const { problems } = invalidOf(() => validateTask(task(text)));
        const nth = needle === 'name: s\n' && path.startsWith('spec.steps[1]') ? 1 : needle === 'name: msg' ? 1 : needle === 'name: src' ? 1 : 0;
        expectProblem(problems, `task.yaml:${pos(text, needle, nth)}`, path, message);
      });
    }
  });

  describe('Pipeline', () => {
    const resolve = tasksFrom(TASK_A);

    it('accepts the fixture pipeline and resolves tasks, finally and the DAG', async () => {
      const tasks = await loadTasksDir(join(FIXTURES, 'tasks'));
      const [p] = await loadFile(join(FIXTURES, 'pipelines', 'good.yaml'));
      const v = validatePipeline(p as Loaded<Pipeline>, (n) => tasks.get(n));
      expect(v.name).to.equal('good');
      expect(v.tasks.map((t) => [t.pipelineTask.name, t.taskName])).to.deep.equal([
        ['build', 'build'],
        ['inline', undefined],
      ]);
      expect(v.finally.map((t) => t.pipelineTask.name)).to.deep.equal(['notify']);
      expect([...v.dag.parents.get('inline')!]).to.deep.equal(['build']);
      expect(v.tasks[1]!.taskSpec.params!.map((p) => p.type)).to.deep.equal(['array', 'string']);
    });

    const rules: [string, string, string, string, string, number?][] = [
      // [name, pipeline text, needle, path, message, nth occurrence of needle]
      ['a cycle in the DAG, naming it', pipelineText(OK_TASK('a', '      runAfter: [c]\n') + OK_TASK('b', '      runAfter: [a]\n') + OK_TASK('c', '      runAfter: [b]\n')), 'name: a', 'spec.tasks[0].name', 'cycle detected; task "a" depends on "c" which depends on "b" which depends on "a"'],
      ['a cycle through result references', pipelineText(OK_TASK('a').replace('value: hi', 'value: $(tasks.b.results.out)') + OK_TASK('b').replace('value: hi', 'value: $(tasks.a.results.out)')), 'name: a', 'spec.tasks[0].name', 'cycle detected; task "a" depends on "b" which depends on "a"'],
      ['runAfter a missing task', pipelineText(OK_TASK('a', '      runAfter: [ghost]\n')), 'ghost', 'spec.tasks[0].runAfter[0]', "depends on ghost but ghost wasn't present"],
      ['a reference to a missing task', pipelineText(OK_TASK('a').replace('value: hi', 'value: $(tasks.ghost.results.out)')), 'value: $(tasks', 'spec.tasks[0].params[0].value', 'task "ghost" is not defined'],
      ['a reference to a missing result', pipelineText(OK_TASK('a') + OK_TASK('b').replace('value: hi', 'value: $(tasks.a.results.nope)')), 'value: $(tasks', 'spec.tasks[1].params[0].value', 'task "a" has no result "nope" (it declares out, obj)'],
      ['a missing object result key', pipelineText(OK_TASK('a') + OK_TASK('b').replace('value: hi', 'value: $(tasks.a.results.obj.nokey)')), 'value: $(tasks', 'spec.tasks[1].params[0].value', 'has no key "nokey"'],
      ['a missing required param', pipelineText(OK_TASK('a').replace('      params:\n        - name: msg\n          value: hi\n', '')), 'name: a', 'spec.tasks[0].params', 'missing param "msg"'],
      ['a param type mismatch', pipelineText(OK_TASK('a').replace('value: hi', 'value: [x, z]')), 'value: [x', 'spec.tasks[0].params[0].value', 'param types don\'t match the user-specified type: "msg" is declared string but is given an array'],
      ['a whole array param passed to a string param', pipelineText(OK_TASK('a').replace('value: hi', 'value: $(params.words[*])')), 'value: $(params', 'spec.tasks[0].params[0].value', 'is declared string but is given an array'],
      ['an undeclared pipeline param', pipelineText(OK_TASK('a').replace('value: hi', 'value: $(params.nope)')), 'value: $(params', 'spec.tasks[0].params[0].value', 'the Pipeline declares no param "nope"'],
      ['an array param inside a string', pipelineText(OK_TASK('a').replace('value: hi', 'value: "x $(params.words[*])"')), 'value: "x', 'spec.tasks[0].params[0].value', 'array param "words" can only be used as a whole param value'],
      ['a missing workspace', pipelineText(OK_TASK('a').replace('workspace: ws', 'workspace: nows')), 'workspace: nows', 'spec.tasks[0].workspaces[0].workspace', 'expects workspace with name "nows" but none exists'],
      ['a workspace the task does not declare', pipelineText(OK_TASK('a').replace('        - name: src\n          workspace: ws\n', '        - name: src\n          workspace: ws\n        - name: extra\n          workspace: ws\n')), 'name: extra', 'spec.tasks[0].workspaces[1].name', 'the Task declares no workspace "extra"'],
      ['a required task workspace left unbound', pipelineText(OK_TASK('a').replace('      workspaces:\n        - name: src\n          workspace: ws\n', '')), 'name: a', 'spec.tasks[0].workspaces', 'workspace "src" is required by the Task'],
      ['duplicate task names', pipelineText(OK_TASK('a') + OK_TASK('a')), 'name: a', 'spec.tasks[1].name', 'is used more than once', 1],
      ['an invalid task name', pipelineText(OK_TASK('Build_It')), 'name: Build_It', 'spec.tasks[0].name', 'must be a valid DNS Label'],
      ['a bad when operator', pipelineText(OK_TASK('a', '      when:\n        - input: x\n          operator: equals\n          values: [x]\n')), 'operator: equals', 'spec.tasks[0].when[0].operator', 'operator "equals" is not recognized. valid operators: in,notin'],
      ['when without values', pipelineText(OK_TASK('a', '      when:\n        - input: x\n          operator: in\n          values: []\n')), 'values: []', 'spec.tasks[0].when[0].values', 'expecting non-empty values field'],
      ['CEL when (local runner)', pipelineText(OK_TASK('a', "      when:\n        - cel: \"'a' == 'a'\"\n")), 'cel:', 'spec.tasks[0].when[0].cel', 'not supported by vouch run'],
      ['an unknown taskRef', pipelineText(OK_TASK('a').replace('name: task-a', 'name: task-z')), 'name: task-z', 'spec.tasks[0].taskRef.name', 'Task "task-z" not found'],
      ['both taskRef and taskSpec', pipelineText(OK_TASK('a', '      taskSpec:\n        steps: [{name: s, image: i}]\n')), 'name: a', 'spec.tasks[0]', 'expected exactly one, got both: taskRef, taskSpec'],
      ['a resolver (local runner)', pipelineText(OK_TASK('a').replace('        name: task-a\n', '        resolver: git\n')), 'resolver: git', 'spec.tasks[0].taskRef.resolver', 'remote resolution'],
      ['matrix (local runner)', pipelineText(OK_TASK('a', '      matrix:\n        params:\n          - name: msg\n            value: [a, b]\n')), 'matrix:', 'spec.tasks[0].matrix', 'matrix is not supported by vouch run'],
      ['execution status in a DAG task', pipelineText(OK_TASK('a').replace('value: hi', 'value: $(tasks.status)')), 'value: $(tasks', 'spec.tasks[0].params[0].value', 'can not refer to execution status'],
      ['an unknown pipeline context variable', pipelineText(OK_TASK('a').replace('value: hi', 'value: $(context.pipelineRun.labels)')), 'value: $(context', 'spec.tasks[0].params[0].value', 'not a Pipeline context variable'],
      ['a pipeline result without a reference', pipelineText(OK_TASK('a'), '  results:\n    - name: r\n      value: constant\n'), 'value: constant', 'spec.results[0].value', 'no expressions were found'],
      ['a pipeline result to a missing result', pipelineText(OK_TASK('a'), '  results:\n    - name: r\n      value: $(tasks.a.results.zzz)\n'), 'value: $(tasks.a.results.zzz)', 'spec.results[0].value', 'task "a" has no result "zzz"'],
      ['a param default referring to an undeclared param', pipelineText(OK_TASK('a'), '  results: []\n').replace('    - name: word\n', '    - name: word\n      default: $(params.ghost)-x\n'), 'default: $(params.ghost)', 'spec.params[0].default', 'param "word" references undefined param "ghost"'],
      ['an unknown field inside an embedded taskSpec', pipelineText('    - name: e\n      taskSpec:\n        steps:\n          - name: s\n            image: i\n            scirpt: echo\n'), 'scirpt', 'spec.tasks[0].taskSpec.steps[0].scirpt', 'unknown field "scirpt"'],
      ['an undeclared param inside an embedded taskSpec', pipelineText('    - name: e\n      taskSpec:\n        steps:\n          - name: s\n            image: i\n            script: echo $(params.ghost)\n'), 'script:', 'spec.tasks[0].taskSpec.steps[0].script', 'no param "ghost" is declared'],
      ['a pipeline param used undeclared in an embedded taskSpec of a standalone Pipeline (no propagation)', pipelineText('    - name: e\n      taskSpec:\n        steps:\n          - name: s\n            image: i\n            script: echo $(params.word)\n'), 'script:', 'spec.tasks[0].taskSpec.steps[0].script', 'params propagate into an embedded taskSpec only in a PipelineRun'],
      ['a missing result used inside an embedded taskSpec', pipelineText(OK_TASK('a') + '    - name: e\n      taskSpec:\n        steps:\n          - name: s\n            image: i\n            script: echo $(tasks.a.results.none)\n'), 'script:', 'spec.tasks[1].taskSpec.steps[0].script', 'task "a" has no result "none"'],
    ];
    for (const [name, text, needle, path, message, nth] of rules) {
      it(`rejects ${name}`, () => {
        const { problems } = invalidOf(() => validatePipeline(pipeline(text), resolve));
        expectProblem(problems, `pipeline.yaml:${pos(text, needle, nth ?? 0)}`, path, message);
      });
    }

    it('rejects finally tasks with runAfter, and results of finally tasks used by finally tasks', () => {
      const text = pipelineText(OK_TASK('a'), '  finally:\n' + OK_TASK('f1', '      runAfter: [a]\n') + OK_TASK('f2').replace('value: hi', 'value: $(tasks.f1.results.out)'));
      const { problems } = invalidOf(() => validatePipeline(pipeline(text), resolve));
      expectProblem(problems, `pipeline.yaml:${pos(text, 'runAfter')}`, 'spec.finally[0].runAfter', 'no runAfter allowed under spec.finally');
      expectProblem(problems, `pipeline.yaml:${pos(text, 'value: $(tasks.f1')}`, 'spec.finally[1].params[0].value', 'final task has task result reference from a final task f1');
    });

    it('accepts $(tasks.status) and $(tasks.a.status) in finally, and rejects an unknown task there', () => {
      const ok = pipelineText(OK_TASK('a'), '  finally:\n' + OK_TASK('f').replace('value: hi', 'value: $(tasks.status) $(tasks.a.status)'));
      expect(() => validatePipeline(pipeline(ok), resolve)).to.not.throw();
      const bad = ok.replace('$(tasks.a.status)', '$(tasks.zz.status)');
      const { problems } = invalidOf(() => validatePipeline(pipeline(bad), resolve));
      expectProblem(problems, `pipeline.yaml:${pos(bad, 'value: $(tasks.status)')}`, 'spec.finally[0].params[0].value', 'pipeline task zz is not defined');
    });

    it('with local: false accepts what only a cluster runs (sidecars, matrix, resolvers, CEL) but still checks the rest', () => {
      const withSidecar = TASK_A.replace('  steps:\n', '  sidecars:\n    - name: db\n      image: pg\n  steps:\n');
      expect(() => validateTask(task(withSidecar), { local: false })).to.not.throw();
      const text = pipelineText(
        OK_TASK('a').replace('      params:\n        - name: msg\n          value: hi\n', '      matrix:\n        params:\n          - name: msg\n            value: [a, b]\n') +
          OK_TASK('b', "      when:\n        - cel: \"'a' == 'a'\"\n").replace('        name: task-a\n', '        resolver: git\n'),
      );
      expect(() => validatePipeline(pipeline(text), resolve, { local: false })).to.not.throw();
      const { problems } = invalidOf(() => validatePipeline(pipeline(text), resolve));
      expect(problems.map((p) => p.path)).to.have.members(['spec.tasks[0].matrix', 'spec.tasks[1].when[0].cel', 'spec.tasks[1].taskRef.resolver']);
      const broken = text.replace('    - name: b\n', '    - name: B\n');
      const r = invalidOf(() => validatePipeline(pipeline(broken), resolve, { local: false }));
      expectProblem(r.problems, `pipeline.yaml:${pos(broken, 'name: B')}`, 'spec.tasks[1].name', 'must be a valid DNS Label');
    });

    it('points problems of a referenced Task into its own file', () => {
      const badTask = TASK_A.replace('      image: img\n', '      image: img\n      foo: bar\n');
      const text = pipelineText(OK_TASK('a'));
      const { problems } = invalidOf(() => validatePipeline(pipeline(text), tasksFrom(badTask)));
      expectProblem(problems, `task0.yaml:${pos(badTask, 'foo: bar')}`, 'spec.steps[0].foo', 'unknown field');
    });
  });

  describe('PipelineRun', () => {
    const resolve = tasksFrom(TASK_A);
    const run = (spec: string): string => `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: r-
spec:
${spec}`;
    const embedded = (params: string, extra = ''): string =>
      run(`${params}  pipelineSpec:
    params:
      - name: word
      - name: num
        default: "1"
    tasks:
      - name: a
        taskRef:
          name: task-a
        params:
          - name: msg
            value: $(params.word)
        workspaces:
          - name: src
            workspace: ws
    workspaces:
      - name: ws
${extra}`);

    it('accepts a run with an embedded pipelineSpec and resolves its params with defaults', () => {
      const text = embedded('  params:\n    - name: word\n      value: hello\n  workspaces:\n    - name: ws\n      emptyDir: {}\n');
      const v = validatePipelineRun(loadText(text, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve });
      expect(v.params).to.deep.equal({ word: 'hello', num: '1' });
      expect(v.pipeline.tasks[0]!.taskName).to.equal('task-a');
    });

    it('refuses cluster-only workspace bindings locally, unless -w binds a directory instead', () => {
      const text = embedded('  params:\n    - name: word\n      value: hello\n  workspaces:\n    - name: ws\n      persistentVolumeClaim:\n        claimName: c\n');
      const doc = (): Loaded<PipelineRun> => loadText(text, 'run.yaml')[0] as Loaded<PipelineRun>;
      const { problems } = invalidOf(() => validatePipelineRun(doc(), { resolveTask: resolve }));
      expectProblem(problems, `run.yaml:${pos(text, 'persistentVolumeClaim')}`, 'spec.workspaces[0].persistentVolumeClaim', 'bind a directory with -w ws=DIR');
      expect(validatePipelineRun(doc(), { resolveTask: resolve, locallyBound: new Set(['ws']) }).params['word']).to.equal('hello');
      expect(validatePipelineRun(doc(), { resolveTask: resolve, local: false }).params['word']).to.equal('hello');
    });

    it('propagates pipeline params into embedded taskSpecs of an embedded pipelineSpec', () => {
      const text = run(`  params:
    - name: word
      value: hi
  pipelineSpec:
    params:
      - name: word
    tasks:
      - name: e
        taskSpec:
          steps:
            - name: s
              image: i
              script: echo $(params.word)
`);
      const v = validatePipelineRun(loadText(text, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve });
      expect(v.pipeline.tasks[0]!.taskName).to.equal(undefined);
      const bad = text.replace('echo $(params.word)', 'echo $(params.other)');
      const { problems } = invalidOf(() => validatePipelineRun(loadText(bad, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve }));
      expectProblem(problems, `run.yaml:${pos(bad, 'script:')}`, 'spec.pipelineSpec.tasks[0].taskSpec.steps[0].script', 'no param "other" is declared');
    });

    it('rejects a missing run param, a type mismatch and an unbound workspace', () => {
      const text = embedded('  params:\n    - name: num\n      value: [a]\n');
      const { problems } = invalidOf(() => validatePipelineRun(loadText(text, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve }));
      expectProblem(problems, `run.yaml:${pos(text, 'params:')}`, 'spec.params', 'PipelineRun missing parameters: word');
      expectProblem(problems, `run.yaml:${pos(text, 'value: [a]')}`, 'spec.params[0].value', 'param types don\'t match');
      expectProblem(problems, `run.yaml:${pos(text, 'spec:')}`, 'spec.workspaces', 'pipeline requires workspace with name "ws"');
    });

    it('points into the embedded pipelineSpec for its problems', () => {
      const text = embedded('  params:\n    - name: word\n      value: w\n  workspaces:\n    - name: ws\n      emptyDir: {}\n').replace('value: $(params.word)', 'value: $(params.wrd)');
      const { err } = invalidOf(() => validatePipelineRun(loadText(text, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve }));
      expect(err.message).to.match(new RegExp(`^run\\.yaml:${pos(text, 'value: $(params.wrd)')}: spec\\.pipelineSpec\\.tasks\\[0\\]\\.params\\[0\\]\\.value: non-existent variable`));
    });

    it('rejects bad timeouts and resolves pipelineRef through the resolver', () => {
      const p = pipeline(pipelineText(OK_TASK('a')));
      const text = run('  pipelineRef:\n    name: p\n  params:\n    - {name: word, value: w}\n    - {name: words, value: [a]}\n    - {name: cfg, value: {host: h}}\n  workspaces:\n    - {name: ws, emptyDir: {}}\n  timeouts:\n    pipeline: 1h\n    tasks: 2h\n');
      const { problems } = invalidOf(() =>
        validatePipelineRun(loadText(text, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve, resolvePipeline: (n) => (n === 'p' ? p : undefined) }),
      );
      expectProblem(problems, `run.yaml:${pos(text, 'tasks: 2h')}`, 'spec.timeouts.tasks', 'invalid value: 2h0m0s should be <= pipeline duration');
      const sum = text.replace('    pipeline: 1h\n    tasks: 2h\n', '    tasks: 50m\n    finally: 20m\n');
      const s2 = invalidOf(() => validatePipelineRun(loadText(sum, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve, resolvePipeline: () => p }));
      expectProblem(s2.problems, `run.yaml:${pos(sum, 'finally: 20m')}`, 'spec.timeouts.finally', 'invalid value: 50m0s + 20m0s should be <= default timeout duration');
      const none = text.replace('    tasks: 2h\n', '    tasks: "0"\n');
      const s3 = invalidOf(() => validatePipelineRun(loadText(none, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve, resolvePipeline: () => p }));
      expectProblem(s3.problems, `run.yaml:${pos(none, 'tasks: "0"')}`, 'spec.timeouts.tasks', '0s (no timeout) should be <= pipeline duration');
      const missing = run('  pipelineRef:\n    name: nope\n');
      const r = invalidOf(() => validatePipelineRun(loadText(missing, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve, resolvePipeline: () => undefined }));
      expectProblem(r.problems, `run.yaml:${pos(missing, 'name: nope')}`, 'spec.pipelineRef.name', 'Pipeline "nope" not found');
      const okText = text.replace('    tasks: 2h\n', '');
      const v = validatePipelineRun(loadText(okText, 'run.yaml')[0] as Loaded<PipelineRun>, { resolveTask: resolve, resolvePipeline: () => p });
      expect(v.pipelineSource).to.equal(p);
      expect(v.params).to.deep.equal({ word: 'w', words: ['a'], cfg: { host: 'h' } });
    });
  });

  describe('TaskRun', () => {
    it('checks the example TaskRun of the tasks directory against its Task (a required param is missing)', async () => {
      const tasks = await loadTasksDir(join(FIXTURES, 'tasks'));
      const docs = await loadFile(join(FIXTURES, 'tasks', 'notify.yaml'));
      const tr = docs.find((d) => d.kind === 'TaskRun') as Loaded<TaskRun>;
      const text = readFileSync(join(FIXTURES, 'tasks', 'notify.yaml'), 'utf8');
      const { problems } = invalidOf(() => validateTaskRun(tr, (n) => tasks.get(n)));
      expectProblem(problems, `${tr.file}:${pos(text, 'spec:', 1)}`, 'spec.params', 'missing parameters: status');
    });

    it('accepts an embedded taskSpec with its params and workspaces, and rejects mismatches', () => {
      const text = `apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: tr
spec:
  timeout: 10m
  params:
    - name: list
      value: [a, b]
  workspaces:
    - name: src
      emptyDir: {}
  taskSpec:
    params:
      - name: list
        type: array
    workspaces:
      - name: src
    steps:
      - name: s
        image: i
        args: ["$(params.list[*])"]
`;
      const v = validateTaskRun(loadText(text, 'tr.yaml')[0] as Loaded<TaskRun>, () => undefined);
      expect(v.taskName).to.equal(undefined);
      expect(v.taskSpec.params![0]!.type).to.equal('array');
      const bad = text.replace('value: [a, b]', 'value: ab').replace('    - name: src\n      emptyDir', '    - name: other\n      emptyDir').replace('timeout: 10m', 'timeout: soon');
      const { problems } = invalidOf(() => validateTaskRun(loadText(bad, 'tr.yaml')[0] as Loaded<TaskRun>, () => undefined));
      expectProblem(problems, `tr.yaml:${pos(bad, 'value: ab')}`, 'spec.params[0].value', 'param types don\'t match the user-specified type: "list" is declared array');
      expectProblem(problems, `tr.yaml:${pos(bad, 'name: other')}`, 'spec.workspaces[0].name', 'workspace binding "other" does not match any declared workspace');
      expectProblem(problems, `tr.yaml:${pos(bad, 'workspaces:')}`, 'spec.workspaces', 'declared workspace "src" is required but has not been bound');
      expectProblem(problems, `tr.yaml:${pos(bad, 'timeout: soon')}`, 'spec.timeout', 'is not a duration');
    });
  });
});

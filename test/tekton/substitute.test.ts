import { expect } from 'chai';
import { isVouchError } from '../../src/common/errors.ts';
import {
  effectiveParams,
  referencesIn,
  resolvePipelineParams,
  resolvePipelineTask,
  substituteArrayItem,
  substituteParamValue,
  substituteString,
  substituteTaskSpec,
  type Replacements,
} from '../../src/tekton/substitute.ts';
import { parseExpression } from '../../src/tekton/refs.ts';
import type { PipelineTask, TaskSpec } from '../../src/tekton/types.ts';

const params: Replacements = {
  params: { s: 'str', arr: ['a1', 'a2'], obj: { k: 'v', url: 'https://x' }, 'dot.name': 'dotted' },
};

describe('tekton/substitute', () => {
  describe('strings (docs/variables.md)', () => {
    const table: [string, string][] = [
      ['$(params.s)', 'str'],
      ['$(params["s"])', 'str'],
      ["$(params['s'])", 'str'],
      ['$(params["dot.name"])', 'dotted'],
      ['x-$(params.s)-y $(params.s)', 'x-str-y str'],
      ['$(params.arr[1])', 'a2'],
      ['$(params["arr"][0])', 'a1'],
      ['$(params.obj.k)', 'v'],
      // not Tekton variables: left exactly as written
      ['$(date) $(unknown.thing)', '$(date) $(unknown.thing)'],
      // no escaping in Tekton: `$$(` is a `$` followed by the substituted reference
      ['$$(params.s)', '$str'],
      ['\\$(params.s)', '\\str'],
      // the innermost $( ) is the reference
      ['$(echo $(params.s))', '$(echo str)'],
      // an unknown param stays (validation rejects it before a run)
      ['$(params.nope)', '$(params.nope)'],
    ];
    for (const [input, want] of table) {
      it(`${input} -> ${want}`, () => {
        expect(substituteString(input, params)).to.equal(want);
      });
    }

    it('refuses a whole array or object in the middle of a string', () => {
      for (const s of ['x $(params.arr[*])', 'x $(params.obj[*])']) {
        try {
          substituteString(s, params, 'steps[0].script');
          expect.fail(`expected an error for ${s}`);
        } catch (err) {
          expect(isVouchError(err, 'TEKTON_SUBSTITUTION_FAILED')).to.equal(true);
          expect((err as Error).message).to.match(/^steps\[0\]\.script: cannot substitute \$\(params\.(arr|obj)\[\*\]\)/);
        }
      }
    });

    it('fails on an index past the end of an array, as Tekton does before creating the TaskRun', () => {
      expect(() => substituteString('$(params.arr[5])', params)).to.throw(/index 5 out of bound: param "arr" has 2 elements/);
      expect(() => substituteString('$(tasks.t.results.r[1])', { taskResults: { t: { r: ['only'] } } })).to.throw(/index 1 out of bound: result "r" of task "t" has 1 element$/);
    });

    it('replaces once per pass: a value is not re-scanned by the same pass', () => {
      expect(substituteString('$(params.a)', { params: { a: '$(params.b)', b: 'B' } })).to.equal('$(params.b)');
    });
  });

  describe('array expansion in command/args items', () => {
    const table: [string, string[]][] = [
      ['$(params.arr[*])', ['a1', 'a2']],
      ['$(params.arr)', ['a1', 'a2']],
      ['$(params["arr"][*])', ['a1', 'a2']],
      ['--flag=$(params.s)', ['--flag=str']],
      ['$(params.arr[0])', ['a1']],
    ];
    for (const [input, want] of table) {
      it(`${input} -> ${JSON.stringify(want)}`, () => {
        expect(substituteArrayItem(input, params)).to.deep.equal(want);
      });
    }

    it('expands inside a TaskSpec args list and keeps the other items in place', () => {
      const spec: TaskSpec = {
        params: [{ name: 'flags', type: 'array' }, { name: 'target', default: 'all' }],
        steps: [{ name: 's', image: 'i', command: ['make'], args: ['-C', '$(params.flags[*])', '$(params.target)'] }],
      };
      const out = substituteTaskSpec(spec, { params: [{ name: 'flags', value: ['-j2', '-k'] }] });
      expect(out.steps[0]!.args).to.deep.equal(['-C', '-j2', '-k', 'all']);
      expect(spec.steps[0]!.args, 'input untouched').to.deep.equal(['-C', '$(params.flags[*])', '$(params.target)']);
      const empty = substituteTaskSpec(spec, { params: [{ name: 'flags', value: [] }] });
      expect(empty.steps[0]!.args).to.deep.equal(['-C', 'all']);
    });
  });

  describe('param values (ParamValue.applyOrCorrect)', () => {
    it('an isolated whole array/object reference changes the value type', () => {
      expect(substituteParamValue('$(params.arr[*])', params)).to.deep.equal(['a1', 'a2']);
      expect(substituteParamValue('$(params.obj[*])', params)).to.deep.equal({ k: 'v', url: 'https://x' });
      expect(substituteParamValue('$(params.obj)', params)).to.deep.equal({ k: 'v', url: 'https://x' });
      expect(substituteParamValue(['x', '$(params.arr[*])'], params)).to.deep.equal(['x', 'a1', 'a2']);
      expect(substituteParamValue({ a: '$(params.obj.url)' }, params)).to.deep.equal({ a: 'https://x' });
    });
  });

  describe('TaskSpec substitution order: params, context, workspaces, result paths', () => {
    const spec: TaskSpec = {
      params: [{ name: 'who' }, { name: 'cfg', type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, default: { a: 'A', b: 'B' } }],
      workspaces: [{ name: 'src' }, { name: 'cache', optional: true }],
      results: [{ name: 'digest' }],
      steps: [
        {
          name: 'run',
          image: 'img',
          workingDir: '$(workspaces.src.path)',
          env: [
            { name: 'WHO', value: '$(params.who)' },
            { name: 'CFG', value: '$(params.cfg.a)$(params.cfg.b)' },
            { name: 'TR', value: '$(context.taskRun.name)/$(context.taskRun.namespace)/$(context.taskRun.uid)/$(context.task.name)/$(context.task.retry-count)' },
            { name: 'CACHE', value: '$(workspaces.cache.bound):$(workspaces.cache.path)' },
          ],
          script: 'echo -n x > $(results.digest.path); echo > $(step.results.local.path)',
          results: [{ name: 'local' }],
        },
      ],
    };
    const out = substituteTaskSpec(spec, {
      // a param value that is itself a context variable is substituted by the later context pass, as on a cluster
      params: [{ name: 'who', value: '$(context.taskRun.name)' }, { name: 'cfg', value: { b: 'given' } }],
      context: { taskRunName: 'run-1-build', taskRunNamespace: 'default', taskRunUid: 'uid-1', taskName: 'build', retryCount: 2 },
      workspaces: { src: '/w/src' },
      resultsDir: '/tekton/results',
      stepResultsDir: (i, s) => `/tekton/steps/step-${s.name ?? `unnamed-${i}`}/results`,
    });
    const env = Object.fromEntries(out.steps[0]!.env!.map((e) => [e.name, e.value]));

    it('substitutes params (object keys merged over defaults) and context', () => {
      expect(env['WHO']).to.equal('run-1-build');
      expect(env['CFG']).to.equal('Agiven');
      expect(env['TR']).to.equal('run-1-build/default/uid-1/build/2');
    });
    it('substitutes workspaces: path and bound; an unbound optional one is bound=false with path ""', () => {
      expect(out.steps[0]!.workingDir).to.equal('/w/src');
      expect(env['CACHE']).to.equal('false:');
    });
    it('substitutes result paths', () => {
      expect(out.steps[0]!.script).to.equal('echo -n x > /tekton/results/digest; echo > /tekton/steps/step-run/results/local');
    });
    it('substitutes step exit-code paths and the credentials path when given', () => {
      const s2 = substituteTaskSpec(
        { steps: [{ name: 'a', image: 'i' }, { name: 'b', image: 'i', script: 'cat $(steps.step-a.exitCode.path) $(credentials.path)' }] },
        { stepsDir: '/run/steps', credentialsPath: '/run/creds' },
      );
      expect(s2.steps[1]!.script).to.equal('cat /run/steps/step-a/exitCode /run/creds');
    });
  });

  describe('pipelines', () => {
    it('resolves run params with defaults that refer to other params, and reports cycles', () => {
      const got = resolvePipelineParams(
        [{ name: 'registry', default: 'gcr.io/p' }, { name: 'tag', default: 'v1' }, { name: 'image', default: '$(params.registry)/$(params.repo):$(params.tag)' }, { name: 'args', type: 'array', default: ['IMAGE=$(params.image)'] }],
        [{ name: 'repo', value: 'app' }],
      );
      expect(got).to.deep.equal({ repo: 'app', registry: 'gcr.io/p', tag: 'v1', image: 'gcr.io/p/app:v1', args: ['IMAGE=gcr.io/p/app:v1'] });
      expect(() => resolvePipelineParams([{ name: 'a', default: '$(params.b)' }, { name: 'b', default: '$(params.a)' }], [])).to.throw(/circular dependency detected in param "(a|b)"/);
      expect(() => resolvePipelineParams([{ name: 'a', default: 'x-$(params.ghost)' }], [])).to.throw(/param "a" references undefined param "ghost"/);
    });

    const pt: PipelineTask = {
      name: 'use',
      taskRef: { name: 't' },
      params: [
        { name: 'str', value: '$(tasks.build.results.digest)' },
        { name: 'arr', value: '$(tasks.build.results.files[*])' },
        { name: 'first', value: '$(tasks.build.results.files[0])' },
        { name: 'url', value: '$(tasks.build.results.meta.url)' },
        { name: 'whole', value: '$(tasks.build.results.meta[*])' },
        { name: 'ctx', value: '$(context.pipelineRun.name)/$(context.pipelineRun.namespace)/$(context.pipelineRun.uid)/$(context.pipeline.name)/$(context.pipelineTask.retries)' },
        { name: 'p', value: '$(params.word)' },
      ],
      when: [{ input: '$(params.word)', operator: 'in', values: ['$(params.list[*])'] }],
      retries: 3,
    };
    const resolved = resolvePipelineTask(pt, {
      params: { word: 'hi', list: ['hi', 'ho'] },
      context: { pipelineRunName: 'pr', pipelineRunNamespace: 'ns', pipelineRunUid: 'u', pipelineName: 'p' },
      taskResults: { build: { digest: 'sha256:1', files: ['a', 'b'], meta: { url: 'https://u', sha: 's' } } },
    });
    const values = Object.fromEntries(resolved.params!.map((p) => [p.name, p.value]));

    it('substitutes string, array, indexed, object-key and whole-object results', () => {
      expect(values['str']).to.equal('sha256:1');
      expect(values['arr']).to.deep.equal(['a', 'b']);
      expect(values['first']).to.equal('a');
      expect(values['url']).to.equal('https://u');
      expect(values['whole']).to.deep.equal({ url: 'https://u', sha: 's' });
    });
    it('substitutes pipeline context variables and pipeline params, and expands arrays in when values', () => {
      expect(values['ctx']).to.equal('pr/ns/u/p/3');
      expect(values['p']).to.equal('hi');
      expect(resolved.when).to.deep.equal([{ input: 'hi', operator: 'in', values: ['hi', 'ho'] }]);
    });

    it('gives finally tasks $(tasks.status) and $(tasks.T.status)', () => {
      const f = resolvePipelineTask({ name: 'f', taskRef: { name: 't' }, params: [{ name: 's', value: '$(tasks.status) $(tasks.build.status) $(tasks.build.reason)' }] }, {
        taskStates: { build: { status: 'Failed', reason: 'Failed' } },
        aggregateStatus: 'Failed',
      });
      expect(f.params![0]!.value).to.equal('Failed Failed Failed');
    });

    it('propagates pipeline params into an embedded taskSpec, a task param shadowing a pipeline param', () => {
      const embedded: PipelineTask = {
        name: 'e',
        params: [{ name: 'word', value: 'from-task-param' }],
        taskSpec: { steps: [{ name: 's', image: 'i', script: 'echo $(params.word) $(params.other) $(context.pipelineRun.name)' }] },
      };
      const out = resolvePipelineTask(embedded, {
        params: { word: 'from-pipeline', other: 'o' },
        context: { pipelineRunName: 'pr', pipelineRunNamespace: 'ns', pipelineRunUid: 'u', pipelineName: 'p' },
      });
      expect(out.taskSpec!.steps[0]!.script).to.equal('echo from-task-param o pr');
      expect(embedded.taskSpec!.steps[0]!.script, 'input untouched').to.equal('echo $(params.word) $(params.other) $(context.pipelineRun.name)');
    });

    it('finds every reference in a pipeline task (for DAG edges)', () => {
      const kinds = referencesIn(pt).map((r) => (r.kind === 'taskResult' ? `${r.task}.${r.result}` : r.kind));
      expect(kinds).to.include.members(['build.digest', 'build.files', 'build.meta', 'context', 'param']);
    });
  });

  it('effectiveParams: defaults, overridden by given values, undeclared given params kept', () => {
    expect(effectiveParams([{ name: 'a', default: 'A' }, { name: 'b', default: ['x'] }], [{ name: 'b', value: ['y'] }, { name: 'extra', value: 'e' }])).to.deep.equal({ a: 'A', b: ['y'], extra: 'e' });
  });

  it('parses every reference form', () => {
    expect(parseExpression('params.a[*]')).to.deep.equal({ kind: 'param', name: 'a', sel: { kind: 'star' }, notation: 'dot' });
    expect(parseExpression("params['a.b'][2]")).to.deep.equal({ kind: 'param', name: 'a.b', sel: { kind: 'index', index: 2 }, notation: 'sq' });
    expect(parseExpression('tasks.t.results.r.key')).to.deep.equal({ kind: 'taskResult', scope: 'tasks', task: 't', result: 'r', sel: { kind: 'key', key: 'key' } });
    expect(parseExpression('tasks.t.results.r[*]')).to.deep.equal({ kind: 'taskResult', scope: 'tasks', task: 't', result: 'r', sel: { kind: 'star' } });
    expect(parseExpression('finally.f.results.r')).to.deep.equal({ kind: 'taskResult', scope: 'finally', task: 'f', result: 'r', sel: { kind: 'whole' } });
    expect(parseExpression('tasks.status')).to.deep.equal({ kind: 'aggregateStatus' });
    expect(parseExpression('tasks.t.status')).to.deep.equal({ kind: 'taskState', task: 't', attr: 'status' });
    expect(parseExpression('results["r"].path')).to.deep.equal({ kind: 'ownResult', name: 'r' });
    expect(parseExpression('step.results.r.path')).to.deep.equal({ kind: 'stepResult', name: 'r' });
    expect(parseExpression('workspaces.w.bound')).to.deep.equal({ kind: 'workspace', name: 'w', attr: 'bound' });
    expect(parseExpression('context.task.retry-count')).to.deep.equal({ kind: 'context', scope: 'task', attr: 'retry-count' });
    expect(parseExpression('date +%s')).to.deep.equal({ kind: 'other' });
  });
});

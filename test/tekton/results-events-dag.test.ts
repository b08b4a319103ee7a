import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isVouchError } from '../../src/common/errors.ts';
import { buildDag, descendants, findCycle, readyTasks, topologicalOrder } from '../../src/tekton/dag.ts';
import { parseDuration, formatDuration } from '../../src/tekton/duration.ts';
import { eventAttributes, eventData, eventTypeFor, fromV1beta1PipelineRun, fromV1beta1TaskRun, parseEventData, toV1beta1PipelineRun, toV1beta1TaskRun } from '../../src/tekton/events.ts';
import { goJson, parseResultText, readStepResults, terminationMessage, toTaskRunResult } from '../../src/tekton/results.ts';
import type { PipelineRun, PipelineTask, TaskRun } from '../../src/tekton/types.ts';
import { SHARED } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

describe('tekton/results', () => {
  const dir = tempDirPerSuite('vouch-results-');
  const startedAt = new Date('2026-01-02T03:04:05.678Z');
  const opts = { taskName: 'build', stepName: 'report', startedAt };

  it('keeps values verbatim, trailing newline included (Tekton does not trim)', async () => {
    writeFileSync(join(dir(), 'digest'), 'sha256:abc\n');
    const r = await readStepResults(dir(), [{ name: 'digest' }, { name: 'absent' }], opts);
    expect(r).to.deep.equal([{ name: 'digest', type: 'string', value: 'sha256:abc\n' }]);
  });

  it('parses array and object results as ParamValue.UnmarshalJSON does', () => {
    expect(parseResultText('["a","b"]\n')).to.deep.equal(['a', 'b']);
    expect(parseResultText('{"url":"u"}')).to.deep.equal({ url: 'u' });
    expect(parseResultText(' ["a"]')).to.equal(' ["a"]'); // must start with [ to be an array
    expect(parseResultText('[1,2]')).to.equal('[1,2]'); // not strings: kept as text
    expect(toTaskRunResult('["x"]', { name: 'files', type: 'array' }, 't')).to.deep.equal({ name: 'files', type: 'array', value: ['x'] });
  });

  it('fails a result whose type differs from its declaration, naming task and result', () => {
    try {
      toTaskRunResult('not json', { name: 'files', type: 'array' }, 'build');
      expect.fail('expected an error');
    } catch (err) {
      expect(isVouchError(err, 'TEKTON_RESULT_INVALID')).to.equal(true);
      expect((err as Error).message).to.match(/^task "build": Provided results don't match declared results; .*"files": declared array/);
    }
    expect(() => toTaskRunResult('{"url":"u"}', { name: 'meta', type: 'object', properties: { url: { type: 'string' }, sha: { type: 'string' } } }, 'build')).to.throw(/missing keys for these results .*"meta": \[sha\]/);
  });

  it('writes the termination message as Go json.Marshal does and enforces 4096 bytes per step', async () => {
    expect(goJson({ v: '<a&b>' })).to.equal('{"v":"\\u003ca\\u0026b\\u003e"}');
    const msg = terminationMessage([{ name: 'r', raw: 'x' }], startedAt);
    expect(msg).to.equal('[{"key":"r","value":"x","type":1},{"key":"StartedAt","value":"2026-01-02T03:04:05.678Z","type":3}]');
    // the largest value that still fits: 4096 minus the rest of the message
    const overhead = Buffer.byteLength(terminationMessage([{ name: 'big', raw: '' }], startedAt));
    writeFileSync(join(dir(), 'big'), 'x'.repeat(4096 - overhead));
    const ok = await readStepResults(dir(), [{ name: 'big' }], opts);
    expect((ok[0]!.value as string).length).to.equal(4096 - overhead);
    writeFileSync(join(dir(), 'big'), 'x'.repeat(4096 - overhead + 1));
    try {
      await readStepResults(dir(), [{ name: 'big' }], opts);
      expect.fail('expected an error');
    } catch (err) {
      expect(isVouchError(err, 'TEKTON_RESULT_INVALID')).to.equal(true);
      expect((err as Error).message).to.contain('task "build" step "report": Termination message is above max allowed size 4096');
      expect((err as Error).message).to.contain('largest result "big"');
    }
    // HTML characters count escaped, as on a cluster: 6 bytes each
    writeFileSync(join(dir(), 'big'), '<'.repeat(Math.floor((4096 - overhead) / 6) + 1));
    try {
      await readStepResults(dir(), [{ name: 'big' }], opts);
      expect.fail('expected an error');
    } catch (err) {
      expect(isVouchError(err, 'TEKTON_RESULT_INVALID')).to.equal(true);
    }
  });
});

describe('tekton/dag', () => {
  const t = (name: string, extra: Partial<PipelineTask> = {}): PipelineTask => ({ name, taskRef: { name: 'x' }, ...extra });
  const tasks = [
    t('clone'),
    t('lint', { runAfter: ['clone'] }),
    t('test', { runAfter: ['clone'] }),
    t('build', { params: [{ name: 'd', value: '$(tasks.test.results.ok) $(tasks.lint.results.ok)' }] }),
    t('scan', { when: [{ input: '$(tasks.build.results.digest)', operator: 'notin', values: [''] }] }),
  ];
  const dag = buildDag(tasks);

  it('takes edges from runAfter and from result references in params and when', () => {
    expect([...dag.parents.get('build')!].sort()).to.deep.equal(['lint', 'test']);
    expect([...dag.parents.get('scan')!]).to.deep.equal(['build']);
    expect(findCycle(dag)).to.equal(undefined);
  });

  it('schedules fan-out and fan-in', () => {
    expect(readyTasks(dag, new Set(), new Set())).to.deep.equal(['clone']);
    expect(readyTasks(dag, new Set(['clone']), new Set())).to.deep.equal(['lint', 'test']);
    expect(readyTasks(dag, new Set(['clone', 'lint']), new Set(['test']))).to.deep.equal([]);
    expect(topologicalOrder(dag)).to.deep.equal(['clone', 'lint', 'test', 'build', 'scan']);
    expect(descendants(dag, 'test')).to.deep.equal(['build', 'scan']);
  });

  it('names a cycle as a "depends on" chain', () => {
    const cyc = buildDag([t('a', { runAfter: ['c'] }), t('b', { runAfter: ['a'] }), t('c', { params: [{ name: 'x', value: '$(tasks.b.results.r)' }] })]);
    expect(findCycle(cyc)).to.deep.equal(['a', 'c', 'b', 'a']);
    expect(findCycle(buildDag([t('self', { runAfter: ['self'] })]))).to.deep.equal(['self', 'self']);
  });

  it('parses Go durations', () => {
    expect(parseDuration('1h0m0s')).to.equal(3_600_000);
    expect(parseDuration('1.5h')).to.equal(5_400_000);
    expect(parseDuration('90s')).to.equal(90_000);
    expect(parseDuration('300ms')).to.equal(300);
    expect(parseDuration('0')).to.equal(0);
    expect(parseDuration('5 minutes')).to.equal(undefined);
    expect(parseDuration('10')).to.equal(undefined);
    expect(formatDuration(3_600_000)).to.equal('1h0m0s');
    expect(formatDuration(90_000)).to.equal('1m30s');
  });
});

describe('tekton/events', () => {
  const fixture = JSON.parse(readFileSync(join(SHARED, 'fixtures/tekton/cloudevent-taskrun-unknown.data.v1beta1.json'), 'utf8')) as { taskRun: Record<string, unknown> };
  const headers = JSON.parse(readFileSync(join(SHARED, 'fixtures/tekton/cloudevent-taskrun-unknown.headers.json'), 'utf8')) as Record<string, string>;

  // The fixture's TaskRun as a v1 TaskRun (what the runner builds): the inverse of Tekton's conversion.
  const fx = fixture.taskRun as { metadata: TaskRun['metadata']; spec: Record<string, unknown>; status: Record<string, unknown> };
  const fxTaskSpec = fx.status['taskSpec'] as { steps: Record<string, unknown>[] };
  const v1 = {
    apiVersion: 'tekton.dev/v1',
    kind: 'TaskRun',
    metadata: fx.metadata,
    spec: { params: fx.spec['params'], serviceAccountName: 'default', taskRef: { kind: 'Task', name: 'curl' }, timeout: '1h0m0s' },
    // v1 steps have computeResources (absent here) where v1beta1 has resources
    status: { ...fx.status, taskSpec: { ...fxTaskSpec, steps: fxTaskSpec.steps.map(({ resources: _r, ...s }) => s) } },
  } as unknown as TaskRun;

  /** Every key path of a JSON value, arrays by element; the "field layout". */
  function layout(v: unknown, prefix = ''): string[] {
    if (Array.isArray(v)) return v.flatMap((x) => layout(x, `${prefix}[]`));
    if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => [`${prefix}.${k}`, ...layout(x, `${prefix}.${k}`)]);
    return [];
  }

  it('converts a v1 TaskRun to the v1beta1 payload layout of Tekton\'s example event', () => {
    const data = eventData(v1) as { taskRun: Record<string, unknown> };
    const got = new Set(layout(data.taskRun));
    // spec.resources is the PipelineResources field of v0.20 (removed from Tekton since v0.50): not expected today
    const want = layout(fixture.taskRun).filter((k) => k !== '.spec.resources');
    expect([...new Set(want)].filter((k) => !got.has(k)), 'missing fields').to.deep.equal([]);
    expect([...got].filter((k) => !want.includes(k)), 'extra fields').to.deep.equal([]);
    expect((data.taskRun['status'] as { taskSpec: { steps: { resources: unknown }[] } }).taskSpec.steps[0]!.resources).to.deep.equal({});
    expect(data.taskRun).to.not.have.property('apiVersion');
  });

  it('renames results to taskResults / pipelineResults and keeps childReferences', () => {
    const tr = toV1beta1TaskRun({ ...v1, status: { podName: 'p', results: [{ name: 'digest', type: 'string', value: 'sha256:1' }] } });
    expect(tr['status']).to.deep.equal({ podName: 'p', taskResults: [{ name: 'digest', type: 'string', value: 'sha256:1' }] });
    const pr: PipelineRun = {
      apiVersion: 'tekton.dev/v1',
      kind: 'PipelineRun',
      metadata: { name: 'pr', namespace: 'default' },
      spec: { pipelineRef: { name: 'p' }, taskRunTemplate: { serviceAccountName: 'sa' }, timeouts: { pipeline: '1h0m0s' } },
      status: {
        conditions: [{ type: 'Succeeded', status: 'True', reason: 'Succeeded' }],
        results: [{ name: 'r', value: 'v' }],
        childReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: 'pr-a', pipelineTaskName: 'a' }],
      },
    };
    const out = toV1beta1PipelineRun(pr);
    expect(out['spec']).to.deep.equal({ pipelineRef: { name: 'p' }, serviceAccountName: 'sa', timeouts: { pipeline: '1h0m0s' } });
    expect(out['status']).to.deep.equal({
      conditions: [{ type: 'Succeeded', status: 'True', reason: 'Succeeded' }],
      pipelineResults: [{ name: 'r', value: 'v' }],
      childReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: 'pr-a', pipelineTaskName: 'a' }],
    });
    expect(eventTypeFor(pr)).to.equal('dev.tekton.event.pipelinerun.successful.v1');
  });

  it('picks the event type from the Succeeded condition, as the fixture (Unknown/Pending -> unknown)', () => {
    expect(eventTypeFor(v1)).to.equal(headers['Ce-Type']);
    const withReason = (status: 'True' | 'False' | 'Unknown', reason: string): TaskRun => ({ ...v1, status: { podName: 'p', conditions: [{ type: 'Succeeded', status, reason }] } });
    expect(eventTypeFor(withReason('Unknown', 'Started'))).to.equal('dev.tekton.event.taskrun.started.v1');
    expect(eventTypeFor(withReason('Unknown', 'Running'))).to.equal('dev.tekton.event.taskrun.running.v1');
    expect(eventTypeFor(withReason('False', 'TaskRunCancelled'))).to.equal('dev.tekton.event.taskrun.failed.v1');
    expect(eventTypeFor({ ...v1, status: { podName: 'p' } })).to.equal('dev.tekton.event.taskrun.queued.v1');
  });

  it('sets subject to the name and source as Tekton builds it', () => {
    const a = eventAttributes(v1);
    expect(a.subject).to.equal(headers['Ce-Subject']);
    expect(a.specversion).to.equal(headers['Ce-Specversion']);
    expect(a.type).to.equal(headers['Ce-Type']);
    expect(a.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.id).to.not.equal(eventAttributes(v1).id);
    expect(a.source).to.equal('/apis///namespaces/default//curl-run-6gplk');
    expect(Number.isNaN(Date.parse(a.time))).to.equal(false);
    expect(eventAttributes(v1, { withTypeMeta: true }).source).to.equal('/apis/tekton.dev/v1/namespaces/default/TaskRun/curl-run-6gplk');
  });

  describe('ingest (sidecar side): event data back to v1', () => {
    it('reads Tekton\'s example event as a v1 TaskRun', () => {
      const tr = parseEventData(fixture) as TaskRun;
      expect(tr.kind).to.equal('TaskRun');
      expect(tr.metadata.name).to.equal('curl-run-6gplk');
      expect(tr.spec).to.not.have.property('resources');
      expect(tr.status!.taskSpec!.steps[0]).to.not.have.property('resources');
      expect(tr.status!.taskSpec!.steps[0]!.args).to.deep.equal(['$(params.options[*])', '$(params.url)']);
    });

    it('round-trips TaskRuns and PipelineRuns through the v1beta1 layout', () => {
      const tr: TaskRun = {
        apiVersion: 'tekton.dev/v1',
        kind: 'TaskRun',
        metadata: { name: 'pr-a', namespace: 'default', uid: 'u1', labels: { 'tekton.dev/pipelineTask': 'a' } },
        spec: { taskRef: { kind: 'Task', name: 'build' }, params: [{ name: 'x', value: ['1'] }], stepSpecs: [{ name: 's' }], timeout: '1h0m0s' },
        status: {
          podName: '',
          conditions: [{ type: 'Succeeded', status: 'True', reason: 'Succeeded' }],
          results: [{ name: 'digest', type: 'string', value: 'sha256:1' }],
          taskSpec: { steps: [{ name: 's', image: 'i', computeResources: { limits: { cpu: '1' } } }] },
          retriesStatus: [{ podName: '', results: [{ name: 'digest', type: 'string', value: 'old' }] }],
        },
      };
      expect(fromV1beta1TaskRun(toV1beta1TaskRun(tr))).to.deep.equal(tr);
      const pr: PipelineRun = {
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        metadata: { name: 'pr', namespace: 'default' },
        spec: {
          // as Tekton stores it: Go writes a step's computeResources struct even empty
          pipelineSpec: { tasks: [{ name: 'a', taskSpec: { steps: [{ name: 's', image: 'i', computeResources: {} }] } }] },
          taskRunTemplate: { serviceAccountName: 'sa', podTemplate: { nodeSelector: { a: 'b' } } },
          timeouts: { pipeline: '1h0m0s' },
          taskRunSpecs: [{ pipelineTaskName: 'a', serviceAccountName: 'sa2', stepSpecs: [] }],
        },
        status: {
          results: [{ name: 'r', value: 'v' }],
          childReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: 'pr-a', pipelineTaskName: 'a' }],
          skippedTasks: [{ name: 'b', reason: 'When Expressions evaluated to false', whenExpressions: [{ input: 'a', operator: 'in', values: ['b'] }] }],
        },
      };
      const beta = toV1beta1PipelineRun(pr);
      expect((beta['spec'] as { taskRunSpecs: unknown[] }).taskRunSpecs).to.deep.equal([{ pipelineTaskName: 'a', taskServiceAccountName: 'sa2', stepOverrides: [] }]);
      expect(fromV1beta1PipelineRun(beta)).to.deep.equal(pr);
      // a v1beta1 step without resources converts as Tekton's conversion does: computeResources {}, not absent
      const bare = fromV1beta1TaskRun({ metadata: { name: 'x' }, spec: { taskSpec: { steps: [{ name: 's', image: 'i' }] } } });
      expect(bare.spec.taskSpec!.steps[0]).to.deep.equal({ name: 's', image: 'i', computeResources: {} });
      // the deprecated v1beta1 spec.timeout reads as timeouts.pipeline
      expect(fromV1beta1PipelineRun({ metadata: { name: 'x' }, spec: { timeout: '5m' } }).spec.timeouts).to.deep.equal({ pipeline: '5m' });
    });

    it('rejects malformed event data as INPUT_INVALID', () => {
      for (const bad of [null, [], 'x', {}, { taskRun: {} }, { taskRun: { metadata: { name: '' } } }, { pipelineRun: { metadata: { name: 'a' }, spec: [] } }, { taskRun: { metadata: { name: 'a' } }, pipelineRun: {} }]) {
        try {
          parseEventData(bad);
          expect.fail(`accepted ${JSON.stringify(bad)}`);
        } catch (err) {
          expect(isVouchError(err, 'INPUT_INVALID'), JSON.stringify(bad)).to.equal(true);
        }
      }
    });
  });
});

import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isVouchError } from '../../src/common/errors.ts';
import { configureLogging } from '../../src/common/log.ts';
import { TEST_RESULT_V01 } from '../../src/attest/predicates.ts';
import { STAGES, evidence, outcomeOf, parseResultFlags, redactCredentials, runStage, testOutput, writeDirAtomic, type Stage, type StageOutcome } from '../../src/stages/index.ts';
import { MAX_TERMINATION_MESSAGE_BYTES } from '../../src/tekton/results.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { captureLogs } from '../helpers/log.ts';

/** A stage whose outcome the test chooses: exercises the framework around it. */
function stageReturning(outcome: () => StageOutcome): Stage {
  return {
    name: 'probe',
    description: 'framework test stage',
    params: [
      { name: 'head-revision', description: 'head', required: true },
      { name: 'mode', description: 'mode', default: 'strict' },
    ],
    results: [
      { name: 'TEST_OUTPUT', description: 'verdict' },
      { name: 'digest', description: 'a value' },
    ],
    run: () => Promise.resolve(outcome()),
  };
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('stage framework', () => {
  const tmp = tempDirPerSuite('vouch-stagefw-');
  let logLines: string[] = [];
  before(() => {
    logLines = captureLogs('info');
  });
  after(() => configureLogging());
  beforeEach(() => {
    logLines.length = 0;
  });
  let n = 0;
  const fresh = (): { source: string; results: string } => {
    const d = join(tmp(), String(++n));
    mkdirSync(join(d, 'results'), { recursive: true });
    mkdirSync(join(d, 'source')); // a Tekton workspace always exists
    return { source: join(d, 'source'), results: join(d, 'results') };
  };

  it('refuses a source workspace that does not exist, unless the stage creates it (clone)', async () => {
    const ok = (): StageOutcome => ({ results: {}, gate: { passed: true, reasons: [] }, files: {}, report: {} });
    const missing = join(tmp(), 'no-such-workspace');
    const err = await rejects(runStage(stageReturning(ok), { params: { 'head-revision': 'h' }, source: missing, resultPaths: {} }));
    expect(isVouchError(err, 'STAGE_REPO_NOT_FOUND'), String(err)).to.equal(true);
    expect((err as Error).message).to.include(missing);
    expect(existsSync(missing)).to.equal(false);
    await runStage({ ...stageReturning(ok), createsSource: true }, { params: { 'head-revision': 'h' }, source: missing, resultPaths: {} });
    expect(existsSync(join(missing, '.vouch', 'reports', 'probe', 'report.json'))).to.equal(true);
  });

  it('writes results verbatim, the report directory with report.json, and applies param defaults', async () => {
    const d = fresh();
    const now = new Date('2026-01-02T03:04:05.678Z');
    const stage = stageReturning(() => ({
      results: { TEST_OUTPUT: testOutput({ result: 'SUCCESS', namespace: 'probe', successes: 3, failures: 0, warnings: 0, note: 'ok', timestamp: now }), digest: 'sha256:abc\n' },
      gate: { passed: true, reasons: [] },
      files: { 'out/detail.txt': 'detail' },
      report: { extra: 1 },
    }));
    const s = await runStage(stage, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: { TEST_OUTPUT: join(d.results, 'TEST_OUTPUT'), digest: join(d.results, 'digest') }, now });
    expect(s.passed).to.equal(true);
    expect(readFileSync(join(d.results, 'digest'), 'utf8')).to.equal('sha256:abc\n');
    expect(JSON.parse(readFileSync(join(d.results, 'TEST_OUTPUT'), 'utf8'))).to.deep.equal({ result: 'SUCCESS', namespace: 'probe', timestamp: '2026-01-02T03:04:05Z', successes: 3, failures: 0, warnings: 0, note: 'ok' });
    const dir = join(d.source, '.vouch/reports/probe');
    expect(readFileSync(join(dir, 'out/detail.txt'), 'utf8')).to.equal('detail');
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
    expect(report).to.deep.include({ stage: 'probe', passed: true, params: { 'head-revision': 'h', mode: 'strict' }, extra: 1, timestamp: now.toISOString() });
    expect(readdirSync(d.results).sort()).to.deep.equal(['TEST_OUTPUT', 'digest']);
  });

  it('a failed gate is not an error: everything is written and the reasons are in the report', async () => {
    const d = fresh();
    const stage = stageReturning(() => ({ results: { digest: 'x' }, gate: { passed: false, reasons: ['because of X'] }, files: {}, report: {} }));
    const s = await runStage(stage, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: { digest: join(d.results, 'digest') } });
    expect(s).to.include({ passed: false });
    expect(s.reasons).to.deep.equal(['because of X']);
    expect(JSON.parse(readFileSync(join(d.source, '.vouch/reports/probe/report.json'), 'utf8'))).to.deep.include({ passed: false, reasons: ['because of X'] });
    const failed = logLines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.level === 50);
    expect(failed?.msg).to.equal('stage probe: FAILED: because of X');
  });

  it('results above Tekton\'s termination-message limit: STAGE_RESULT_TOO_LARGE, nothing written, discard called', async () => {
    const d = fresh();
    let discarded = false;
    let finalized = false;
    const stage = stageReturning(() => ({
      results: { TEST_OUTPUT: 'a'.repeat(2000), digest: 'b'.repeat(2000) },
      gate: { passed: true, reasons: [] },
      files: { 'x.txt': 'x' },
      report: {},
      finalize: () => {
        finalized = true;
        return Promise.resolve();
      },
      discard: () => {
        discarded = true;
        return Promise.resolve();
      },
    }));
    const err = await rejects(runStage(stage, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: { TEST_OUTPUT: join(d.results, 'T'), digest: join(d.results, 'd') } }));
    expect(isVouchError(err, 'STAGE_RESULT_TOO_LARGE')).to.equal(true);
    expect((err as Error).message).to.include(String(MAX_TERMINATION_MESSAGE_BYTES));
    expect([finalized, discarded]).to.deep.equal([false, true]);
    expect(readdirSync(d.results)).to.deep.equal([]);
    expect(readdirSync(d.source), 'nothing written into the workspace').to.deep.equal([]);
  });

  it('a result that cannot be written: STAGE_IO, no report and no other result appear', async () => {
    const d = fresh();
    writeFileSync(join(d.results, 'blocker'), 'a file where a directory is needed');
    const calls: string[] = [];
    const stage = stageReturning(() => ({
      results: { TEST_OUTPUT: 'x', digest: 'y' },
      gate: { passed: true, reasons: [] },
      files: {},
      report: {},
      finalize: () => Promise.resolve(void calls.push('finalize')),
      discard: () => Promise.resolve(void calls.push('discard')),
    }));
    const err = await rejects(runStage(stage, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: { TEST_OUTPUT: join(d.results, 'TEST_OUTPUT'), digest: join(d.results, 'blocker', 'digest') } }));
    expect(isVouchError(err, 'STAGE_IO'), String(err)).to.equal(true);
    // the stage never finalized (clone would not have moved its checkout in)
    expect(calls).to.deep.equal(['discard']);
    expect(readdirSync(d.results)).to.deep.equal(['blocker']);
    expect(existsSync(join(d.source, '.vouch/reports/probe'))).to.equal(false);
  });

  it('just under the limit is accepted (the limit counts the whole termination message, as Tekton does)', async () => {
    const d = fresh();
    // [{"key":"digest","value":"…","type":1},{"key":"StartedAt","value":"1970-01-01T00:00:00.000Z","type":3}]
    const overhead = '[{"key":"digest","value":"","type":1},{"key":"StartedAt","value":"1970-01-01T00:00:00.000Z","type":3}]'.length;
    const fits = stageReturning(() => ({ results: { digest: 'z'.repeat(MAX_TERMINATION_MESSAGE_BYTES - overhead) }, gate: { passed: true, reasons: [] }, files: {}, report: {} }));
    await runStage(fits, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: { digest: join(d.results, 'digest') } });
    expect(readFileSync(join(d.results, 'digest'), 'utf8')).to.have.length(MAX_TERMINATION_MESSAGE_BYTES - overhead);
    const over = stageReturning(() => ({ results: { digest: 'z'.repeat(MAX_TERMINATION_MESSAGE_BYTES - overhead + 1) }, gate: { passed: true, reasons: [] }, files: {}, report: {} }));
    expect(isVouchError(await rejects(runStage(over, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: {} })), 'STAGE_RESULT_TOO_LARGE')).to.equal(true);
  });

  it('refuses missing required params, unknown params, undeclared results and a missing --source', async () => {
    const stage = stageReturning(() => ({ results: {}, gate: { passed: true, reasons: [] }, files: {}, report: {} }));
    const d = fresh();
    const cases: [Parameters<typeof runStage>[1], string][] = [
      [{ params: {}, source: d.source, resultPaths: {} }, '--head-revision is required'],
      [{ params: { 'head-revision': 'h', bogus: 'x' }, source: d.source, resultPaths: {} }, 'unknown param "bogus"'],
      [{ params: { 'head-revision': 'h' }, source: d.source, resultPaths: { nope: '/x' } }, '--result nope: no such result'],
      [{ params: { 'head-revision': 'h' }, source: undefined, resultPaths: {} }, '--source DIR'],
    ];
    for (const [inv, msg] of cases) {
      const err = await rejects(runStage(stage, inv));
      expect(isVouchError(err, 'STAGE_USAGE'), String(err)).to.equal(true);
      expect((err as Error).message).to.include(msg);
    }
    const undeclared = stageReturning(() => ({ results: { other: 'x' }, gate: { passed: true, reasons: [] }, files: {}, report: {} }));
    expect(isVouchError(await rejects(runStage(undeclared, { params: { 'head-revision': 'h' }, source: d.source, resultPaths: {} })), 'INTERNAL')).to.equal(true);
    expect(readdirSync(d.source), 'nothing written into the workspace').to.deep.equal([]);
  });

  it('records params in the report without URL credentials', async () => {
    const d = fresh();
    const stage = stageReturning(() => ({ results: {}, gate: { passed: true, reasons: [] }, files: {}, report: {} }));
    await runStage(stage, { params: { 'head-revision': 'https://ci:s3cretTok@git.example.com/r.git' }, source: d.source, resultPaths: {} });
    const text = readFileSync(join(d.source, '.vouch/reports/probe/report.json'), 'utf8');
    expect(text).to.include('https://git.example.com/r.git').and.not.include('s3cretTok');
    expect(redactCredentials('git+ssh://me@host/x and https://a:b@c/d')).to.equal('git+ssh://host/x and https://c/d');
  });

  it('parses --result NAME=PATH and refuses malformed or repeated ones', () => {
    expect(parseResultFlags(['a=/x/y', 'b=/p=q'])).to.deep.equal({ a: '/x/y', b: '/p=q' });
    for (const bad of [['a'], ['=x'], ['a='], ['a=/x', 'a=/y']]) {
      expect(() => parseResultFlags(bad)).to.throw(/--result/);
    }
  });

  it('replaces a report directory whole, and leaves the old one when the new one cannot be written', async () => {
    const dir = join(tmp(), 'atomic', 'report');
    await writeDirAtomic(dir, { 'a.txt': 'A', 'b.txt': 'B' });
    await writeDirAtomic(dir, { 'c.txt': 'C' });
    expect(readdirSync(dir)).to.deep.equal(['c.txt']);
    const err = await rejects(writeDirAtomic(dir, { 'ok.txt': 'x', '../escape.txt': 'y' }));
    expect(isVouchError(err, 'STAGE_IO')).to.equal(true);
    expect(readdirSync(dir)).to.deep.equal(['c.txt']);
    expect(readdirSync(join(tmp(), 'atomic'))).to.deep.equal(['report']);
    // a directory where a result file should go: error, nothing else touched
    writeFileSync(join(tmp(), 'atomic', 'plain'), 'p');
    expect(isVouchError(await rejects(writeDirAtomic(join(tmp(), 'atomic', 'plain', 'sub'), { 'x': 'x' })), 'STAGE_IO')).to.equal(true);
  });

  it('TEST_OUTPUT: Konflux field order, integer counts, outcome precedence', () => {
    const t = JSON.parse(testOutput({ result: 'WARNING', namespace: 'ns', successes: 1, failures: 0, warnings: 2, note: 'n', timestamp: new Date(0) })) as Record<string, unknown>;
    expect(Object.keys(t)).to.deep.equal(['result', 'namespace', 'timestamp', 'successes', 'failures', 'warnings', 'note']);
    expect(t['timestamp']).to.equal('1970-01-01T00:00:00Z');
    expect(() => testOutput({ result: 'SUCCESS', namespace: 'ns', successes: 1.5, failures: 0, warnings: 0, note: '', timestamp: new Date() })).to.throw(/integer/);
    expect(() => testOutput({ result: 'SUCCESS', namespace: 'ns', successes: 0, failures: -1, warnings: 0, note: '', timestamp: new Date() })).to.throw(/integer/);
    expect(outcomeOf({ failures: 1, warnings: 5 })).to.equal('FAILURE');
    expect(outcomeOf({ failures: 0, warnings: 5 })).to.equal('WARNING');
    expect(outcomeOf({ failures: 0, warnings: 0 })).to.equal('SUCCESS');
  });

  it('every registered stage has a unique name and Tekton-valid param and result names', () => {
    const names = STAGES.map((s) => s.name);
    expect(new Set(names).size).to.equal(names.length);
    for (const s of STAGES) {
      for (const p of s.params) expect(p.name).to.match(/^[a-z][a-z0-9-]*$/);
      for (const r of s.results) expect(r.name).to.match(/^[a-zA-Z0-9][-._a-zA-Z0-9]*$/);
    }
  });

  describe('evidence()', () => {
    const evidenceStage = (run: Stage['run']): Stage => ({
      name: 'probe',
      description: 'evidence test stage',
      params: [],
      results: [
        { name: 'TEST_OUTPUT', description: 'verdict' },
        { name: 'TEST_EVIDENCE', description: 'evidence' },
      ],
      run,
    });
    const ok = (): StageOutcome => ({ results: {}, gate: { passed: true, reasons: [] }, files: {}, report: {} });

    it('writes the predicate body into the report directory and the object result naming it by file:// URL and digest', async () => {
      const d = fresh();
      const predicate = { result: 'PASSED', configuration: [], passedTests: ['a'], warnedTests: [], failedTests: [] };
      const s = await runStage(
        evidenceStage((ctx) => {
          evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, predicate);
          return Promise.resolve(ok());
        }),
        { params: {}, source: d.source, resultPaths: { TEST_EVIDENCE: join(d.results, 'TEST_EVIDENCE') } },
      );
      const file = join(d.source, '.vouch/reports/probe/test.predicate.json');
      const bytes = readFileSync(file);
      expect(JSON.parse(bytes.toString('utf8'))).to.deep.equal(predicate);
      const value = JSON.parse(readFileSync(join(d.results, 'TEST_EVIDENCE'), 'utf8')) as Record<string, string>;
      expect(value).to.deep.equal({ predicateType: TEST_RESULT_V01, uri: pathToFileURL(file).href, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
      expect(s.results['TEST_EVIDENCE']).to.equal(readFileSync(join(d.results, 'TEST_EVIDENCE'), 'utf8'));
      // exact bytes are kept as given (a BOM whose digest is also a result)
      const d2 = fresh();
      const raw = '{"bomFormat":"CycloneDX"}';
      await runStage(
        evidenceStage((ctx) => {
          evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, raw, { file: 'x.json' });
          return Promise.resolve(ok());
        }),
        { params: {}, source: d2.source, resultPaths: {} },
      );
      expect(readFileSync(join(d2.source, '.vouch/reports/probe/x.json'), 'utf8')).to.equal(raw);
    });

    it('refuses misuse before anything is written: bad name, unknown type, non-object predicate, clash, file name escaping', async () => {
      const cases: [string, (ctx: Parameters<Stage['run']>[0]) => StageOutcome][] = [
        ['lower-case name', (ctx) => (evidence(ctx, 'test_evidence', TEST_RESULT_V01, {}), ok())],
        ['not *_EVIDENCE', (ctx) => (evidence(ctx, 'TEST_OUTPUT', TEST_RESULT_V01, {}), ok())],
        ['provenance is not evidence', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', 'https://slsa.dev/provenance/v1', {}), ok())],
        ["another stage's type under this result name", (ctx) => (evidence(ctx, 'TEST_EVIDENCE', 'https://vouch.dev/attestation/risk-assessment/v0.1', {}), ok())],
        ['a result name no stage owns', (ctx) => (evidence(ctx, 'OTHER_EVIDENCE', TEST_RESULT_V01, {}), ok())],
        ['an array', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, []), ok())],
        ['bytes that are not a JSON object', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, '[1]'), ok())],
        ['a file name leaving the report directory', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, {}, { file: '../x.json' }), ok())],
        ['also a plain result', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, {}), { ...ok(), results: { TEST_EVIDENCE: 'x' } })],
        ['a report file with other content', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, {}, { file: 'a.json' }), { ...ok(), files: { 'a.json': '{"other":1}' } })],
        ['declared twice', (ctx) => (evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, {}), evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, {}), ok())],
      ];
      for (const [what, run] of cases) {
        const d = fresh();
        const err = await rejects(runStage(evidenceStage((ctx) => Promise.resolve(run(ctx))), { params: {}, source: d.source, resultPaths: { TEST_EVIDENCE: join(d.results, 'TEST_EVIDENCE') } }));
        expect(isVouchError(err, 'INTERNAL'), `${what}: ${String(err)}`).to.equal(true);
        expect(readdirSync(d.results), what).to.deep.equal([]);
        expect(existsSync(join(d.source, '.vouch')), what).to.equal(false);
      }
    });

    it('an undeclared evidence result is refused like any undeclared result', async () => {
      const d = fresh();
      const stage = { ...evidenceStage((ctx) => (evidence(ctx, 'SBOM_EVIDENCE', TEST_RESULT_V01, {}), Promise.resolve(ok()))) };
      const err = await rejects(runStage(stage, { params: {}, source: d.source, resultPaths: {} }));
      expect(isVouchError(err, 'INTERNAL'), String(err)).to.equal(true);
      expect((err as Error).message).to.include('SBOM_EVIDENCE');
    });
  });
});

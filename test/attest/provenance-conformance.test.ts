// Conformance of the SLSA provenance builder with Tekton Chains `slsa/v2alpha4` (issue 4, tests (1) and (3)).
// (1) Chains' own unit inputs, compared field by field with the JSON transcriptions of its Go expectations.
// (3) A real recording: a PipelineRun and the attestation Chains produced for it on a cluster (slsa-tekton buildType).
// Every statement is also checked against the SLSA v1 JSON Schema that Enterprise Contract uses.
import { expect } from 'chai';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import {
  BUILD_TYPE_SLSA_TEKTON,
  buildPipelineRunProvenance,
  buildTaskRunProvenance,
  isSignable,
  normalizeFeatureFlags,
  type PipelineRunLike,
  type ProvenanceStatement,
  type TaskRunLike,
} from '../../src/attest/provenance.ts';
import { DERIVED, HACKS05, UNIT, json, readJson, schemaErrors, sortedLists } from './provenance-helpers.ts';
import { SHARED } from '../helpers/cli.ts';

const unit = (name: string): TaskRunLike & PipelineRunLike => readJson(join(UNIT, name));
const expected = (name: string): ProvenanceStatement => readJson(join(DERIVED, `${name}.expected.json`));

// Values in Chains' test data that the SLSA schema rejects, and nothing else: the test builder ids are not URIs and
// the test refSource / CHAINS-GIT_COMMIT "sha1" digests ("ab123", "sha:taskdefault", ...) are not hex.
const TEST_DATA_SCHEMA_ERRORS = [/^\/predicate\/runDetails\/builder\/id must match format "uri"$/, /^\/predicate\/buildDefinition\/resolvedDependencies\/\d+\/digest\/sha1 must match pattern "\^\[a-f0-9\]\+\$"$/];

function expectOnlyTestDataSchemaErrors(statement: ProvenanceStatement): void {
  const errors = schemaErrors(statement);
  for (const e of errors) expect(TEST_DATA_SCHEMA_ERRORS.some((re) => re.test(e)), e).to.equal(true);
}

describe('attest: SLSA provenance conformance with Tekton Chains slsa/v2alpha4', () => {
  describe('(1) Chains unit inputs vs the transcribed Go expectations', () => {
    // TaskRun cases: upstream compares order-sensitively, so do we. Deep inspection only concerns PipelineRuns:
    // both settings must give the same TaskRun provenance.
    const taskRunCases = [
      { input: 'taskrun1.json', expected: 'taskrun1', builderId: 'test_builder-1' },
      { input: 'taskrun2.json', expected: 'taskrun2', builderId: 'test_builder-2' },
      { input: 'taskrun-multiple-subjects.json', expected: 'taskrun-multiple-subjects', builderId: 'test_builder-multiple' },
    ];
    for (const c of taskRunCases) {
      for (const deepInspection of [true, false]) {
        it(`${c.input} (deep inspection ${deepInspection ? 'on' : 'off'}) equals ${c.expected}.expected.json, in order`, () => {
          const { statement } = buildTaskRunProvenance(unit(c.input), { builderId: c.builderId, deepInspection });
          expect(json(statement)).to.deep.equal(expected(c.expected));
        });
      }
    }

    // PipelineRun cases: children taskrun1 ("build") and taskrun2 ("git-clone") as upstream's createPro appends
    // them; upstream sorts subjects/resolvedDependencies/byproducts before comparing, so order is not normative.
    for (const deepInspection of [false, true]) {
      const name = `pipelinerun1.${deepInspection ? 'deep-inspection' : 'no-deep-inspection'}`;
      it(`pipelinerun1.json with its children equals ${name}.expected.json (lists order-insensitive)`, () => {
        const { statement, warnings } = buildPipelineRunProvenance(unit('pipelinerun1.json'), [unit('taskrun1.json'), unit('taskrun2.json')], { builderId: 'test_builder-1', deepInspection });
        expect(sortedLists(statement)).to.deep.equal(sortedLists(expected(name)));
        // vouch's addition: the invalid hint Chains drops without a word is reported
        expect(warnings).to.deep.include({ code: 'TYPE_HINT_INVALID', where: 'PipelineRun pipelinerun-build result img2-ARTIFACT_OUTPUTS', message: 'sha256 digest "sha256:" must be 64 lowercase hex digits; Chains drops it from subjects and byproducts alike' });
      });
    }

    it('gives the same result whatever order the child TaskRuns come in', () => {
      const a = buildPipelineRunProvenance(unit('pipelinerun1.json'), [unit('taskrun1.json'), unit('taskrun2.json')], { builderId: 'b' });
      const b = buildPipelineRunProvenance(unit('pipelinerun1.json'), [unit('taskrun2.json'), unit('taskrun1.json')], { builderId: 'b' });
      expect(json(b.statement)).to.deep.equal(json(a.statement));
    });

    it('pipelinerun2 (deep inspection): each repeated subject appears once, PipelineRun subjects first', () => {
      // Upstream case "attestation with no repetead subjects" (children taskrun3 "build" and taskrun4 "git-clone").
      // Its expectation is not among the transcriptions; this list follows from the rules checked above:
      // PipelineRun results, then git-clone's steps and results, then build's.
      const { statement } = buildPipelineRunProvenance(unit('pipelinerun2.json'), [unit('taskrun3.json'), unit('taskrun4.json')], { builderId: 'b', deepInspection: true });
      const D827 = '827521c857fdcd4374f4da5442fbae2edb01e7fbae285c3ec15673d4c1daecb7';
      const COMMON = '33e7e52645f4859622e282167d9200da9861b3d0a6e9c93b85e9cae5526ffc0a';
      expect(statement.subject).to.deep.equal([
        { name: 'abc', digest: { sha256: D827 } },
        { name: 'gcr.io/common/image', digest: { sha256: COMMON } },
        { name: 'test.io/test/image', digest: { sha256: D827 } },
        { name: 'index.docker.io/library/abc', digest: { sha256: D827 } },
        { name: 'gcr.io/task2/step/artifact', digest: { sha256: 'cb06e289303c9529cd980657a5b1a2c8a146c1b13ca08a2bbedb72ec4b7573b9' } },
        { name: 'gcr.io/my/image/fromstep3', digest: { sha256: D827 } },
        { name: 'gcr.io/my/image', digest: { sha256: 'd31cc8328054de2bd93735f9cbf0ccfb6e0ee8f4c4225da7d8f8cb3900eaf466' } },
        { name: 'gcr.io/task1/result', digest: { sha256: 'c6262181543796435ae52eb233d7337ec570ff0448e333460122f4a65a59a96a' } },
      ]);
    });

    it('a pipelineRef from a resolver gives externalParameters.buildConfigSource (pipelinerun-remote-resolver.json)', () => {
      const { statement } = buildPipelineRunProvenance(unit('pipelinerun-remote-resolver.json'), [], { builderId: 'b' });
      expect(statement.predicate.buildDefinition.externalParameters['buildConfigSource']).to.deep.equal({
        ref: 'sha1:4df486f198c3c2616ab129186fb30a74f580b5a1',
        repository: 'git+https://github.com/tektoncd/catalog',
        path: 'pipeline/build-push-gke-deploy/0.1/build-push-gke-deploy.yaml',
      });
      expect(statement.predicate.buildDefinition.externalParameters['runSpec']).to.deep.equal(json(unit('pipelinerun-remote-resolver.json').spec));
    });

    it('a taskRef from a resolver gives buildConfigSource too; a taskRef by name does not (slsa-v2alpha3/taskrun-remote-resolver.json, taskrun1.json)', () => {
      const remote = readJson<TaskRunLike>(join(UNIT, '../slsa-v2alpha3/taskrun-remote-resolver.json'));
      const { statement } = buildTaskRunProvenance(remote, { builderId: 'b' });
      expect(statement.predicate.buildDefinition.externalParameters['buildConfigSource']).to.deep.equal({
        ref: 'sha1:4df486f198c3c2616ab129186fb30a74f580b5a1',
        repository: 'git+https://github.com/tektoncd/catalog.git',
        path: 'task/gcloud/0.3/gcloud.yaml',
      });
      expect(statement.predicate.buildDefinition.resolvedDependencies?.[0]).to.deep.equal({ name: 'task', uri: 'git+https://github.com/tektoncd/catalog.git', digest: { sha1: '4df486f198c3c2616ab129186fb30a74f580b5a1' } });
      expect(buildTaskRunProvenance(unit('taskrun1.json')).statement.predicate.buildDefinition.externalParameters).to.not.have.property('buildConfigSource');
    });

    it('every statement from the unit inputs validates against the SLSA v1 schema, except for the test values of the fixtures', () => {
      const statements = [
        buildTaskRunProvenance(unit('taskrun1.json'), { builderId: 'test_builder-1' }).statement,
        buildTaskRunProvenance(unit('taskrun-multiple-subjects.json'), { builderId: 'test_builder-multiple' }).statement,
        buildPipelineRunProvenance(unit('pipelinerun1.json'), [unit('taskrun1.json'), unit('taskrun2.json')], { builderId: 'test_builder-1' }).statement,
        buildPipelineRunProvenance(unit('pipelinerun2.json'), [unit('taskrun3.json'), unit('taskrun4.json')], { builderId: 'test_builder-1' }).statement,
      ];
      for (const s of statements) expectOnlyTestDataSchemaErrors(s);
      // With the default builder id only the fixtures' fake sha1 values remain.
      expect(schemaErrors(buildTaskRunProvenance(unit('taskrun-multiple-subjects.json')).statement)).to.deep.equal([]);
      // The schema check itself is live: it does catch what it should.
      expect(schemaErrors(buildTaskRunProvenance(unit('taskrun1.json'), { builderId: 'test_builder-1' }).statement)).to.have.length(2);
    });

    it('taskrun2 has no subject: the statement has none, as Chains emits it, and warnings say not to sign it', () => {
      const result = buildTaskRunProvenance(unit('taskrun2.json'), { builderId: 'test_builder-2' });
      const { statement, warnings } = result;
      expect(statement).to.not.have.property('subject');
      // SCHEMA_INVALID: the fixture's test builder id and fake sha1 digests
      expect(warnings.map((w) => w.code)).to.deep.equal(['NO_SUBJECTS', 'SCHEMA_INVALID']);
      expect(isSignable(result)).to.equal(false);
      expect(isSignable(buildTaskRunProvenance(unit('taskrun-multiple-subjects.json')))).to.equal(true);
      // the in-toto / SLSA schema requires a subject: this is why such a statement must not be signed
      expect(schemaErrors(statement)).to.include("must have required property 'subject'");
    });
  });

  describe('(3) the real recording hacks-05 (slsa-tekton, Chains on a kind cluster, Jan 2024)', () => {
    const recorded = readJson<{
      _type: string;
      subject: unknown[];
      predicate: {
        buildDefinition: { buildType: string; externalParameters: { runSpec: Record<string, unknown> }; internalParameters: Record<string, unknown>; resolvedDependencies: { name?: string; uri?: string; digest?: Record<string, string>; content?: string }[] };
        runDetails: { builder: { id: string }; metadata: Record<string, string>; byproducts: { name: string; content: string; mediaType: string }[] };
      };
    }>(join(HACKS05, 'attestation.json'));

    // The recording has no child TaskRun files: each pipelineTask resolvedDependency carries its TaskRun as Chains
    // saw it (base64 JSON, v1beta1). We take the children from there, converted to v1 (taskResults -> results, the
    // one v1beta1/v1 difference these TaskRuns have).
    const children: TaskRunLike[] = recorded.predicate.buildDefinition.resolvedDependencies
      .filter((rd) => rd.name === 'pipelineTask' && rd.content)
      .map((rd) => {
        const tr = JSON.parse(Buffer.from(rd.content!, 'base64').toString('utf8')) as { status: Record<string, unknown> };
        const { taskResults, ...status } = tr.status;
        return { ...tr, status: { ...status, results: taskResults } } as TaskRunLike;
      });

    // pipelinerun.yaml was saved after Chains signed it: `chains.tekton.dev/signed` is Chains' own annotation, added
    // after the attestation was made (at signing time the PipelineRun had no annotations: the recording says null).
    function pipelineRunAtSigningTime(): PipelineRunLike {
      const pr = parseYaml(readFileSync(join(HACKS05, 'pipelinerun.yaml'), 'utf8')) as { metadata: { annotations?: Record<string, string> } };
      const annotations = Object.fromEntries(Object.entries(pr.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('chains.tekton.dev/')));
      if (Object.keys(annotations).length === 0) delete pr.metadata.annotations;
      else pr.metadata.annotations = annotations;
      return pr;
    }

    // That cluster ran Chains with deep inspection off (the recording has no child byproducts).
    const { statement: ours, warnings } = buildPipelineRunProvenance(pipelineRunAtSigningTime(), children, { buildType: BUILD_TYPE_SLSA_TEKTON, deepInspection: false });
    const rec = recorded.predicate;
    const mine = ours.predicate;

    it('has all four children (matched by label) and nothing to warn about', () => {
      expect(children.map((c) => c.metadata?.name)).to.deep.equal([
        'simple-build-run-70f8eb138a-git-clone', 'simple-build-run-70f8eb138a-scan', 'simple-build-run-70f8eb138a-av-scan', 'simple-build-run-70f8eb138a-build',
      ]);
      expect(warnings).to.deep.equal([]);
    });

    it('subjects, buildType and builder id are the recorded ones', () => {
      expect(json(ours.subject)).to.deep.equal(recorded.subject);
      expect(mine.buildDefinition.buildType).to.equal(rec.buildDefinition.buildType);
      expect(mine.runDetails.builder).to.deep.equal(rec.runDetails.builder);
    });

    it('_type: in-toto Statement v1, where that Chains release wrote v0.1 by mistake (chains#920, deliberate difference)', () => {
      expect(recorded._type).to.equal('https://in-toto.io/Statement/v0.1');
      expect(ours._type).to.equal('https://in-toto.io/Statement/v1');
    });

    it('externalParameters.runSpec is the recorded one, with serviceAccountName where v1 keeps it', () => {
      // That Chains converted the spec to v1beta1 (serviceAccountName at the top); v1 has taskRunTemplate.serviceAccountName.
      const { serviceAccountName, ...recordedRest } = rec.buildDefinition.externalParameters.runSpec;
      const { taskRunTemplate, ...mineRest } = mine.buildDefinition.externalParameters['runSpec'] as { taskRunTemplate: { serviceAccountName: string } };
      expect(mineRest).to.deep.equal(recordedRest);
      expect(taskRunTemplate).to.deep.equal({ serviceAccountName });
      expect(Object.keys(mine.buildDefinition.externalParameters)).to.deep.equal(['runSpec']); // pipelineRef by name: no buildConfigSource
    });

    it('internalParameters: labels, annotations (null) and feature flags as the recorded ones', () => {
      const recFlags = rec.buildDefinition.internalParameters['tekton-pipelines-feature-flags'] as Record<string, unknown>;
      expect(mine.buildDefinition.internalParameters['labels']).to.deep.equal(rec.buildDefinition.internalParameters['labels']);
      expect(mine.buildDefinition.internalParameters['annotations']).to.equal(null);
      expect(rec.buildDefinition.internalParameters['annotations']).to.equal(null);
      // That release wrote Go field names with every value; current Chains writes json tags without zero values.
      // Same flags once both are in the current form (the four flags that release did not know are all false).
      expect(mine.buildDefinition.internalParameters['tekton-pipelines-feature-flags']).to.deep.equal(normalizeFeatureFlags(recFlags));
      expect(mine.buildDefinition.internalParameters['tekton-pipelines-feature-flags']).to.include({ enableAPIFields: 'alpha', maxResultSize: 4096, coschedule: 'workspaces' });
    });

    it('resolvedDependencies: the recorded entries in the recorded order; pipelineTask content is each TaskRun', () => {
      const strip = (rds: { content?: string }[]): unknown[] => rds.map(({ content: _content, ...rest }) => rest);
      expect(strip(json(mine.buildDefinition.resolvedDependencies ?? []))).to.deep.equal(strip(rec.buildDefinition.resolvedDependencies));
      // content cannot be byte-equal: Chains wrote Go's json.Marshal of its v1beta1 object, we write the v1 TaskRun
      // we were given. It decodes to exactly that TaskRun, one per pipelineTask entry, in pipeline order.
      const contents = (mine.buildDefinition.resolvedDependencies ?? []).filter((rd) => rd.name === 'pipelineTask').map((rd) => JSON.parse(Buffer.from(rd.content!, 'base64').toString('utf8')) as unknown);
      expect(contents).to.deep.equal(json(children));
    });

    it('runDetails.metadata: same invocation id and times; the field is invocationId (protojson), not the old invocationID', () => {
      expect(rec.runDetails.metadata).to.deep.equal({ invocationID: '1b566f85-2c13-4714-b7ba-18934fc7cc1c', startedOn: '2024-01-08T19:18:07Z', finishedOn: '2024-01-08T19:18:21Z' });
      expect(mine.runDetails.metadata).to.deep.equal({ invocationId: '1b566f85-2c13-4714-b7ba-18934fc7cc1c', startedOn: '2024-01-08T19:18:07Z', finishedOn: '2024-01-08T19:18:21Z' });
    });

    it('byproducts: the recorded non-subject results, under the current names pipelineRunResults/<pipelinerun>/<result>', () => {
      // That release named them pipelineRunResults/<result> and also listed the IMAGE_URL/IMAGE_DIGEST results that
      // are the subject; v2alpha4 prefixes the PipelineRun name and leaves subject results out.
      const prName = 'simple-build-run-70f8eb138a';
      const recordedNonSubject = rec.runDetails.byproducts.filter((b) => !/IMAGE_(URL|DIGEST)$/.test(b.name)).map((b) => ({ ...b, name: b.name.replace('pipelineRunResults/', `pipelineRunResults/${prName}/`) }));
      expect(json(mine.runDetails.byproducts)).to.deep.equal(recordedNonSubject);
    });

    it('with deep inspection it adds the children\'s results as byproducts and nothing else changes', () => {
      const deep = buildPipelineRunProvenance(pipelineRunAtSigningTime(), children, { buildType: BUILD_TYPE_SLSA_TEKTON, deepInspection: true }).statement;
      expect(json(deep.subject)).to.deep.equal(recorded.subject);
      expect(json(deep.predicate.buildDefinition)).to.deep.equal(json(mine.buildDefinition));
      expect(deep.predicate.runDetails.byproducts?.map((b) => b.name)).to.deep.equal([
        'pipelineRunResults/simple-build-run-70f8eb138a/CHAINS-GIT_URL',
        'pipelineRunResults/simple-build-run-70f8eb138a/CHAINS-GIT_COMMIT',
        'taskRunResults/simple-build-run-70f8eb138a-git-clone/commit',
        'taskRunResults/simple-build-run-70f8eb138a-git-clone/committer-date',
        'taskRunResults/simple-build-run-70f8eb138a-git-clone/url',
        'taskRunResults/simple-build-run-70f8eb138a-scan/TEST_OUTPUT',
        'taskRunResults/simple-build-run-70f8eb138a-av-scan/TEST_OUTPUT',
      ]);
    });

    it('validates against the SLSA v1 schema, as the recorded attestation does', () => {
      expect(schemaErrors(ours)).to.deep.equal([]);
      expect(schemaErrors(recorded)).to.deep.equal([]);
    });
  });
  describe('(3b) a production Konflux recording (slsa-tekton, deep inspection, Dec 2025): attestation only', () => {
    interface Descriptor { name?: string; uri?: string; digest?: Record<string, string>; content?: string }
    const recorded = readJson<{
      subject: unknown[];
      predicate: {
        buildDefinition: { externalParameters: { runSpec: Record<string, unknown> }; internalParameters: { labels: Record<string, string>; annotations: Record<string, string>; 'tekton-pipelines-feature-flags': Record<string, unknown> }; resolvedDependencies: Descriptor[] };
        runDetails: { metadata: { invocationId: string; startedOn: string; finishedOn: string }; byproducts: { name: string; content: string; mediaType: string }[] };
      };
    }>(join(SHARED, 'fixtures/ec/konflux-golden-container/attestation-slsa-v1.0.json'));
    const rec = recorded.predicate;
    // What the recording holds and what we rebuild from it:
    // - the 16 child TaskRuns (v1) are the pipelineTask contents: real inputs, not derived from the output;
    // - the PipelineRun itself is not recorded. Its uid, times, labels, annotations, spec and feature flags are taken
    //   from the attestation (so those fields are not tested here); its results only as far as they are byproducts
    //   (CHAINS-GIT_URL/COMMIT): the results that were the subject are left out of byproducts by Chains and are
    //   unknown, so the subject here comes from the children (deep inspection) alone;
    // - status.pipelineSpec is not recorded: its task order is taken from the order of the pipelineTask entries.
    // What is then a real check: subjects (from the children), every resolvedDependency (refs, step images, git),
    // and every byproduct's content (Go's json.Marshal of 41 real results).
    const children = rec.buildDefinition.resolvedDependencies.filter((rd) => rd.name === 'pipelineTask').map((rd) => JSON.parse(Buffer.from(rd.content!, 'base64').toString('utf8')) as TaskRunLike);
    const prName = children[0]!.metadata!.labels!['tekton.dev/pipelineRun']!;
    const pipelineRun: PipelineRunLike = {
      metadata: { name: prName, uid: rec.runDetails.metadata.invocationId, labels: rec.buildDefinition.internalParameters.labels, annotations: rec.buildDefinition.internalParameters.annotations },
      spec: rec.buildDefinition.externalParameters.runSpec,
      status: {
        startTime: rec.runDetails.metadata.startedOn,
        completionTime: rec.runDetails.metadata.finishedOn,
        results: rec.runDetails.byproducts.filter((b) => b.name.startsWith('pipelineRunResults/')).map((b) => ({ name: b.name.slice('pipelineRunResults/'.length), value: JSON.parse(Buffer.from(b.content, 'base64').toString('utf8')) as unknown })),
        pipelineSpec: { tasks: children.map((c) => ({ name: c.metadata!.labels!['tekton.dev/pipelineTask']! })) },
        provenance: { featureFlags: rec.buildDefinition.internalParameters['tekton-pipelines-feature-flags'] },
      },
    };
    const { statement: ours, warnings } = buildPipelineRunProvenance(pipelineRun, children, { buildType: BUILD_TYPE_SLSA_TEKTON, deepInspection: true });

    it('16 children, no warning, and the recorded subject found in the children', () => {
      expect(children).to.have.length(16);
      expect(warnings).to.deep.equal([]);
      expect(json(ours.subject)).to.deep.equal(recorded.subject);
    });

    it('all 39 resolvedDependencies as recorded, in order (content aside: it is each child as given)', () => {
      const strip = (rds: Descriptor[]): unknown[] => rds.map(({ content: _content, ...rest }) => rest);
      expect(strip(json(ours.predicate.buildDefinition.resolvedDependencies ?? []))).to.deep.equal(strip(rec.buildDefinition.resolvedDependencies));
      expect(rec.buildDefinition.resolvedDependencies).to.have.length(39);
    });

    it('all 41 byproducts with byte-equal content, in order; names in the current form', () => {
      // That Chains named them <kind>/<result>; v2alpha4 now puts the run's name in between.
      const mine = (ours.predicate.runDetails.byproducts ?? []).map((b) => ({ ...b, name: (b.name ?? '').replace(/^(pipelineRunResults|taskRunResults|stepResults)\/[^/]+\//, '$1/') }));
      expect(json(mine)).to.deep.equal(rec.runDetails.byproducts.map((b) => ({ name: b.name, content: b.content, mediaType: b.mediaType })));
      expect(mine).to.have.length(41);
    });

    it('validates against the SLSA v1 schema', () => {
      expect(schemaErrors(ours)).to.deep.equal([]);
    });
  });
});

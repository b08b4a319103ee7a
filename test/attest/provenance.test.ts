// The provenance builder's rules one by one (type hinting, dependencies, byproducts, metadata, child matching) and
// its handling of bad input. Conformance with Chains' own fixtures is in provenance-conformance.test.ts.
import { expect } from 'chai';
import {
  BUILD_TYPE_SLSA_TEKTON,
  buildPipelineRunProvenance,
  buildProvenance,
  buildTaskRunProvenance,
  protoTimestamp,
  type PipelineRunLike,
  type ProvenanceWarning,
  type TaskRunLike,
} from '../../src/attest/provenance.ts';
import { goJsonMarshal, parseImageDigestReference } from '../../src/attest/typehints.ts';
import { VouchError } from '../../src/common/errors.ts';
import type { PipelineRun, TaskRun } from '../../src/tekton/types.ts';
import { json, schemaErrors } from './provenance-helpers.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const STEP_IMAGE = `docker.io/library/busybox@sha256:${C}`;

function taskRun(results: { name: string; value: unknown }[], extra: { steps?: unknown[]; name?: string; labels?: Record<string, string>; params?: unknown[]; taskSpecParams?: unknown[]; completionTime?: string | null } = {}): TaskRunLike {
  return {
    metadata: { name: extra.name ?? 'tr', uid: 'uid-tr', ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: { params: extra.params ?? [], taskRef: { name: 'build', kind: 'Task' } },
    status: {
      startTime: '2026-01-01T00:00:00Z',
      ...(extra.completionTime === null ? {} : { completionTime: extra.completionTime ?? '2026-01-01T00:01:00Z' }),
      steps: (extra.steps ?? [{ name: 's', imageID: STEP_IMAGE }]) as TaskRunLike['status'] extends infer S ? S extends { steps?: infer T } ? T : never : never,
      results,
      taskSpec: { params: (extra.taskSpecParams ?? []) as { name: string }[] },
    },
  } as TaskRunLike;
}

function codes(warnings: ProvenanceWarning[]): string[] {
  return warnings.map((w) => w.code);
}

function thrown(fn: () => unknown): VouchError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(VouchError);
    return err as VouchError;
  }
  throw new Error('expected a VouchError');
}

describe('attest: SLSA provenance builder (rules)', () => {
  describe('input types', () => {
    it('accepts src/tekton v1 objects as they are (structural input types)', () => {
      // Compile-time: the tekton model's types are assignable to the builder's input types.
      const tr: TaskRun = {
        apiVersion: 'tekton.dev/v1',
        kind: 'TaskRun',
        metadata: { name: 'build-1', uid: 'u1', labels: { 'tekton.dev/pipelineTask': 'build', 'tekton.dev/pipelineRun': 'pr-1' } },
        spec: { taskRef: { name: 'build' }, params: [{ name: 'IMAGE', value: 'reg.example/app' }] },
        status: {
          podName: 'p',
          startTime: '2026-01-01T00:00:00Z',
          completionTime: '2026-01-01T00:01:00Z',
          steps: [{ name: 'push', imageID: STEP_IMAGE, results: [{ name: 'r', value: 'x' }] }],
          sidecars: [{ name: 'dind', imageID: `docker-pullable://docker@sha256:${B}` }],
          results: [{ name: 'IMAGE_URL', value: 'reg.example/app' }, { name: 'IMAGE_DIGEST', value: `sha256:${A}` }],
          taskSpec: { steps: [{ name: 'push', image: 'busybox' }], params: [{ name: 'IMAGE', type: 'string' }] },
          provenance: { featureFlags: { enableAPIFields: 'beta' } },
        },
      };
      const pr: PipelineRun = {
        apiVersion: 'tekton.dev/v1',
        kind: 'PipelineRun',
        metadata: { name: 'pr-1', uid: 'u0' },
        spec: { pipelineRef: { name: 'p' } },
        status: {
          startTime: '2026-01-01T00:00:00Z',
          completionTime: '2026-01-01T00:02:00Z',
          pipelineSpec: { tasks: [{ name: 'build', taskRef: { name: 'build' } }] },
          childReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: 'build-1', pipelineTaskName: 'build' }],
          results: [],
        },
      };
      const trLike: TaskRunLike = tr;
      const prLike: PipelineRunLike = pr;
      const { statement, warnings } = buildProvenance({ pipelineRun: prLike, taskRuns: [trLike] });
      expect(warnings).to.deep.equal([]);
      expect(statement.subject).to.deep.equal([{ name: 'reg.example/app', digest: { sha256: A } }]);
      expect(statement.predicate.buildDefinition.resolvedDependencies).to.deep.equal([
        { uri: 'oci://docker.io/library/busybox', digest: { sha256: C } },
        { uri: 'oci://docker', digest: { sha256: B } },
      ]);
      expect(statement.predicate.runDetails.byproducts?.map((b) => b.name)).to.deep.equal(['stepResults/build-1/r']);
      expect(schemaErrors(statement)).to.deep.equal([]);
      expect(buildProvenance({ taskRun: tr }).statement.subject).to.deep.equal(statement.subject);
    });

    it('does not modify its input (deeply frozen objects work) and the output shares nothing with it', () => {
      const freeze = (v: unknown): void => {
        if (typeof v === 'object' && v !== null) {
          Object.freeze(v);
          Object.values(v).forEach(freeze);
        }
      };
      const tr = taskRun([{ name: 'IMAGE_URL', value: 'reg.example/app' }, { name: 'IMAGE_DIGEST', value: `sha256:${A}` }], { params: [{ name: 'x', value: ['a'] }] });
      freeze(tr);
      const { statement } = buildTaskRunProvenance(tr);
      const runSpec = statement.predicate.buildDefinition.externalParameters['runSpec'] as { params: unknown[] };
      expect(runSpec.params).to.deep.equal([{ name: 'x', value: ['a'] }]);
      expect(runSpec.params).to.not.equal(tr.spec?.params);
    });
  });

  describe('subjects (type hinting)', () => {
    it('pairs *IMAGE_URL/*IMAGE_DIGEST by prefix, trims values, keeps result order and normalises names as go-containerregistry', () => {
      // Deliberate difference from Chains: pairs come out in the order of their results; Chains collects them in a
      // Go map, so its order is random from run to run (a signed statement should not depend on that).
      const { statement, warnings } = buildTaskRunProvenance(taskRun([
        { name: 'second-IMAGE_URL', value: 'busybox\n' },
        { name: 'first-IMAGE_DIGEST', value: `sha256:${A}` },
        { name: 'first-IMAGE_URL', value: 'docker.io/acme/app:v1' },
        { name: 'second-IMAGE_DIGEST', value: ` sha256:${B}\n` },
      ]));
      expect(warnings).to.deep.equal([]);
      expect(statement.subject).to.deep.equal([
        { name: 'index.docker.io/library/busybox', digest: { sha256: B } },
        { name: 'index.docker.io/acme/app', digest: { sha256: A } },
      ]);
    });

    it('reads IMAGES split on commas and newlines, and reports the entries it cannot use without losing the others', () => {
      const { statement, warnings } = buildTaskRunProvenance(taskRun([{ name: 'IMAGES', value: `gcr.io/aa@sha256:${A},\n gcr.io/bb:tag@sha256:${B}\n\ngcr.io/c:latest, gcr.io/DD@sha256:${C}` }]));
      expect(statement.subject).to.deep.equal([
        { name: 'gcr.io/aa', digest: { sha256: A } },
        { name: 'gcr.io/bb', digest: { sha256: B } },
      ]);
      expect(warnings.map((w) => [w.code, w.where])).to.deep.equal([
        ['TYPE_HINT_INVALID', 'TaskRun tr result IMAGES'],
        ['TYPE_HINT_INVALID', 'TaskRun tr result IMAGES'],
      ]);
      expect(warnings[0]!.message).to.contain('gcr.io/c:latest').and.contain("exactly one '@'");
      expect(warnings[1]!.message).to.contain('repository can only contain');
    });

    it('reports an IMAGE_URL without IMAGE_DIGEST, an empty or non-string hint, and a digest that is not sha256', () => {
      const { statement, warnings } = buildTaskRunProvenance(taskRun([
        { name: 'a-IMAGE_URL', value: 'gcr.io/a' },
        { name: 'b-IMAGE_URL', value: '' },
        { name: 'c-IMAGE_DIGEST', value: ['sha256:x'] },
        { name: 'd-IMAGE_URL', value: 'gcr.io/d' },
        { name: 'd-IMAGE_DIGEST', value: `sha512:${A}${A}` },
      ]));
      expect(statement).to.not.have.property('subject');
      expect(warnings.map((w) => `${w.code} ${w.where}`)).to.deep.equal([
        'TYPE_HINT_INVALID TaskRun tr result b-IMAGE_URL',
        'TYPE_HINT_INVALID TaskRun tr result c-IMAGE_DIGEST',
        'TYPE_HINT_INVALID TaskRun tr result a-IMAGE_URL',
        'TYPE_HINT_INVALID TaskRun tr result d-IMAGE_URL',
        'NO_SUBJECTS TaskRun tr',
      ]);
      expect(warnings[2]!.message).to.contain('no matching a-IMAGE_DIGEST');
      expect(warnings[3]!.message).to.contain('unsupported digest algorithm');
      // every hint result is still not a byproduct (Chains leaves image hints out of byproducts)
      expect(statement.predicate.runDetails).to.not.have.property('byproducts');
    });

    it('*ARTIFACT_OUTPUTS: a subject only with isBuildArtifact "true"; any digest algorithm; images also under their normalised name', () => {
      const sha1 = '7f2f46e1b97df36b2b82d1b1d87c81b8b3d21601';
      const { statement, warnings } = buildTaskRunProvenance(taskRun([
        { name: 'bin-ARTIFACT_OUTPUTS', value: { uri: 'pkg:generic/app@1.0', digest: `sha1:${sha1}`, isBuildArtifact: 'true' } },
        { name: 'tar-ARTIFACT_OUTPUTS', value: { uri: 'https://dl.example/app.tar', digest: `SHA512: ${'e'.repeat(128)}`, isBuildArtifact: 'true' } },
        { name: 'img-ARTIFACT_OUTPUTS', value: { uri: 'app', digest: `sha256:${A}`, isBuildArtifact: 'true' } },
        { name: 'log-ARTIFACT_OUTPUTS', value: { uri: 'https://logs/1', digest: `sha256:${B}` } },
        { name: 'typo-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/x', digest: `sha256:${C}`, isBuildArtifact: 'True' } },
      ]));
      expect(statement.subject).to.deep.equal([
        { name: 'pkg:generic/app@1.0', digest: { sha1 } },
        // deliberate: algorithm lowercased and hex trimmed, as ParseDigest validated them (Chains copies "SHA512" and " eee…" as written)
        { name: 'https://dl.example/app.tar', digest: { sha512: 'e'.repeat(128) } },
        { name: 'app', digest: { sha256: A } },
        // an image reference is also a subject under its normalised image name (chains#1578)
        { name: 'index.docker.io/library/app', digest: { sha256: A } },
      ]);
      expect(warnings).to.deep.equal([{ code: 'TYPE_HINT_IGNORED', where: 'TaskRun tr result typo-ARTIFACT_OUTPUTS', message: 'isBuildArtifact is "True"; only "true" makes it a subject (kept as a byproduct)' }]);
      expect(statement.predicate.runDetails.byproducts?.map((b) => b.name)).to.deep.equal(['taskRunResults/tr/log-ARTIFACT_OUTPUTS', 'taskRunResults/tr/typo-ARTIFACT_OUTPUTS']);
    });

    it('reports invalid *ARTIFACT_OUTPUTS (not an object, no uri, bad digest), which Chains drops from subjects and byproducts', () => {
      const { statement, warnings } = buildTaskRunProvenance(taskRun([
        { name: 'a-ARTIFACT_OUTPUTS', value: 'gcr.io/a@sha256:x' },
        { name: 'b-ARTIFACT_OUTPUTS', value: { digest: `sha256:${A}`, isBuildArtifact: 'true' } },
        { name: 'c-ARTIFACT_OUTPUTS', value: { uri: 'c', digest: 'md5:abc', isBuildArtifact: 'true' } },
        { name: 'IMAGE_URL', value: 'gcr.io/ok' },
        { name: 'IMAGE_DIGEST', value: `sha256:${A}` },
      ]));
      expect(statement.subject).to.deep.equal([{ name: 'gcr.io/ok', digest: { sha256: A } }]);
      expect(warnings.map((w) => [w.where, w.message])).to.deep.equal([
        ['TaskRun tr result a-ARTIFACT_OUTPUTS', 'must be an object {uri, digest, isBuildArtifact}, got string "gcr.io/a@sha256:x"; Chains drops it from subjects and byproducts alike'],
        ['TaskRun tr result b-ARTIFACT_OUTPUTS', 'has no uri; Chains drops it from subjects and byproducts alike'],
        ['TaskRun tr result c-ARTIFACT_OUTPUTS', 'unsupported digest algorithm in "md5:abc" (sha256, sha384, sha512 or sha1); Chains drops it from subjects and byproducts alike'],
      ]);
      expect(statement.predicate.runDetails).to.not.have.property('byproducts');
    });

    it('ARTIFACT_URI/ARTIFACT_DIGEST are not subjects in v2alpha4: kept as byproducts, with a warning', () => {
      const { statement, warnings } = buildTaskRunProvenance(taskRun([
        { name: 'ARTIFACT_URI', value: 'gcr.io/a' },
        { name: 'ARTIFACT_DIGEST', value: `sha256:${A}` },
      ]));
      expect(statement).to.not.have.property('subject');
      expect(codes(warnings)).to.deep.equal(['TYPE_HINT_IGNORED', 'TYPE_HINT_IGNORED', 'NO_SUBJECTS']);
      expect(statement.predicate.runDetails.byproducts?.map((b) => b.name)).to.deep.equal(['taskRunResults/tr/ARTIFACT_URI', 'taskRunResults/tr/ARTIFACT_DIGEST']);
    });

    it('lists a subject seen twice (same name, a common digest) once; another digest of the same name separately', () => {
      const { statement } = buildTaskRunProvenance(taskRun([
        { name: 'x-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/aa', digest: `sha256:${A}`, isBuildArtifact: 'true' } },
        { name: 'z-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/aa', digest: `sha512:${'f'.repeat(128)}`, isBuildArtifact: 'true' } },
        { name: 'IMAGES', value: `gcr.io/aa@sha256:${A}, gcr.io/aa@sha256:${B}` },
      ], { steps: [{ name: 's', imageID: STEP_IMAGE, results: [{ name: 'y-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/aa', digest: `sha512:${'f'.repeat(128)}`, isBuildArtifact: 'true' } }] }] }));
      expect(statement.subject).to.deep.equal([
        // step results first; z repeats the step's sha512 entry and x's image repeats x: each once.
        // Same name with no digest in common stays a separate subject, as in Chains.
        { name: 'gcr.io/aa', digest: { sha512: 'f'.repeat(128) } },
        { name: 'gcr.io/aa', digest: { sha256: A } },
        { name: 'gcr.io/aa', digest: { sha256: B } },
      ]);
    });
  });

  describe('image references (go-containerregistry name.NewDigest)', () => {
    const cases: [string, string][] = [
      [`abc@sha256:${A}`, 'index.docker.io/library/abc'],
      [`docker.io/acme/app@sha256:${A}`, 'index.docker.io/acme/app'],
      [`index.docker.io/library/abc:1.0@sha256:${A}`, 'index.docker.io/library/abc'],
      [`localhost:5000/team/app:v2@sha256:${A}`, 'localhost:5000/team/app'],
      [`localhost/app@sha256:${A}`, 'index.docker.io/localhost/app'],
      [`quay.io/Org_1/app@sha256:${A}`, 'error'],
      [`gcr.io/ab@sha256:${A.slice(1)}`, 'error'],
      [`gcr.io/a@sha256:${A}`, 'error'], // go-containerregistry wants at least 2 characters of repository
      [`gcr.io/ab@sha256:${A.toUpperCase()}`, 'error'],
      [`gcr.io/ab@b@sha256:${A}`, 'error'],
      [`gcr.io/ab:bad!tag@sha256:${A}`, 'error'],
      [`gcr.io/ab@SHA256:${A}`, 'error'],
      [`@sha256:${A}`, 'error'],
    ];
    for (const [ref, want] of cases) {
      it(`${ref.replace(A, '<a>').replace(A.slice(1), '<a-1>').replace(A.toUpperCase(), '<A>')} -> ${want}`, () => {
        const got = parseImageDigestReference(ref);
        if (want === 'error') expect(got).to.have.property('error');
        else expect(got).to.deep.equal({ repository: want, sha256: A });
      });
    }
  });

  describe('resolvedDependencies', () => {
    it('TaskRun: task ref, step and sidecar images (docker-pullable:// stripped, deduplicated), step inputs, then params/results inputs', () => {
      const tr = taskRun([{ name: 'src-ARTIFACT_INPUTS', value: { uri: 'https://git.example/repo', digest: `sha1:${'1'.repeat(40)}` } }], {
        steps: [
          { name: 'a', imageID: `docker-pullable://gcr.io/tools/a@sha256:${A}`, results: [{ name: 'in-ARTIFACT_INPUTS', value: { uri: 'pkg:npm/x@1', digest: `sha512:${'e'.repeat(128)}` } }] },
          { name: 'b', imageID: `gcr.io/tools/a@sha256:${A}` },
        ],
        params: [{ name: 'CHAINS-GIT_URL', value: 'https://git.example/repo' }, { name: 'CHAINS-GIT_COMMIT', value: '2'.repeat(40) }],
      });
      const withRef = { ...tr, status: { ...tr.status, sidecars: [{ name: 'side', imageID: `gcr.io/side@sha256:${B}` }], provenance: { refSource: { uri: 'git+https://git.example/tasks', digest: { sha1: '3'.repeat(40) }, entryPoint: 'build.yaml' } } } } as TaskRunLike;
      const { statement, warnings } = buildTaskRunProvenance(withRef);
      expect(codes(warnings)).to.deep.equal(['NO_SUBJECTS']);
      expect(statement.predicate.buildDefinition.resolvedDependencies).to.deep.equal([
        { name: 'task', uri: 'git+https://git.example/tasks', digest: { sha1: '3'.repeat(40) } },
        { uri: 'oci://gcr.io/tools/a', digest: { sha256: A } },
        { uri: 'oci://gcr.io/side', digest: { sha256: B } },
        { name: 'inputs/result', uri: 'pkg:npm/x@1', digest: { sha512: 'e'.repeat(128) } },
        { name: 'inputs/result', uri: 'git+https://git.example/repo.git', digest: { sha1: '2'.repeat(40) } },
        { name: 'inputs/result', uri: 'https://git.example/repo', digest: { sha1: '1'.repeat(40) } },
      ]);
      // taskRef by name (no resolver): no buildConfigSource even with a refSource
      expect(Object.keys(statement.predicate.buildDefinition.externalParameters)).to.deep.equal(['runSpec']);
    });

    it('CHAINS-GIT_*: task defaults, then params, then results win (even an empty later value); half a pair is reported', () => {
      const defaults = [{ name: 'CHAINS-GIT_URL', default: 'https://default.example/r' }, { name: 'CHAINS-GIT_COMMIT', default: 'd'.repeat(40) }];
      const fromResults = buildTaskRunProvenance(taskRun([{ name: 'CHAINS-GIT_COMMIT', value: 'f'.repeat(40) }], { taskSpecParams: defaults, params: [{ name: 'CHAINS-GIT_URL', value: 'git+https://param.example/r.git' }] }));
      expect(fromResults.statement.predicate.buildDefinition.resolvedDependencies?.at(-1)).to.deep.equal({ name: 'inputs/result', uri: 'git+https://param.example/r.git', digest: { sha1: 'f'.repeat(40) } });
      const emptied = buildTaskRunProvenance(taskRun([], { taskSpecParams: defaults, params: [{ name: 'CHAINS-GIT_COMMIT', value: '' }] }));
      expect(emptied.statement.predicate.buildDefinition.resolvedDependencies?.map((d) => d.name)).to.deep.equal([undefined]);
      expect(emptied.warnings.find((w) => w.code === 'TYPE_HINT_INVALID')?.message).to.equal('CHAINS-GIT_COMMIT is missing or empty, so CHAINS-GIT_URL gives no git source');
    });

    it('reports invalid *ARTIFACT_INPUTS and keeps the valid ones', () => {
      const { statement, warnings } = buildTaskRunProvenance(taskRun([
        { name: 'a-ARTIFACT_INPUTS', value: 'https://x' },
        { name: 'b-ARTIFACT_INPUTS', value: { uri: 'https://x', digest: 'sha1:123' } },
        { name: 'c-ARTIFACT_INPUTS', value: { uri: 'https://x', digest: `sha256:${A}` } },
      ]));
      expect(statement.predicate.buildDefinition.resolvedDependencies?.at(-1)).to.deep.equal({ name: 'inputs/result', uri: 'https://x', digest: { sha256: A } });
      expect(warnings.filter((w) => w.code === 'TYPE_HINT_INVALID').map((w) => w.where)).to.deep.equal(['TaskRun tr result a-ARTIFACT_INPUTS', 'TaskRun tr result b-ARTIFACT_INPUTS']);
    });

    it('a step that never started (no imageID) or whose imageID has no digest is skipped with a warning', () => {
      // Deliberate difference from Chains: Chains fails the whole attestation on such a step, so a run with one
      // skipped-before-start step gets no provenance at all; we attest what ran and say what we could not record.
      const skipped = buildTaskRunProvenance(taskRun([], { steps: [{ name: 'never' }, { name: 'ran', imageID: STEP_IMAGE }] }));
      expect(skipped.warnings[0]).to.deep.equal({ code: 'STEP_IMAGE_UNKNOWN', where: 'TaskRun tr step never', message: 'no imageID (the container never started): no resolved dependency for it' });
      expect(skipped.statement.predicate.buildDefinition.resolvedDependencies).to.deep.equal([{ uri: 'oci://docker.io/library/busybox', digest: { sha256: C } }]);
      const noDigest = buildTaskRunProvenance(taskRun([], { steps: [{ name: 'odd', imageID: 'busybox:latest' }] }));
      expect(noDigest.warnings[0]).to.deep.equal({ code: 'STEP_IMAGE_UNKNOWN', where: 'TaskRun tr step odd', message: 'imageID "busybox:latest" is not <image>@<algorithm>:<digest>: no resolved dependency for it' });
      expect(noDigest.statement.predicate.buildDefinition).to.not.have.property('resolvedDependencies');
      const err = thrown(() => buildTaskRunProvenance(taskRun([], { steps: [{ name: 'odd', imageID: 42 }] })));
      expect(err.code).to.equal('PROVENANCE_INPUT_INVALID');
      expect(err.message).to.equal('TaskRun tr step odd: imageID: must be a string');
    });
  });

  describe('byproducts, parameters and metadata', () => {
    it('byproduct content is base64 of Go\'s json.Marshal of the value (sorted keys, HTML-safe escapes)', () => {
      const { statement } = buildTaskRunProvenance(taskRun([
        { name: 'obj', value: { z: '1', a: '<b>&</b>' } },
        { name: 'arr', value: ['x', 'y'] },
        { name: 'str', value: 'line\nbreak\u2028' },
      ]));
      const decoded = statement.predicate.runDetails.byproducts?.map((b) => [b.name, Buffer.from(b.content!, 'base64').toString('utf8'), b.mediaType]);
      expect(decoded).to.deep.equal([
        ['taskRunResults/tr/obj', '{"a":"\\u003cb\\u003e\\u0026\\u003c/b\\u003e","z":"1"}', 'application/json'],
        ['taskRunResults/tr/arr', '["x","y"]', 'application/json'],
        ['taskRunResults/tr/str', '"line\\nbreak\\u2028"', 'application/json'],
      ]);
      expect(goJsonMarshal({ b: 'é', a: '\ud800' })).to.equal('{"a":"\ufffd","b":"é"}');
    });

    it('timestamps as protojson writes them: UTC, Z, 0/3/6/9 fractional digits', () => {
      expect(protoTimestamp('2021-03-29T09:50:00Z', 't')).to.equal('2021-03-29T09:50:00Z');
      expect(protoTimestamp('2021-03-29T09:50:00.000Z', 't')).to.equal('2021-03-29T09:50:00Z');
      expect(protoTimestamp('2021-03-29T09:50:00.5Z', 't')).to.equal('2021-03-29T09:50:00.500Z');
      expect(protoTimestamp('2021-03-29T09:50:00.1234Z', 't')).to.equal('2021-03-29T09:50:00.123400Z');
      expect(protoTimestamp('2021-03-29T09:50:00.123456789Z', 't')).to.equal('2021-03-29T09:50:00.123456789Z');
      expect(protoTimestamp('2021-03-29T01:50:00+02:30', 't')).to.equal('2021-03-28T23:20:00Z');
      for (const bad of ['2021-03-29 09:50:00Z', '2021-02-30T00:00:00Z', '2021-03-29T24:00:00Z', 'yesterday']) {
        expect(thrown(() => protoTimestamp(bad, 'TaskRun x status.startTime')).code, bad).to.equal('PROVENANCE_INPUT_INVALID');
      }
    });

    it('feature flags: keys as json tags (first letter lowercased), zero values left out, as Chains re-marshals them', () => {
      // Chains gets this from its vendored Go struct; we reproduce its two visible effects without the struct, so a
      // flag whose json tag is not its Go name with a lowercase first letter would differ (none known in v1.15).
      const tr = taskRun([]);
      const withFlags = { ...tr, status: { ...tr.status, provenance: { featureFlags: { EnableAPIFields: 'beta', MaxResultSize: 4096, SetSecurityContext: false, Coschedule: '', enableStepActions: true } } } } as TaskRunLike;
      expect(buildTaskRunProvenance(withFlags).statement.predicate.buildDefinition.internalParameters).to.deep.equal({
        'tekton-pipelines-feature-flags': { enableAPIFields: 'beta', maxResultSize: 4096, enableStepActions: true },
      });
    });

    it('slsa-tekton adds labels and annotations (null when absent); unknown buildType and empty builder id are refused', () => {
      const tr = taskRun([], { labels: { app: 'x' } });
      expect(buildTaskRunProvenance(tr, { buildType: BUILD_TYPE_SLSA_TEKTON }).statement.predicate.buildDefinition.internalParameters).to.deep.equal({ labels: { app: 'x' }, annotations: null });
      expect(thrown(() => buildTaskRunProvenance(tr, { buildType: 'https://example/other' as typeof BUILD_TYPE_SLSA_TEKTON })).code).to.equal('USAGE');
      expect(thrown(() => buildTaskRunProvenance(tr, { builderId: '' })).code).to.equal('USAGE');
    });

    it('metadata and the runSpec as Chains writes them (empty lists dropped as Go\'s omitempty, empty array params kept)', () => {
      // Deliberate difference: Chains round-trips the spec through Tekton's Go structs (dropping unknown fields and
      // every omitempty zero value); we keep the spec as given and drop only empty lists, the case seen in practice.
      const tr = { metadata: { name: 'x' }, spec: { params: [{ name: 'list', value: [] }], workspaces: [], taskRef: { name: 't', resolver: '' } }, status: { steps: [] } } as TaskRunLike;
      const { statement, warnings } = buildTaskRunProvenance(tr);
      expect(statement.predicate.runDetails.metadata).to.deep.equal({});
      expect(statement.predicate.buildDefinition.externalParameters).to.deep.equal({ runSpec: { params: [{ name: 'list', value: [] }], taskRef: { name: 't', resolver: '' } } });
      expect(codes(warnings)).to.deep.equal(['RUN_NOT_FINISHED', 'NO_SUBJECTS']);
    });
  });

  describe('PipelineRun children', () => {
    function pipelineRun(children: { name: string; task: string }[]): PipelineRunLike {
      return {
        metadata: { name: 'pr', uid: 'uid-pr' },
        spec: { pipelineRef: { name: 'p' } },
        status: {
          startTime: '2026-01-01T00:00:00Z',
          completionTime: '2026-01-01T00:05:00Z',
          pipelineSpec: { tasks: [{ name: 'build' }], finally: [{ name: 'report' }] },
          childReferences: children.map((c) => ({ name: c.name, pipelineTaskName: c.task, kind: 'TaskRun' })),
          results: [{ name: 'IMAGE_URL', value: 'gcr.io/app' }, { name: 'IMAGE_DIGEST', value: `sha256:${A}` }],
        },
      };
    }

    it('ties children by label or by childReferences, reports missing, foreign, unknown and unfinished ones', () => {
      // Deliberate differences from Chains, which only matches the tekton.dev/pipelineTask label of whatever
      // TaskRuns it is handed: a child without the label is found through status.childReferences, and a TaskRun
      // labelled for another PipelineRun (by name or uid) is refused rather than mixed into this one's provenance.
      const pr = pipelineRun([{ name: 'pr-build', task: 'build' }, { name: 'pr-report', task: 'report' }, { name: 'pr-gone', task: 'build' }]);
      const build = taskRun([{ name: 'BIN-ARTIFACT_OUTPUTS', value: { uri: 'pkg:generic/bin@1', digest: `sha256:${B}`, isBuildArtifact: 'true' } }], { name: 'pr-build' }); // no label: matched through childReferences
      const report = taskRun([{ name: 'out', value: 'ok' }], { name: 'pr-report', labels: { 'tekton.dev/pipelineTask': 'report', 'tekton.dev/pipelineRun': 'pr' }, completionTime: null });
      const foreign = taskRun([], { name: 'other-build', labels: { 'tekton.dev/pipelineTask': 'build', 'tekton.dev/pipelineRun': 'other' } });
      const stray = taskRun([], { name: 'stray' });
      const previousRun = taskRun([], { name: 'pr-build', labels: { 'tekton.dev/pipelineTask': 'build', 'tekton.dev/pipelineRun': 'pr', 'tekton.dev/pipelineRunUID': 'uid-of-a-deleted-pr' } });
      const { statement, warnings } = buildPipelineRunProvenance(pr, [build, report, foreign, stray, previousRun]);
      expect(warnings.map((w) => `${w.code} ${w.where}`)).to.deep.equal([
        'CHILD_TASKRUN_INCOMPLETE TaskRun pr-report',
        'CHILD_TASKRUN_UNMATCHED TaskRun other-build',
        'CHILD_TASKRUN_UNMATCHED TaskRun stray',
        'CHILD_TASKRUN_UNMATCHED TaskRun pr-build',
        'CHILD_TASKRUN_MISSING PipelineRun pr',
      ]);
      expect(warnings[3]!.message).to.contain('uid-of-a-deleted-pr');
      expect(warnings[4]!.message).to.contain('pr-gone');
      // the unfinished child contributes nothing (Chains ignores TaskRuns without completionTime)
      expect(statement.subject).to.deep.equal([{ name: 'gcr.io/app', digest: { sha256: A } }, { name: 'pkg:generic/bin@1', digest: { sha256: B } }]);
      expect(statement.predicate.runDetails.byproducts).to.equal(undefined);
      expect(statement.predicate.buildDefinition.resolvedDependencies).to.deep.equal([{ uri: 'oci://docker.io/library/busybox', digest: { sha256: C } }]);
      expect(schemaErrors(statement)).to.deep.equal([]);
    });

    it('without status.pipelineSpec no child is read (as Chains), and that is reported', () => {
      const pr = pipelineRun([{ name: 'pr-build', task: 'build' }]);
      const noSpec = { ...pr, status: { ...pr.status, pipelineSpec: undefined } } as PipelineRunLike;
      const { statement, warnings } = buildPipelineRunProvenance(noSpec, [taskRun([], { name: 'pr-build' })]);
      expect(codes(warnings)).to.deep.equal(['CHILD_TASKRUN_UNMATCHED']);
      expect(statement.predicate.buildDefinition).to.not.have.property('resolvedDependencies');
    });

    it('slsa-tekton embeds each executed child (base64 JSON) as a pipelineTask dependency, even an inline task', () => {
      // Deliberate difference: the content is JSON of the TaskRun as given, not Go's json.Marshal of Chains' copy.
      const pr = pipelineRun([{ name: 'pr-build', task: 'build' }]);
      const child = taskRun([], { name: 'pr-build' });
      const rds = buildPipelineRunProvenance(pr, [child], { buildType: BUILD_TYPE_SLSA_TEKTON }).statement.predicate.buildDefinition.resolvedDependencies ?? [];
      expect(rds[0]!.name).to.equal('pipelineTask');
      expect(rds[0]).to.not.have.property('uri');
      expect(JSON.parse(Buffer.from(rds[0]!.content!, 'base64').toString('utf8'))).to.deep.equal(json(child));
    });
  });

  describe('bad input', () => {
    const cases: [string, unknown, string][] = [
      ['not an object', 'taskrun', 'TaskRun (unnamed): (root): must be an object'],
      ['null', null, 'TaskRun (unnamed): (root): must be an object'],
      ['metadata that is a list', { metadata: [] }, 'TaskRun (unnamed): metadata: must be an object'],
      ['results not an array', { metadata: { name: 'x' }, status: { results: {} } }, 'TaskRun x: status.results: must be an array'],
      ['a result without a name', { metadata: { name: 'x' }, status: { results: [{ value: 'v' }] } }, 'TaskRun x: status.results[0].name: must be a string'],
      ['a label that is not a string', { metadata: { name: 'x', labels: { a: 1 } } }, 'TaskRun x: metadata.labels.a: must be a string'],
      ['steps not a list', { metadata: { name: 'x' }, status: { steps: 'no' } }, 'TaskRun x: status.steps: must be an array'],
      ['a refSource digest that is not a string', { metadata: { name: 'x' }, status: { provenance: { refSource: { digest: { sha1: 1 } } } } }, 'TaskRun x: status.provenance.refSource.digest.sha1: must be a string'],
      ['a completionTime that is not a time', { metadata: { name: 'x' }, status: { completionTime: '29/03/2021' } }, 'TaskRun x status.completionTime: not an RFC 3339 time: "29/03/2021"'],
    ];
    for (const [what, input, message] of cases) {
      it(`refuses a TaskRun with ${what}`, () => {
        const err = thrown(() => buildTaskRunProvenance(input as TaskRunLike));
        expect(err.code).to.equal('PROVENANCE_INPUT_INVALID');
        expect(err.message).to.equal(message);
      });
    }

    it('refuses a PipelineRun whose pipelineSpec tasks or children are malformed, naming the child', () => {
      expect(thrown(() => buildPipelineRunProvenance({ metadata: { name: 'p' }, status: { pipelineSpec: { tasks: [{}] } } } as unknown as PipelineRunLike, [])).message).to.equal('PipelineRun p: status.pipelineSpec.tasks[0].name: must be a string');
      expect(thrown(() => buildPipelineRunProvenance({ metadata: { name: 'p' } }, [{ metadata: { name: 'c' }, status: { results: 'x' } } as unknown as TaskRunLike])).message).to.equal('PipelineRun p child c: status.results: must be an array');
      expect(thrown(() => buildPipelineRunProvenance({ metadata: { name: 'p' } }, [null as unknown as TaskRunLike])).message).to.equal('PipelineRun p child #0: (root): must be an object');
      expect(thrown(() => buildPipelineRunProvenance({ metadata: { name: 'p' } }, {} as unknown as TaskRunLike[])).message).to.equal('PipelineRun p: child TaskRuns: must be an array');
    });
  });
});

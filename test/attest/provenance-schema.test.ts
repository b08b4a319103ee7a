// checkProvenanceSchema (the SLSA v1 JSON Schema as code, so the sidecar can refuse to sign what Enterprise Contract
// would reject) must agree with ajv running the schema itself: on every statement we build, on real attestations,
// and on each way a statement can break the schema.
import { expect } from 'chai';
import { join } from 'node:path';
import { buildPipelineRunProvenance, buildTaskRunProvenance, checkProvenanceSchema, isSignable, type PipelineRunLike, type TaskRunLike } from '../../src/attest/provenance.ts';
import { HACKS05, UNIT, json, readJson, schemaErrors } from './provenance-helpers.ts';
import { SHARED } from '../helpers/cli.ts';

const unit = (name: string): TaskRunLike & PipelineRunLike => readJson(join(UNIT, name));

function statements(): [string, Record<string, unknown>][] {
  const built = (s: unknown): Record<string, unknown> => json(s) as Record<string, unknown>;
  return [
    ['taskrun1 (test builder id)', built(buildTaskRunProvenance(unit('taskrun1.json'), { builderId: 'test_builder-1' }).statement)],
    ['taskrun1', built(buildTaskRunProvenance(unit('taskrun1.json')).statement)],
    ['taskrun2 (no subject)', built(buildTaskRunProvenance(unit('taskrun2.json')).statement)],
    ['taskrun-multiple-subjects', built(buildTaskRunProvenance(unit('taskrun-multiple-subjects.json')).statement)],
    ['pipelinerun1', built(buildPipelineRunProvenance(unit('pipelinerun1.json'), [unit('taskrun1.json'), unit('taskrun2.json')]).statement)],
    ['pipelinerun2', built(buildPipelineRunProvenance(unit('pipelinerun2.json'), [unit('taskrun3.json'), unit('taskrun4.json')]).statement)],
    ['hacks-05 recorded', readJson(join(HACKS05, 'attestation.json'))],
    ['konflux golden container recorded', readJson(join(SHARED, 'fixtures/ec/konflux-golden-container/attestation-slsa-v1.0.json'))],
  ];
}

const VALID = json(buildTaskRunProvenance(unit('taskrun-multiple-subjects.json')).statement) as unknown as Record<string, unknown>;

const DELETE = Symbol('delete');
/** [what, path into the statement, new value or DELETE] */
type Mutation = [string, (string | number)[], unknown];
const BD = ['predicate', 'buildDefinition'];
const RD = ['predicate', 'runDetails'];
const MUTATIONS: Mutation[] = [
  ['no subject', ['subject'], DELETE],
  ['empty subject list', ['subject'], []],
  ['subject without name', ['subject', 0, 'name'], ''],
  ['subject without digest', ['subject', 0, 'digest'], DELETE],
  ['unknown digest algorithm', ['subject', 0, 'digest'], { SHA256: 'ab' }],
  ['uppercase hex', ['subject', 0, 'digest'], { sha256: 'AB' }],
  ['digest value not a string', ['subject', 0, 'digest'], { sha256: 12 }],
  ['wrong _type', ['_type'], 'https://in-toto.io/Statement/v2'],
  ['wrong predicateType', ['predicateType'], 'https://slsa.dev/provenance/v0.2'],
  ['no predicate', ['predicate'], DELETE],
  ['no buildDefinition', BD, DELETE],
  ['empty buildType', [...BD, 'buildType'], ''],
  ['no externalParameters', [...BD, 'externalParameters'], DELETE],
  ['externalParameters an array', [...BD, 'externalParameters'], []],
  ['internalParameters a string', [...BD, 'internalParameters'], 'x'],
  ['resolvedDependencies an object', [...BD, 'resolvedDependencies'], {}],
  ['a dependency uri that is a number', [...BD, 'resolvedDependencies', 0, 'uri'], 1],
  ['a dependency with a non-hex sha1', [...BD, 'resolvedDependencies', 0, 'digest'], { sha1: 'x123' }],
  ['dependency annotations a string', [...BD, 'resolvedDependencies', 0, 'annotations'], 'a'],
  ['no runDetails', RD, DELETE],
  ['no builder', [...RD, 'builder'], DELETE],
  ['builder id not a URI', [...RD, 'builder', 'id'], 'test_builder-1'],
  ['builder id with a space', [...RD, 'builder', 'id'], 'https://example.com/a b'],
  ['builderDependencies with a bad digest', [...RD, 'builder', 'builderDependencies'], [{ digest: { md4: 'ab' } }]],
  ['builder version a number', [...RD, 'builder', 'version'], 1],
  ['empty invocationId', [...RD, 'metadata'], { invocationId: '' }],
  ['startedOn with an offset', [...RD, 'metadata'], { startedOn: '2021-03-29T09:50:00+01:00' }],
  ['finishedOn not a time', [...RD, 'metadata'], { finishedOn: 'yesterdayZ' }],
  ['byproduct content a number', [...RD, 'byproducts'], [{ content: 5 }]],
];

function mutated(path: (string | number)[], value: unknown): Record<string, unknown> {
  const s = json(VALID);
  let at = s as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === DELETE) Reflect.deleteProperty(at, last);
  else at[last] = value;
  return s;
}

describe('attest: SLSA v1 schema checks agree with ajv on the schema itself', () => {
  for (const [name, statement] of statements()) {
    it(`${name}: same verdict`, () => {
      expect(checkProvenanceSchema(statement).length === 0, checkProvenanceSchema(statement).join('; ')).to.equal(schemaErrors(statement).length === 0);
    });
  }

  it('the statement the mutations start from is valid for both', () => {
    expect(schemaErrors(VALID)).to.deep.equal([]);
    expect(checkProvenanceSchema(VALID)).to.deep.equal([]);
  });

  for (const [name, path, value] of MUTATIONS) {
    it(`${name}: rejected by both`, () => {
      const s = mutated(path, value);
      expect(schemaErrors(s), 'ajv').to.not.deep.equal([]);
      expect(checkProvenanceSchema(s), 'checkProvenanceSchema').to.not.deep.equal([]);
    });
  }

  it('accepts what the schema leaves open (v0.1 _type, extra fields, no metadata, a sha1 subject)', () => {
    const s = mutated([...RD, 'metadata'], DELETE);
    s['_type'] = 'https://in-toto.io/Statement/v0.1';
    s['extra'] = { anything: true };
    s['subject'] = [{ name: 'x', digest: { sha1: 'ab'.repeat(20), gitCommit: 'cd'.repeat(20) } }];
    expect(schemaErrors(s)).to.deep.equal([]);
    expect(checkProvenanceSchema(s)).to.deep.equal([]);
  });

  it('is not fooled by a non-object', () => {
    for (const v of [null, 'x', [], 3]) expect(checkProvenanceSchema(v)).to.deep.equal(['(root): must be an object']);
  });
});

describe('attest: provenance from arbitrary results (seeded random runs)', () => {
  // A small deterministic PRNG (mulberry32), so a failure names a reproducible seed.
  function prng(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const NAMES = ['IMAGE_URL', 'IMAGE_DIGEST', 'a-IMAGE_URL', 'a-IMAGE_DIGEST', 'IMAGES', 'x-ARTIFACT_OUTPUTS', 'ARTIFACT_OUTPUTS', 'in-ARTIFACT_INPUTS', 'ARTIFACT_URI', 'ARTIFACT_DIGEST', 'CHAINS-GIT_URL', 'CHAINS-GIT_COMMIT', 'report', 'x'];
  const D = 'ab'.repeat(32);
  const STRINGS = ['', 'gcr.io/app', 'busybox', `sha256:${D}`, `sha256:${D.slice(2)}`, `gcr.io/app@sha256:${D}`, `a@sha256:${D}, gcr.io/x:1@sha256:${D}\n`, 'https://git.example/r', 'f'.repeat(40), '<&>\u2028', 'UPPER/Case'];
  const value = (rnd: () => number): unknown => {
    const r = rnd();
    if (r < 0.55) return pick(rnd, STRINGS);
    if (r < 0.65) return [pick(rnd, STRINGS), pick(rnd, STRINGS)];
    const obj: Record<string, string> = {};
    for (const k of ['uri', 'digest', 'isBuildArtifact']) if (rnd() < 0.8) obj[k] = k === 'isBuildArtifact' ? pick(rnd, ['true', 'false', 'True']) : pick(rnd, STRINGS);
    return obj;
  };

  it('never throws on well-shaped runs, and isSignable() agrees with ajv on the SLSA v1 schema (500 runs)', () => {
    const verdicts = { signable: 0, refused: 0 };
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = prng(seed);
      const results = Array.from({ length: Math.floor(rnd() * 8) }, () => ({ name: pick(rnd, NAMES), value: value(rnd) }));
      // most runs also build one valid image, so that both verdicts occur often
      if (rnd() < 0.7) results.push({ name: 'b-IMAGE_URL', value: 'registry.example/team/app' }, { name: 'b-IMAGE_DIGEST', value: `sha256:${D}` });
      const stepResults = Array.from({ length: Math.floor(rnd() * 3) }, () => ({ name: pick(rnd, NAMES), value: value(rnd) }));
      const tr: TaskRunLike = {
        metadata: { name: `tr-${seed}`, uid: `u-${seed}` },
        spec: { params: rnd() < 0.3 ? [{ name: 'CHAINS-GIT_URL', value: pick(rnd, STRINGS) }] : [] },
        status: {
          startTime: '2026-01-01T00:00:00Z',
          completionTime: '2026-01-01T00:00:01.5Z',
          results,
          steps: [{ name: 's', imageID: pick(rnd, [`gcr.io/tools@sha256:${D}`, 'busybox', `docker-pullable://x/y@sha1:${'c'.repeat(40)}`]), results: stepResults }],
        },
      };
      const result = buildTaskRunProvenance(tr, { builderId: rnd() < 0.85 ? 'https://vouch.example/sidecar' : 'not a uri' });
      const ajvOk = schemaErrors(result.statement).length === 0;
      expect(isSignable(result), `seed ${seed}: ${JSON.stringify(result.warnings)}`).to.equal(ajvOk);
      verdicts[ajvOk ? 'signable' : 'refused']++;
    }
    // both verdicts are well exercised
    expect(verdicts.signable).to.be.above(50);
    expect(verdicts.refused).to.be.above(50);
  });
});

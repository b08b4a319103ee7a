// The builder's half of conformance test (2): Chains' end-to-end examples (e2e-inputs/) completed the way their
// scripts complete them (the results they write, one step image each), through the builder, compared with Chains'
// expected templates (e2e-expected/v2alpha4/) filled with the same uid, times, names and image digests.
// Not compared, and why:
// - externalParameters.runSpec: it is the spec as Tekton stores it, with the defaults its webhook adds
//   (serviceAccountName, timeout, computeResources...); the real run of test (2) (`vouch run` + sidecar) produces it.
// - internalParameters: upstream's examples_test ignores it too (it depends on the cluster's feature flags).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildPipelineRunProvenance, buildTaskRunProvenance, type PipelineRunLike, type ProvenanceStatement, type TaskRunLike } from '../../src/attest/provenance.ts';
import { CHAINS, fillE2eTemplate, json, schemaErrors, type TemplateValues } from './provenance-helpers.ts';

const START = '2026-11-24T10:00:00Z';
const FINISH = '2026-11-24T10:00:07Z';
const hex = (n: number): string => n.toString(16).padStart(64, '0');

/** The builder-side fill: times fixed, since the runs here are simulated. */
function fill(template: string, v: Omit<TemplateValues, 'startedOn' | 'finishedOn'>): ProvenanceStatement {
  return fillE2eTemplate(template, { ...v, startedOn: START, finishedOn: FINISH });
}

interface RunYaml {
  metadata: { name?: string };
  spec: { pipelineSpec?: { tasks: { name: string }[] } } & Record<string, unknown>;
}

function example(file: string): RunYaml {
  return parseYaml(readFileSync(join(CHAINS, 'e2e-inputs', file), 'utf8')) as RunYaml;
}


function taskRunOf(name: string, spec: unknown, results: { name: string; value: unknown }[], images: string[], labels?: Record<string, string>): TaskRunLike {
  return {
    metadata: { name, uid: `uid-${name}`, ...(labels ? { labels } : {}) },
    spec: spec as TaskRunLike['spec'],
    status: { startTime: START, completionTime: FINISH, results, steps: images.map((imageID, i) => ({ name: `step${i}`, imageID })) },
  };
}

function pipelineRunOf(y: RunYaml, name: string, results: { name: string; value: unknown }[], children: TaskRunLike[]): PipelineRunLike {
  return {
    metadata: { name, uid: `uid-${name}` },
    spec: y.spec as PipelineRunLike['spec'],
    status: {
      startTime: START,
      completionTime: FINISH,
      results,
      pipelineSpec: y.spec.pipelineSpec!,
      childReferences: children.map((c) => ({ name: c.metadata!.name!, kind: 'TaskRun', pipelineTaskName: c.metadata!.labels!['tekton.dev/pipelineTask']! })),
    },
  };
}

/** Everything upstream compares except runSpec and internalParameters (see the top of this file). */
function comparable(s: ProvenanceStatement): unknown {
  const copy = json(s);
  delete (copy.predicate.buildDefinition.externalParameters as { runSpec?: unknown }).runSpec;
  copy.predicate.buildDefinition.internalParameters = {};
  return copy;
}

const BUSYBOX = `docker.io/library/busybox@sha256:${hex(1)}`;
const BUSYBOX_DEP = { uri: 'oci://docker.io/library/busybox', digest: hex(1) };

describe('attest: SLSA provenance vs Chains e2e templates (builder part of test (2), runs simulated)', () => {
  it('task-output-image: IMAGE_URL/IMAGE_DIGEST written with echo (trailing newline)', () => {
    const y = example('task-output-image.yaml');
    const tr = taskRunOf(y.metadata.name!, y.spec, [
      { name: 'IMAGE_URL', value: 'gcr.io/foo/bar\n' },
      { name: 'IMAGE_DIGEST', value: 'sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5\n' },
    ], [BUSYBOX]);
    const { statement, warnings } = buildTaskRunProvenance(tr);
    expect(warnings).to.deep.equal([]);
    expect(comparable(statement)).to.deep.equal(comparable(fill('task-output-image.json', { uid: `uid-${y.metadata.name!}`, name: y.metadata.name!, images: [BUSYBOX_DEP] })));
    expect(schemaErrors(statement)).to.deep.equal([]);
  });

  it('task-with-object-type-hinting: object hints, IMAGES and an invalid digest (reported, not a subject)', () => {
    const y = example('task-with-object-type-hinting.yaml');
    const tr = taskRunOf(y.metadata.name!, y.spec, [
      { name: 'first-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/foo/img1', digest: 'sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee' } },
      { name: 'second-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/foo/img2', digest: 'sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5', isBuildArtifact: 'true' } },
      { name: 'third-IMAGE_URL', value: 'gcr.io/foo/bar' },
      { name: 'third-IMAGE_DIGEST', value: 'sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b6' },
      { name: 'IMAGES', value: 'gcr.io/test/img3@sha256:2996854378975c2f8011ddf0526975d1aaf1790b404da7aad4bf25293055bc8b' },
      { name: 'fourth-ARTIFACT_OUTPUTS', value: { uri: 'gcr.io/test/img4', digest: 'sha256:basd-sha', isBuildArtifact: 'true' } },
    ], [`docker.io/library/bash@sha256:${hex(2)}`]);
    const { statement, warnings } = buildTaskRunProvenance(tr);
    expect(warnings.map((w) => `${w.code} ${w.where}`)).to.deep.equal(['TYPE_HINT_INVALID TaskRun image-build result fourth-ARTIFACT_OUTPUTS']);
    expect(comparable(statement)).to.deep.equal(comparable(fill('task-with-object-type-hinting.json', { uid: 'uid-image-build', name: 'image-build', images: [{ uri: 'oci://docker.io/library/bash', digest: hex(2) }] })));
  });

  it('pipeline-output-image: child images, then the PipelineRun\'s CHAINS-GIT_* params as a git input', () => {
    const y = example('pipeline-output-image.yaml');
    const name = 'image-pipelinerunx7k2p'; // generateName + suffix
    const child = taskRunOf(`${name}-buildimage`, { taskSpec: {} }, [
      { name: 'IMAGE_URL', value: 'gcr.io/foo/bar\n' },
      { name: 'IMAGE_DIGEST', value: 'sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5\n' },
    ], [`distroless.dev/busybox@sha256:186312fcf3f381b5fc1dd80b1afc0d316f3ed39fb4add8ff900d1f0c7c49a92c`], { 'tekton.dev/pipelineTask': 'buildimage', 'tekton.dev/pipelineRun': name });
    const pr = pipelineRunOf(y, name, [
      { name: 'IMAGE_URL', value: 'gcr.io/foo/bar\n' },
      { name: 'IMAGE_DIGEST', value: 'sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5\n' },
    ], [child]);
    for (const deepInspection of [false, true]) {
      const { statement, warnings } = buildPipelineRunProvenance(pr, [child], { deepInspection });
      // Upstream's example commit "my-git-commit" is no sha1: Chains signs that; we say the schema rejects it.
      expect(warnings.map((w) => w.message)).to.deep.equal(['the statement does not validate against the SLSA v1 schema: /predicate/buildDefinition/resolvedDependencies/1/digest/sha1: must be lowercase hex']);
      expect(comparable(statement)).to.deep.equal(comparable(fill('pipeline-output-image.json', { uid: `uid-${name}`, name, images: [{ uri: 'oci://distroless.dev/busybox', digest: '186312fcf3f381b5fc1dd80b1afc0d316f3ed39fb4add8ff900d1f0c7c49a92c' }] })));
    }
  });

  it('pipeline-with-object-type-hinting (deep inspection off, as upstream ran it)', () => {
    const y = example('pipeline-with-object-type-hinting.yaml');
    const name = y.metadata.name!;
    const output1 = { uri: 'gcr.io/foo/img1', digest: 'sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee', isBuildArtifact: 'true' };
    const output2 = { uri: 'gcr.io/foo/img2', digest: 'sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee' };
    const t1 = taskRunOf(`${name}-t1`, { taskSpec: {} }, [{ name: 'output1', value: output1 }, { name: 'output2', value: output2 }], [`docker.io/library/busybox@sha256:${hex(3)}`], { 'tekton.dev/pipelineTask': 't1' });
    const pr = pipelineRunOf(y, name, [{ name: 'output1-ARTIFACT_OUTPUTS', value: output1 }, { name: 'output2-ARTIFACT_OUTPUTS', value: output2 }], [t1]);
    const { statement } = buildPipelineRunProvenance(pr, [t1], { deepInspection: false });
    expect(comparable(statement)).to.deep.equal(comparable(fill('pipeline-with-object-type-hinting.json', { uid: `uid-${name}`, name, images: [{ uri: 'oci://docker.io/library/busybox', digest: hex(3) }] })));
  });

  it('pipeline-with-repeated-results (deep inspection on): the repeated artifact is one subject', () => {
    const y = example('pipeline-with-repeated-results.yaml');
    const name = y.metadata.name!;
    const img1 = { uri: 'gcr.io/foo/img1', digest: 'sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee', isBuildArtifact: 'true' };
    const img2 = { uri: 'gcr.io/foo/img2', digest: 'sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee' };
    const image = `docker.io/library/busybox@sha256:${hex(4)}`;
    const children = [
      taskRunOf(`${name}-t1`, { taskSpec: {} }, [{ name: 'output1-ARTIFACT_OUTPUTS', value: img1 }, { name: 'output2', value: img2 }], [image], { 'tekton.dev/pipelineTask': 't1' }),
      taskRunOf(`${name}-t2`, { taskSpec: {} }, [{ name: 'output3-ARTIFACT_OUTPUTS', value: img1 }], [image], { 'tekton.dev/pipelineTask': 't2' }),
      taskRunOf(`${name}-t3`, { taskSpec: {} }, [{ name: 'IMAGES', value: 'gcr.io/foo/img1@sha256:586789aa031fafc7d78a5393cdc772e0b55107ea54bb8bcf3f2cdac6c6da51ee' }], [image], { 'tekton.dev/pipelineTask': 't3' }),
    ];
    const pr = pipelineRunOf(y, name, [{ name: 'output1-ARTIFACT_OUTPUTS', value: img1 }, { name: 'output2-ARTIFACT_OUTPUTS', value: img2 }, { name: 'output3-ARTIFACT_OUTPUTS', value: img1 }], children);
    const { statement } = buildPipelineRunProvenance(pr, children, { deepInspection: true });
    expect(comparable(statement)).to.deep.equal(comparable(fill('pipeline-with-repeated-results.json', { uid: `uid-${name}`, name, images: [{ uri: 'oci://docker.io/library/busybox', digest: hex(4) }], children: children.map((c) => c.metadata!.name!) })));
    expect(schemaErrors(statement)).to.deep.equal([]);
  });
});

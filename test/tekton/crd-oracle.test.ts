// Our strict structural checks against Tekton's own CRD schemas (openAPIV3Schema of tekton.dev/v1), used only as a
// test oracle: for each document both must agree on which fields are unknown and which have the wrong type, as
// `kubectl apply --validate=strict` would decide. The product validates with its own code (src/tekton/schema.ts).

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { loadText } from '../../src/tekton/load.ts';
import { formatPath, type FieldPath } from '../../src/tekton/problems.ts';
import { checkStructure, pruneNulls, resourceSchemas } from '../../src/tekton/schema.ts';
import { crdValidator } from '../helpers/crd.ts';


/** ajv errors as our field paths: unknown fields at the field itself, the rest at the value. */
function ajvPaths(errors: ErrorObject[] | null | undefined): string[] {
  const out = new Set<string>();
  for (const e of errors ?? []) {
    const parts: FieldPath = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
    if (e.keyword === 'additionalProperties') out.add(formatPath([...parts, (e.params as { additionalProperty: string }).additionalProperty]));
    else if (e.keyword === 'type') out.add(formatPath(parts));
    else if (e.keyword === 'required') out.add(formatPath([...parts, (e.params as { missingProperty: string }).missingProperty]));
    // anyOf/oneOf wrappers repeat a type error already counted
  }
  return [...out].sort();
}

function ourPaths(kind: string, doc: unknown): string[] {
  const out = new Set<string>();
  checkStructure(doc, resourceSchemas[kind]!, [], (path) => out.add(formatPath(path)));
  return [...out].sort();
}

const task = (steps: string, extra = ''): string => `apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: t
spec:
${extra}  steps:
${steps}`;

const pipeline = (tasks: string, extra = ''): string => `apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: p
spec:
${extra}  tasks:
${tasks}`;

// [title, yaml, the paths both must report]
const CASES: [string, string, string[]][] = [
  ['a good Task', readFileSync(new URL('./fixtures/tasks/build.yaml', import.meta.url), 'utf8'), []],
  ['a good Pipeline', readFileSync(new URL('./fixtures/pipelines/good.yaml', import.meta.url), 'utf8').replace(/ {6}taskSpec:[^]*?(?= {2}finally:)/, '      taskRef:\n        name: x\n'), []],
  ['an unknown field in a step', task('    - name: s\n      image: i\n      imagee: typo\n'), ['spec.steps[0].imagee']],
  ['an unknown field in spec', task('    - name: s\n      image: i\n', '  stepz: []\n'), ['spec.stepz']],
  ['an unknown top-level field', task('    - name: s\n      image: i\n') + 'extra: 1\n', ['extra']],
  ['args that is not a list', task('    - name: s\n      image: i\n      args: "-v"\n'), ['spec.steps[0].args']],
  ['a number where a string is expected', task('    - name: s\n      image: 3\n'), ['spec.steps[0].image']],
  ['a YAML 1.1 boolean where a string is expected', task('    - name: s\n      image: i\n      workingDir: on\n'), ['spec.steps[0].workingDir']],
  ['a step without a name', task('    - image: i\n'), ['spec.steps[0].name']],
  ['an env var with a list value', task('    - name: s\n      image: i\n      env:\n        - name: A\n          value: [x]\n'), ['spec.steps[0].env[0].value']],
  ['a workspace optional as a string', task('    - name: s\n      image: i\n', '  workspaces:\n    - name: w\n      optional: "true"\n'), ['spec.workspaces[0].optional']],
  ['a param without a name', task('    - name: s\n      image: i\n', '  params:\n    - type: string\n'), ['spec.params[0].name']],
  ['a null list item (a null field is just unset)', task('    - name: s\n      image: i\n      args: [a, null]\n      workingDir:\n'), ['spec.steps[0].args[1]']],
  ['retries as a string', pipeline('    - name: a\n      retries: "3"\n      taskRef:\n        name: x\n'), ['spec.tasks[0].retries']],
  ['runAfter as a string', pipeline('    - name: a\n      runAfter: b\n      taskRef:\n        name: x\n'), ['spec.tasks[0].runAfter']],
  ['an unknown field in a pipeline task', pipeline('    - name: a\n      taskref:\n        name: x\n'), ['spec.tasks[0].taskref']],
  ['when values as a string', pipeline('    - name: a\n      taskRef:\n        name: x\n      when:\n        - input: a\n          operator: in\n          values: a\n'), ['spec.tasks[0].when[0].values']],
  ['a pipeline result without a value', pipeline('    - name: a\n      taskRef:\n        name: x\n', '  results:\n    - name: r\n'), ['spec.results[0].value']],
  [
    'a PipelineRun with bad timeouts and an unknown field',
    'apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: r\nspec:\n  pipelineRef:\n    name: p\n  timeouts:\n    pipeline: 3600\n  serviceAccount: x\n',
    ['spec.serviceAccount', 'spec.timeouts.pipeline'],
  ],
];

describe('tekton/schema agrees with Tekton\'s CRD schemas (ajv oracle)', function () {
  this.timeout(60_000);
  const validators: Record<string, ValidateFunction> = {};

  before(() => {
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
    validators['Task'] = crdValidator(ajv, '300-task.yaml');
    validators['Pipeline'] = crdValidator(ajv, '300-pipeline.yaml');
    validators['PipelineRun'] = crdValidator(ajv, '300-pipelinerun.yaml');
  });

  for (const [title, text, want] of CASES) {
    it(title, () => {
      const [doc] = loadText(text, 'case.yaml');
      const validate = validators[doc!.kind]!;
      pruneNulls(doc!.resource); // the API server prunes null fields before validating
      validate(doc!.resource);
      expect(ajvPaths(validate.errors), 'CRD schema (ajv)').to.deep.equal([...want].sort());
      expect(ourPaths(doc!.kind, doc!.resource), 'our schema').to.deep.equal([...want].sort());
    });
  }

  it('differs where documented: embedded specs are opaque to the CRD but checked by Tekton\'s webhook and by us', () => {
    const text = pipeline('    - name: a\n      taskSpec:\n        steps:\n          - name: s\n            image: i\n            scirpt: echo\n');
    const [doc] = loadText(text, 'case.yaml');
    const validate = validators['Pipeline']!;
    expect(validate(doc!.resource)).to.equal(true);
    expect(ourPaths('Pipeline', doc!.resource)).to.deep.equal(['spec.tasks[0].taskSpec.steps[0].scirpt']);
  });
});

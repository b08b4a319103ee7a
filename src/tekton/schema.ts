// The field layout of tekton.dev/v1 objects, for strict checking: unknown fields are rejected and scalar types
// checked, as `kubectl apply --validate=strict` does against Tekton's CRDs, except that embedded specs (a pipeline
// task's taskSpec, a PipelineRun's pipelineSpec) are checked too, as Tekton's webhook does when it decodes them.
// Kubernetes-owned sub-objects (podTemplate, securityContext, volumes, probes...) are accepted as any object.
// test/tekton/crd-oracle.test.ts compares this with the CRD schemas in ../shared/fixtures/tekton/crds.

import type { FieldPath } from './problems.ts';

export type Schema =
  | 'string'
  | 'bool'
  | 'int'
  /** any JSON object (Kubernetes types we do not model) */
  | 'object'
  /** a ParamValue: string, array of strings, or object of strings */
  | 'paramValue'
  /** map of string to string (labels, annotations) */
  | 'stringMap'
  | { readonly arr: Schema }
  | { readonly map: Schema }
  | { readonly obj: Readonly<Record<string, Schema>>; readonly required?: readonly string[] };

const str = 'string';
const arr = (s: Schema): Schema => ({ arr: s });
const obj = (o: Record<string, Schema>, required?: string[]): Schema => (required ? { obj: o, required } : { obj: o });

const objectMeta = obj({
  name: str,
  generateName: str,
  namespace: str,
  uid: str,
  resourceVersion: str,
  generation: 'int',
  creationTimestamp: str,
  deletionTimestamp: str,
  deletionGracePeriodSeconds: 'int',
  labels: 'stringMap',
  annotations: 'stringMap',
  ownerReferences: arr('object'),
  finalizers: arr(str),
  managedFields: arr('object'),
  selfLink: str,
});

const propertySpec = obj({ type: str });
const paramSpec = obj(
  { name: str, type: str, description: str, properties: { map: propertySpec }, default: 'paramValue', enum: arr(str) },
  ['name'],
);
const param = obj({ name: str, value: 'paramValue' }, ['name']);
const envVar = obj({ name: str, value: str, valueFrom: 'object' }, ['name']);
const taskResult = obj({ name: str, type: str, properties: { map: propertySpec }, description: str, value: 'paramValue' }, ['name']);
const stepResult = obj({ name: str, type: str, properties: { map: propertySpec }, description: str }, ['name']);
const workspaceDeclaration = obj({ name: str, description: str, mountPath: str, readOnly: 'bool', optional: 'bool' }, ['name']);
const workspaceUsage = obj({ name: str, mountPath: str }, ['name']);
const when = obj({ input: str, operator: str, values: arr(str), cel: str });
const outputConfig = obj({ path: str });

const containerCommon: Record<string, Schema> = {
  image: str,
  command: arr(str),
  args: arr(str),
  workingDir: str,
  env: arr(envVar),
  envFrom: arr('object'),
  computeResources: 'object',
  volumeMounts: arr('object'),
  volumeDevices: arr('object'),
  imagePullPolicy: str,
  securityContext: 'object',
};

const step = obj(
  {
    ...containerCommon,
    name: str,
    displayName: str,
    script: str,
    timeout: str,
    workspaces: arr(workspaceUsage),
    onError: str,
    stdoutConfig: outputConfig,
    stderrConfig: outputConfig,
    ref: obj({ name: str, resolver: str, params: arr(param) }),
    params: arr(param),
    results: arr(stepResult),
    when: arr(when),
  },
  // Tekton's Step has `name` optional in Go (omitempty) but the CRD lists it as required
  ['name'],
);
const stepTemplate = obj(containerCommon);
const sidecar = obj(
  {
    ...containerCommon,
    name: str,
    script: str,
    workspaces: arr(workspaceUsage),
    ports: arr('object'),
    livenessProbe: 'object',
    readinessProbe: 'object',
    startupProbe: 'object',
    lifecycle: 'object',
    restartPolicy: str,
    terminationMessagePath: str,
    terminationMessagePolicy: str,
    stdin: 'bool',
    stdinOnce: 'bool',
    tty: 'bool',
  },
  ['name'],
);

const taskSpecFields: Record<string, Schema> = {
  displayName: str,
  description: str,
  params: arr(paramSpec),
  results: arr(taskResult),
  workspaces: arr(workspaceDeclaration),
  steps: arr(step),
  stepTemplate,
  sidecars: arr(sidecar),
  volumes: arr('object'),
};
export const taskSpecSchema = obj(taskSpecFields);

const refParams = arr(param);
const taskRef = obj({ name: str, kind: str, apiVersion: str, resolver: str, params: refParams });
const pipelineRef = obj({ name: str, apiVersion: str, resolver: str, params: refParams });
const embeddedTask = obj({
  ...taskSpecFields,
  metadata: obj({ labels: 'stringMap', annotations: 'stringMap' }),
  apiVersion: str,
  kind: str,
  spec: 'object',
});
const pipelineTask = obj({
  name: str,
  displayName: str,
  description: str,
  taskRef,
  taskSpec: embeddedTask,
  when: arr(when),
  onError: str,
  retries: 'int',
  runAfter: arr(str),
  params: arr(param),
  matrix: obj({ params: arr(param), include: arr(obj({ name: str, params: arr(param) })) }),
  workspaces: arr(obj({ name: str, workspace: str, subPath: str }, ['name'])),
  timeout: str,
  pipelineRef,
  // pipelines in pipelines (alpha); refused by validation, so not modelled here
  pipelineSpec: 'object',
});
const pipelineResult = obj({ name: str, type: str, description: str, value: 'paramValue' }, ['name', 'value']);
export const pipelineSpecSchema = obj({
  displayName: str,
  description: str,
  tasks: arr(pipelineTask),
  params: arr(paramSpec),
  workspaces: arr(obj({ name: str, description: str, optional: 'bool' }, ['name'])),
  results: arr(pipelineResult),
  finally: arr(pipelineTask),
});

const workspaceBinding = obj(
  {
    name: str,
    subPath: str,
    emptyDir: 'object',
    persistentVolumeClaim: 'object',
    volumeClaimTemplate: 'object',
    configMap: 'object',
    secret: 'object',
    projected: 'object',
    csi: 'object',
  },
  ['name'],
);

const pipelineRunSpec = obj({
  pipelineRef,
  pipelineSpec: pipelineSpecSchema,
  params: arr(param),
  status: str,
  timeouts: obj({ pipeline: str, tasks: str, finally: str }),
  taskRunTemplate: obj({ serviceAccountName: str, podTemplate: 'object' }),
  workspaces: arr(workspaceBinding),
  taskRunSpecs: arr('object'),
  managedBy: str,
});

const taskRunSpec = obj({
  debug: 'object',
  params: arr(param),
  serviceAccountName: str,
  taskRef,
  taskSpec: taskSpecSchema,
  status: str,
  statusMessage: str,
  retries: 'int',
  timeout: str,
  podTemplate: 'object',
  workspaces: arr(workspaceBinding),
  stepSpecs: arr('object'),
  sidecarSpecs: arr('object'),
  computeResources: 'object',
  managedBy: str,
});

const top = (spec: Schema): Schema => obj({ apiVersion: str, kind: str, metadata: objectMeta, spec, status: 'object' });

export const resourceSchemas: Readonly<Record<string, Schema>> = {
  Task: top(taskSpecSchema),
  Pipeline: top(pipelineSpecSchema),
  PipelineRun: top(pipelineRunSpec),
  TaskRun: top(taskRunSpec),
};

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Checks `value` against `schema`, reporting unknown fields, wrong types and missing required fields. Returns nothing;
 * every problem goes to `report` with its field path.
 */
export function checkStructure(value: unknown, schema: Schema, path: FieldPath, report: (path: FieldPath, message: string) => void): void {
  if (value === null || value === undefined) return; // `field:` with no value: the API server prunes it (unset)
  if (typeof schema === 'string') {
    switch (schema) {
      case 'string':
        if (typeof value !== 'string') report(path, `expected string, got ${typeName(value)}`);
        return;
      case 'bool':
        if (typeof value !== 'boolean') report(path, `expected boolean, got ${typeName(value)}`);
        return;
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value)) report(path, `expected integer, got ${typeName(value)}`);
        return;
      case 'object':
        if (typeName(value) !== 'object') report(path, `expected object, got ${typeName(value)}`);
        return;
      case 'stringMap':
        if (typeName(value) !== 'object') {
          report(path, `expected object, got ${typeName(value)}`);
          return;
        }
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (typeof v !== 'string') report([...path, k], `expected string, got ${typeName(v)}`);
        }
        return;
      case 'paramValue':
        checkParamValue(value, path, report);
        return;
    }
  }
  if ('arr' in schema) {
    if (!Array.isArray(value)) {
      report(path, `expected array, got ${typeName(value)}`);
      return;
    }
    value.forEach((item, i) => {
      // a null field is pruned by the API server (unset), but a null list item is a type error
      if (item === null) report([...path, i], 'expected a value, got null');
      else checkStructure(item, schema.arr, [...path, i], report);
    });
    return;
  }
  if ('map' in schema) {
    if (typeName(value) !== 'object') {
      report(path, `expected object, got ${typeName(value)}`);
      return;
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) checkStructure(v, schema.map, [...path, k], report);
    return;
  }
  if (typeName(value) !== 'object') {
    report(path, `expected object, got ${typeName(value)}`);
    return;
  }
  const o = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    const sub = schema.obj[k];
    if (sub === undefined) {
      report([...path, k], `unknown field "${k}"`);
      continue;
    }
    checkStructure(v, sub, [...path, k], report);
  }
  for (const r of schema.required ?? []) {
    if (o[r] === undefined || o[r] === null) report([...path, r], `missing required field "${r}"`);
  }
}

// ParamValue.UnmarshalJSON accepts a JSON string, an array of strings or an object of strings. Other scalars
// (numbers, booleans) become their JSON text as a string, so `value: 3` is the string "3"; nested or mixed
// collections are rejected here (Tekton would keep them as an opaque string that no param type accepts).
function checkParamValue(value: unknown, path: FieldPath, report: (path: FieldPath, message: string) => void): void {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v !== 'string') report([...path, i], `array values must be strings, got ${typeName(v)}`);
    });
    return;
  }
  if (typeName(value) === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v !== 'string') report([...path, k], `object values must be strings, got ${typeName(v)}`);
    }
    return;
  }
  report(path, `expected string, array of strings or object of strings, got ${typeName(value)}`);
}

/** Normalises scalar ParamValues in place (numbers/booleans to their JSON text), as Tekton's decoder does. */
export function normaliseParamValue(v: unknown): unknown {
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return v;
}

/**
 * Removes fields whose value is null, in place, as the Kubernetes API server prunes them from custom resources
 * (`field:` with no value means unset). Null list items stay (checkStructure reports them).
 */
export function pruneNulls(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) pruneNulls(item);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (o[k] === null) Reflect.deleteProperty(o, k);
    else pruneNulls(o[k]);
  }
}

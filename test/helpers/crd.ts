// Tekton's CRD schemas (../shared/fixtures/tekton/crds) as strict ajv validators: a test oracle for what
// `kubectl apply --validate=strict` accepts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ajv, ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { SHARED } from './cli.ts';

type Json = Record<string, unknown>;

/** Kubernetes prunes or rejects unknown fields unless a schema preserves them; ajv needs that said explicitly. */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([pk, pv]) => [pk, strict(pv)])) : strict(v);
  if (out['properties'] && !out['x-kubernetes-preserve-unknown-fields'] && out['additionalProperties'] === undefined) out['additionalProperties'] = false;
  return out;
}

export function crdValidator(ajv: Ajv, file: string): ValidateFunction {
  const crd = parse(readFileSync(join(SHARED, 'fixtures/tekton/crds', file), 'utf8')) as { spec: { versions: { name: string; schema: { openAPIV3Schema: unknown } }[] } };
  const v1 = crd.spec.versions.find((v) => v.name === 'v1')!;
  return ajv.compile(strict(v1.schema.openAPIV3Schema) as Json);
}


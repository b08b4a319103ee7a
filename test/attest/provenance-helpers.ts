// Shared by the provenance tests: fixtures, the SLSA v1 JSON Schema (Enterprise Contract's copy), order-insensitive views.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProvenanceStatement } from '../../src/attest/provenance.ts';
import { SHARED } from '../helpers/cli.ts';

export const CHAINS = join(SHARED, 'fixtures/chains');
export const UNIT = join(CHAINS, 'unit-inputs/slsa-v2alpha4');
export const DERIVED = join(CHAINS, 'derived/v2alpha4');
export const HACKS05 = join(SHARED, 'fixtures/ec/hacks-05-slsa-v1.0-tekton-build-type-pipeline-in-cluster');

// The caller states what the fixture holds (the tests check it).
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** A plain JSON copy, so deep comparisons see exactly what would be serialised. */
export function json<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

// ajv-formats is CommonJS: its default export is the plugin function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const schemaValidator = ajv.compile(readJson(join(SHARED, 'fixtures/ec/schema/slsa_provenance_v1.json')));

/** Schema violations as `instancePath message`, empty when the statement validates against the SLSA v1 schema. */
export function schemaErrors(statement: unknown): string[] {
  if (schemaValidator(json(statement))) return [];
  return (schemaValidator.errors ?? []).map((e: ErrorObject) => `${e.instancePath} ${e.message ?? ''}`.trim());
}

/** Upstream sorts these lists before comparing PipelineRun provenance (compare.SLSAV1CompareOptions). */
export function sortedLists(statement: unknown): unknown {
  const s = json(statement) as { subject?: unknown[]; predicate: { buildDefinition: { resolvedDependencies?: unknown[] }; runDetails: { byproducts?: unknown[] } } };
  const sort = (list: unknown[] | undefined): unknown[] | undefined => list?.map((x) => JSON.stringify(canonical(x))).sort().map((x) => JSON.parse(x) as unknown);
  if (s.subject) s.subject = sort(s.subject);
  if (s.predicate.buildDefinition.resolvedDependencies) s.predicate.buildDefinition.resolvedDependencies = sort(s.predicate.buildDefinition.resolvedDependencies);
  if (s.predicate.runDetails.byproducts) s.predicate.runDetails.byproducts = sort(s.predicate.runDetails.byproducts);
  return s;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/** What upstream's examples_test.go takes from the completed run to fill an e2e-expected/ template. */
export interface TemplateValues {
  /** {{.UID}} */
  uid: string;
  /** {{.TektonObjectName}} */
  name: string;
  /** {{range .URIDigest}}: one entry per distinct step image (oci://<repository>, sha256 hex), in step order */
  images: { uri: string; digest: string }[];
  /** {{index .ChildTaskRunNames i}} */
  children?: string[];
  /** {{.PipelineStartedOn}} / {{.PipelineFinishedOn}}, and {{index .BuildStartTimes 0}} / {{index .BuildFinishedTimes 0}} */
  startedOn: string;
  finishedOn: string;
}

/** Fills a Go text/template of e2e-expected/v2alpha4/ as upstream's examples_test does, and parses it. */
export function fillE2eTemplate(template: string, v: TemplateValues): ProvenanceStatement {
  let text = readFileSync(join(CHAINS, 'e2e-expected/v2alpha4', template), 'utf8');
  text = text.replace(/\{\{range \.URIDigest\}\}([\s\S]*?)\{\{end\}\}/, (_m, body: string) => v.images.map((i) => body.replace('{{.URI}}', i.uri).replace('{{.Digest}}', i.digest)).join(','));
  text = text
    .replaceAll('{{.UID}}', v.uid)
    .replaceAll('{{.TektonObjectName}}', v.name)
    .replaceAll('{{index .BuildStartTimes 0}}', v.startedOn)
    .replaceAll('{{index .BuildFinishedTimes 0}}', v.finishedOn)
    .replaceAll('{{.PipelineStartedOn}}', v.startedOn)
    .replaceAll('{{.PipelineFinishedOn}}', v.finishedOn)
    .replace(/\{\{index \.ChildTaskRunNames (\d+)\}\}/g, (_m, i: string) => v.children?.[Number(i)] ?? '?');
  if (text.includes('{{')) throw new Error(`${template}: a placeholder was left unfilled`);
  // the templates separate range items loosely: make it strict JSON
  text = text.replace(/,(\s*[\]}])/g, '$1').replace(/\}(\s*)\{/g, '},$1{');
  return JSON.parse(text) as ProvenanceStatement;
}

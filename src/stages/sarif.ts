// SARIF 2.1.0 shared by the stages that write or read it (secrets, lint): the schema URI, artifact locations relative
// to the scanned repository (uriBaseId SRCROOT) and a reader for SARIF files made by other tools, which checks the
// properties vouch relies on and fails clearly on a missing or malformed file.

import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ArtifactLocation, Log as SarifLog, Run } from 'sarif';
import { VouchError, errorMessage } from '../common/errors.ts';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
export const SARIF_VERSION = '2.1.0';

/** The base every repository-relative uri refers to. */
export const SRCROOT_BASE: NonNullable<Run['originalUriBaseIds']> = { SRCROOT: { description: { text: 'the root of the scanned repository' } } };

/** A repository-relative path as uri + uriBaseId SRCROOT; an absolute path as a file: URL. */
export function artifactLocation(path: string): ArtifactLocation {
  return isAbsolute(path) ? { uri: pathToFileURL(path).href } : { uri: path.split('/').map(encodeURIComponent).join('/'), uriBaseId: 'SRCROOT' };
}

/** A SARIF log of these runs. */
export function sarifLog(runs: Run[]): SarifLog {
  return { $schema: SARIF_SCHEMA, version: SARIF_VERSION, runs };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the SARIF 2.1.0 properties vouch reads (version, runs[].tool.driver.name, results[].message.text, levels,
 * region line numbers); returns the problems (empty: fine).
 */
export function sarifProblems(doc: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(doc)) return ['not a JSON object'];
  if (doc['version'] !== SARIF_VERSION) problems.push(`version must be "2.1.0", got ${JSON.stringify(doc['version']) ?? 'nothing'}`);
  const runs = doc['runs'];
  if (!Array.isArray(runs)) return [...problems, 'runs must be an array'];
  runs.forEach((run: unknown, i) => {
    const at = `runs[${String(i)}]`;
    if (!isRecord(run)) return void problems.push(`${at} must be an object`);
    const tool = run['tool'];
    const driver = isRecord(tool) ? tool['driver'] : undefined;
    if (!isRecord(driver) || typeof driver['name'] !== 'string' || driver['name'] === '') problems.push(`${at}.tool.driver.name is required`);
    const results = run['results'];
    if (results === undefined) return;
    if (!Array.isArray(results)) return void problems.push(`${at}.results must be an array`);
    results.forEach((r: unknown, j) => {
      const rat = `${at}.results[${String(j)}]`;
      if (!isRecord(r)) return void problems.push(`${rat} must be an object`);
      const message = r['message'];
      if (!isRecord(message) || (typeof message['text'] !== 'string' && typeof message['id'] !== 'string')) problems.push(`${rat}.message needs text or id`);
      if (r['level'] !== undefined && !['none', 'note', 'warning', 'error'].includes(r['level'] as string)) problems.push(`${rat}.level must be none, note, warning or error`);
      const locations = r['locations'];
      if (locations !== undefined && !Array.isArray(locations)) problems.push(`${rat}.locations must be an array`);
      for (const l of Array.isArray(locations) ? (locations as unknown[]) : []) {
        const physical = isRecord(l) ? l['physicalLocation'] : undefined;
        const region = isRecord(physical) ? physical['region'] : undefined;
        const line = isRecord(region) ? region['startLine'] : undefined;
        if (line !== undefined && (!Number.isInteger(line) || (line as number) < 1)) problems.push(`${rat}: region.startLine must be an integer >= 1`);
      }
    });
  });
  return problems;
}

/** Reads and checks a SARIF file another tool wrote; STAGE_INPUT_INVALID when it is missing or malformed. */
export async function readSarifFile(path: string, name = path): Promise<SarifLog> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new VouchError('STAGE_INPUT_INVALID', `SARIF file ${name} cannot be read: ${errorMessage(err)}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VouchError('STAGE_INPUT_INVALID', `SARIF file ${name} is not JSON: ${errorMessage(err)}`);
  }
  const problems = sarifProblems(doc);
  if (problems.length) throw new VouchError('STAGE_INPUT_INVALID', `SARIF file ${name} is not valid SARIF 2.1.0: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`);
  return doc as SarifLog;
}

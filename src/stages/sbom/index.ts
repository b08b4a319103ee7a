// Stage `sbom`: a CycloneDX 1.6 SBOM of the workspace's npm lockfile (validated before anything is written), its
// digest and path as results, and, given the base revision, what the change adds, removes and changes among the
// dependencies (a risk signal for the gate, not a failure here).
import { resolve, sep } from 'node:path';
import { CYCLONEDX_BOM } from '../../attest/predicates.ts';
import { VouchError } from '../../common/errors.ts';
import { sha256Hex } from '../../common/digest.ts';
import { evidence, outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { git, resolveCommit, runGit } from '../git.ts';
import { parseLockfile, readLockfile, type Lockfile } from './lockfile.ts';
import { buildSbomJson, validateSbomJson } from './sbom.ts';
import { parseSbom } from './read.ts';
import { diffSboms, type SbomDiff } from './diff.ts';

export const SBOM_FILE = 'sbom.cdx.json';

/** A path given as a param, inside the source workspace (a param must not point the stage elsewhere). */
export function insideSource(source: string, path: string, param: string): string {
  const full = resolve(source, path);
  if (full !== source && !full.startsWith(source + sep)) throw new VouchError('STAGE_USAGE', `--${param} ${path} is outside the source workspace`);
  return full;
}

/** The lockfile as the base revision has it; undefined when the base has none (a project new in this change). */
export async function lockfileAtBase(repo: string, base: string, lockfile: string): Promise<Lockfile | undefined> {
  const commit = await resolveCommit(repo, base);
  const spec = `${commit}:${lockfile}`;
  if ((await runGit(['cat-file', '-e', spec], { cwd: repo })).code !== 0) return undefined;
  const text = await git(['show', spec], { cwd: repo });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VouchError('LOCKFILE_INVALID', `${spec}: not JSON`, { cause: err, details: { path: spec } });
  }
  return parseLockfile(spec, doc);
}

/** The base revision's SBOM, built the same way (an empty one when the base has no lockfile). */
export async function baseSbomJson(repo: string, base: string, lockfile: string): Promise<string | undefined> {
  const lock = await lockfileAtBase(repo, base, lockfile);
  return lock === undefined ? undefined : buildSbomJson(lock);
}

const EMPTY = (source: string) => parseSbom(source, { bomFormat: 'CycloneDX', specVersion: '1.6', components: [] });

async function run(ctx: StageContext): Promise<StageOutcome> {
  const lockParam = ctx.params['lockfile'] ?? 'package-lock.json';
  const lockPath = insideSource(ctx.source, lockParam, 'lockfile');
  const lock = readLockfile(lockPath);
  const json = buildSbomJson(lock);
  await validateSbomJson(json, lockPath);
  const digest = sha256Hex(json);
  const relPath = `${ctx.reportDir.slice(ctx.source.length + 1)}/${SBOM_FILE}`;

  let diff: SbomDiff | undefined;
  const base = ctx.params['base-revision'] ?? '';
  if (base !== '') {
    const baseJson = await baseSbomJson(ctx.source, base, lockParam);
    const baseSbom = baseJson === undefined ? EMPTY(`${base}:${lockParam}`) : parseSbom(`${base}:${lockParam}`, JSON.parse(baseJson));
    diff = diffSboms(baseSbom, parseSbom(lockPath, JSON.parse(json)));
  }
  const note = `${String(lock.packages.length)} components` + (diff === undefined ? '' : `; against ${base}: ${String(diff.added.length)} added, ${String(diff.removed.length)} removed, ${String(diff.changed.length)} changed`);
  const reasons = diff === undefined ? [] : diff.added.map((a) => `new dependency ${a.name}@${a.versions.join(',')}`);
  ctx.log.info({ components: lock.packages.length, digest, path: relPath }, 'sbom written');
  // the BOM is the predicate (cosign's cyclonedx type): the same bytes as SBOM_DIGEST names
  evidence(ctx, 'SBOM_EVIDENCE', CYCLONEDX_BOM, json, { file: SBOM_FILE });
  return {
    results: {
      SBOM_DIGEST: `sha256:${digest}`,
      SBOM_PATH: relPath,
      TEST_OUTPUT: testOutput({ result: outcomeOf({ failures: 0, warnings: 0 }), namespace: 'sbom', successes: 1, failures: 0, warnings: 0, note, timestamp: ctx.now }),
    },
    gate: { passed: true, reasons },
    files: diff === undefined ? {} : { 'diff.json': JSON.stringify(diff, null, 2) + '\n' },
    report: { lockfile: lockParam, components: lock.packages.length, sbom: { path: relPath, digest: `sha256:${digest}` }, ...(diff === undefined ? {} : { diff }) },
  };
}

export const sbomStage: Stage = {
  name: 'sbom',
  description: 'CycloneDX 1.6 SBOM of the npm lockfile, schema-validated; with --base-revision, the dependency diff',
  params: [
    { name: 'lockfile', description: 'package-lock.json (v2/v3) relative to the source workspace', default: 'package-lock.json' },
    { name: 'base-revision', description: 'the base commit: its lockfile is the SBOM diff is against; empty for none', default: '' },
  ],
  results: [
    { name: 'SBOM_DIGEST', description: 'sha256:<hex> of the SBOM file' },
    { name: 'SBOM_PATH', description: 'the SBOM file, relative to the source workspace' },
    { name: 'TEST_OUTPUT', description: 'Verdict in the Konflux TEST_OUTPUT convention' },
    { name: 'SBOM_EVIDENCE', description: 'the SBOM for the sidecar: {predicateType, uri, digest} of the SBOM file' },
  ],
  run,
};

// Stage `build`: the reproducible build. The base revision's policy (`build` section) names the build command, the
// files it outputs and optionally a Containerfile. The head commit's tree is built twice, each time in a fresh copy
// in its own sandbox, with as much varied as we can vary from outside: working directory (path and depth), time
// zone, locale, umask, hostname, user name, environment noise, and the clock (the second build starts at least a
// second after the first); SOURCE_DATE_EPOCH is the head commit's time in both. Every output's sha256 must agree
// (and the image's manifest digest); otherwise the gate fails naming what differs (the members of an archive or
// layer, and diffoscope's report where it is installed). Only a reproducible result is published: the file artifact
// as a Chains `ARTIFACT_OUTPUTS` object result, the image pushed and recorded as `IMAGE_URL`/`IMAGE_DIGEST`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, globSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VouchError } from '../../common/errors.ts';
import { outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { git, policyAtBase, resolveCommit } from '../git.ts';
import { compareOutputs, type OutputDifference } from './compare.ts';
import { buildImage, diffImages, pushImage, type BuiltImage } from './image.ts';
import { BUILD_PATH, availableIsolation, runSandboxed, type Isolation } from './sandbox.ts';

/** How the two builds differ from each other (besides the moment they run). */
interface Variant {
  label: 'first' | 'second';
  /** the build's own directory, relative to the scratch directory: different names and depths */
  dir: string;
  /** the tree inside it */
  tree: string;
  tz: string;
  lang: string;
  umask: number;
  hostname: string;
  user: string;
}

const VARIANTS: readonly [Variant, Variant] = [
  { label: 'first', dir: 'a', tree: 'src', tz: 'UTC', lang: 'C.UTF-8', umask: 0o022, hostname: 'vouch-build-a', user: 'builder' },
  { label: 'second', dir: 'second-build/nested/deeper', tree: 'checkout-of-the-tree', tz: 'Pacific/Chatham', lang: 'C', umask: 0o002, hostname: 'vouch-build-second', user: 'another-builder' },
];

interface BuildRun {
  variant: Variant;
  work: string;
  tree: string;
  startedAt: Date;
  /** output path (relative to the tree) -> absolute path */
  outputs: Map<string, string>;
  image?: BuiltImage;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The head commit's tree, exactly as committed (`git archive`), streamed into `tar -x` in `dir`. */
async function extractTree(repo: string, commit: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const env = { PATH: process.env['PATH'] ?? BUILD_PATH, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: dir };
  const tar = spawn('tar', ['-x', '-C', dir], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  const archive = spawn('git', ['-c', 'safe.directory=*', 'archive', '--format=tar', commit], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // a tar that dies early closes the pipe: its exit status reports that, not an EPIPE crash here
  tar.stdin.on('error', () => undefined);
  archive.stdout.pipe(tar.stdin);
  const finished = (child: ChildProcess, name: string): Promise<void> => {
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    return new Promise((resolvePromise, reject) => {
      child.on('error', (e) => {
        reject(new VouchError('STAGE_TOOL_FAILED', `cannot run ${name}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code) => {
        if (code === 0) resolvePromise();
        else reject(new VouchError('STAGE_TOOL_FAILED', `${name} failed extracting the tree of ${commit} (exit ${String(code)}): ${stderr.trim()}`));
      });
    });
  };
  await Promise.all([finished(archive, 'git archive'), finished(tar, 'tar')]);
}

/**
 * A regular file inside the tree, never through a symbolic link: the stage reads outputs with more access than the
 * build had, so a link the build planted (dist/app.tgz -> ~/.ssh/id_ed25519) must not copy a host file into the report.
 */
function isOutputFile(tree: string, rel: string): boolean {
  const path = join(tree, rel);
  const st = lstatSync(path);
  if (st.isSymbolicLink()) throw new VouchError('STAGE_INPUT_INVALID', `build output ${rel} is a symbolic link; outputs must be regular files inside the tree`);
  if (!st.isFile()) return false;
  if (!realpathSync(path).startsWith(realpathSync(tree) + sep)) throw new VouchError('STAGE_INPUT_INVALID', `build output ${rel} lies outside the tree (through a linked directory)`);
  return true;
}

/** Files matching the output globs in a build's tree; a glob matching nothing is an error naming it. */
function collectOutputs(tree: string, globs: readonly string[], label: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pattern of globs) {
    const matches = globSync(pattern, { cwd: tree }).filter((p) => isOutputFile(tree, p)).sort();
    if (matches.length === 0) throw new VouchError('BUILD_OUTPUT_MISSING', `the ${label} build wrote no file matching build.outputs "${pattern}"`);
    for (const m of matches) out.set(m, join(tree, m));
  }
  return out;
}

function commandError(label: string, r: { code: number | null; signal: string | null; timedOut: boolean; output: string }, timeout: number): VouchError {
  const why = r.timedOut ? `stopped after ${String(timeout)} s` : r.signal !== null ? `killed by ${r.signal}` : `exit ${String(r.code)}`;
  return new VouchError('BUILD_COMMAND_FAILED', `the build command failed in the ${label} build (${why}): ${r.output.trim().split('\n').slice(-10).join(' | ')}`, { details: { build: label } });
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const base = ctx.params['base-revision'] || undefined;
  const head = await resolveCommit(ctx.source, ctx.params['head-revision'] || 'HEAD');
  const { policy, source: policySource } = await policyAtBase(ctx.source, base === undefined ? undefined : await resolveCommit(ctx.source, base));
  const b = policy.build;
  const command = ctx.params['command'] || b.command;
  const imageRef = ctx.params['image'] ?? '';
  if (command === '' && b.containerfile === '') throw new VouchError('STAGE_USAGE', `nothing to build: set build.command (and build.outputs) or build.containerfile in ${policySource}, or pass --command`);
  if (b.outputs.length === 0 && b.containerfile === '') throw new VouchError('BUILD_OUTPUT_MISSING', `no outputs to compare: set build.outputs (globs of the files the build writes) or build.containerfile in ${policySource}`);
  if (b.containerfile !== '' && imageRef === '') throw new VouchError('STAGE_USAGE', `${policySource} builds an image (build.containerfile): --image (the repository to push it to) is required`);
  if (imageRef !== '' && (/^[a-z]+:\/\//.test(imageRef) || imageRef.includes('@'))) throw new VouchError('STAGE_USAGE', `--image ${imageRef}: give a repository reference (registry/name[:tag]), without scheme or digest`);
  const tlsParam = ctx.params['tls-verify'] ?? 'true';
  const diffoscopeParam = ctx.params['diffoscope'] ?? 'auto';
  if (tlsParam !== 'true' && tlsParam !== 'false') throw new VouchError('STAGE_USAGE', `--tls-verify ${tlsParam}: true or false`);
  if (diffoscopeParam !== 'auto' && diffoscopeParam !== 'never') throw new VouchError('STAGE_USAGE', `--diffoscope ${diffoscopeParam}: auto or never`);
  const tlsVerify = tlsParam === 'true';
  const useDiffoscope = diffoscopeParam === 'auto';
  const sourceDateEpoch = (await git(['log', '-1', '--format=%ct', head], { cwd: ctx.source })).trim();
  const isolation: Isolation = availableIsolation();
  if (isolation === 'process') ctx.log.warn('bubblewrap cannot create namespaces here (already inside a step sandbox?): the two builds run as plain processes in separate directories, without their own hostname');

  const scratch = mkdtempSync(join(tmpdir(), 'vouch-build-'));
  try {
    const runs: BuildRun[] = [];
    for (const variant of VARIANTS) {
      // the clock: each build starts at least a second after the one before, so second-resolution timestamps differ
      const previous = runs.at(-1);
      if (previous !== undefined) await sleep(Math.max(0, 1100 - (Date.now() - previous.startedAt.getTime())));
      const work = join(scratch, variant.dir);
      const tree = join(work, variant.tree);
      for (const d of ['home', 'tmp']) mkdirSync(join(work, d), { recursive: true });
      await extractTree(ctx.source, head, tree);
      const env: Record<string, string> = {
        PATH: BUILD_PATH,
        HOME: join(work, 'home'),
        TMPDIR: join(work, 'tmp'),
        USER: variant.user,
        LOGNAME: variant.user,
        TZ: variant.tz,
        LANG: variant.lang,
        LC_ALL: variant.lang,
        SOURCE_DATE_EPOCH: sourceDateEpoch,
        // noise a build must not pick up
        VOUCH_BUILD_NOISE: randomBytes(8).toString('hex'),
      };
      const startedAt = new Date();
      if (command !== '') {
        const r = await runSandboxed({ argv: ['/bin/sh', '-c', command], env, cwd: tree, writable: work, network: false, keepCaps: false, hostname: variant.hostname, umask: variant.umask, timeoutSeconds: b['timeout-seconds'], isolation });
        if (r.code !== 0) throw commandError(variant.label, r, b['timeout-seconds']);
        ctx.log.info({ build: variant.label, dir: tree }, `${variant.label} build done`);
      }
      const outputs = b.outputs.length > 0 ? collectOutputs(tree, b.outputs, variant.label) : new Map<string, string>();
      const buildRun: BuildRun = { variant, work, tree, startedAt, outputs };
      if (b.containerfile !== '') {
        buildRun.image = await buildImage({ work, tree }, b.containerfile, b.context, { isolation, timeoutSeconds: b['timeout-seconds'], hostname: variant.hostname, env: { TZ: variant.tz, SOURCE_DATE_EPOCH: sourceDateEpoch } });
      }
      runs.push(buildRun);
    }
    const [first, second] = runs as [BuildRun, BuildRun];

    // compare every output, by the union of both builds' names
    const names = [...new Set([...first.outputs.keys(), ...second.outputs.keys()])].sort();
    const outputs: { path: string; sha256: Record<'first' | 'second', string | null>; identical: boolean }[] = [];
    const differences: OutputDifference[] = [];
    for (const name of names) {
      const a = first.outputs.get(name);
      const bPath = second.outputs.get(name);
      const da = a === undefined ? null : sha256File(a);
      const db = bPath === undefined ? null : sha256File(bPath);
      const identical = da !== null && da === db;
      outputs.push({ path: name, sha256: { first: da, second: db }, identical });
      if (identical) continue;
      if (a === undefined || bPath === undefined) differences.push({ output: name, differences: [`written only by the ${a === undefined ? 'second' : 'first'} build`] });
      else differences.push(compareOutputs(name, a, bPath, useDiffoscope));
    }
    let image: { digest: Record<'first' | 'second', string>; identical: boolean; differences: string[]; url?: string; pushedDigest?: string } | undefined;
    if (first.image !== undefined && second.image !== undefined) {
      const identical = first.image.digest === second.image.digest;
      image = { digest: { first: first.image.digest, second: second.image.digest }, identical, differences: identical ? [] : diffImages(first.image.layout, second.image.layout) };
    }
    const reproducible = differences.length === 0 && (image === undefined || image.identical);

    const reasons: string[] = [];
    for (const d of differences) reasons.push(`not reproducible: ${d.output}: ${d.differences.slice(0, 5).join('; ')}${d.differences.length > 5 ? `; and ${String(d.differences.length - 5)} more` : ''}`);
    if (image !== undefined && !image.identical) reasons.push(`image not reproducible (${image.digest.first} vs ${image.digest.second}): ${image.differences.slice(0, 5).join('; ')}`);

    const results: Record<string, string> = {};
    const files: Record<string, string | Uint8Array> = {};
    // what the first build wrote is kept, and, when they differ, the second build's copy beside it
    for (const [name, path] of first.outputs) files[`outputs/${name}`] = readFileSync(path);
    for (const d of differences) {
      const path = second.outputs.get(d.output);
      if (path !== undefined) files[`second-build/${d.output}`] = readFileSync(path);
      if (d.diffoscope !== undefined) files[`diffoscope/${d.output}.txt`] = d.diffoscope;
    }
    // the source this build really built: after an agent run that is the agent's commit, not the cloned one, so the
    // provenance must name it (Chains reads CHAINS-GIT_* from any task's results; the Pipeline also lifts these two)
    if (ctx.params['repo-url']) results['CHAINS-GIT_URL'] = ctx.params['repo-url'];
    results['CHAINS-GIT_COMMIT'] = head;
    let artifact: { path: string; uri: string; digest: string } | undefined;
    if (reproducible && b.outputs.length > 0) {
      const firstGlob = globSync(b.outputs[0]!, { cwd: first.tree }).filter((p) => first.outputs.has(p));
      if (firstGlob.length !== 1) throw new VouchError('BUILD_OUTPUT_MISSING', `the artifact (the first of build.outputs, "${b.outputs[0]!}") must be exactly one file; it matched ${String(firstGlob.length)}: ${firstGlob.slice(0, 5).join(', ')}`);
      const path = firstGlob[0]!;
      artifact = { path, uri: `file://${join(ctx.reportDir, 'outputs', path)}`, digest: `sha256:${sha256File(join(first.tree, path))}` };
      // Chains' type hint (slsa/v2alpha4 makes it a subject only with isBuildArtifact "true")
      results['ARTIFACT_OUTPUTS'] = JSON.stringify({ uri: artifact.uri, digest: artifact.digest, isBuildArtifact: 'true' });
    }
    if (reproducible && image !== undefined) {
      // only an image both builds agree on is published
      const pushed = await pushImage({ work: first.work, tree: first.tree }, imageRef, { isolation, timeoutSeconds: b['timeout-seconds'], tlsVerify });
      image.url = imageRef;
      image.pushedDigest = pushed;
      // the registry copy is recompressed from the same storage; say so if that ever changes the manifest
      if (pushed !== image.digest.first) ctx.log.warn({ pushed, compared: image.digest.first }, 'the pushed manifest digest differs from the compared OCI layout digest (layer compression): IMAGE_DIGEST is the pushed one');
      results['IMAGE_URL'] = imageRef;
      results['IMAGE_DIGEST'] = pushed;
      ctx.log.info({ image: imageRef, digest: pushed }, 'image pushed');
    }
    const compared = outputs.length + (image === undefined ? 0 : 1);
    const failures = differences.length + (image !== undefined && !image.identical ? 1 : 0);
    const warnings = isolation === 'process' ? 1 : 0;
    results['TEST_OUTPUT'] = testOutput({
      result: outcomeOf({ failures, warnings }),
      namespace: 'build',
      successes: compared - failures,
      failures,
      warnings,
      note: (reproducible ? `reproducible: ${String(compared)} output(s) identical in two builds` : reasons.join('; ')).slice(0, 900) + (isolation === 'process' ? ' (builds not namespace-isolated)' : ''),
      timestamp: ctx.now,
    });
    return {
      results,
      gate: { passed: reproducible, reasons },
      files,
      report: {
        policy: policySource,
        head,
        command,
        isolation,
        sourceDateEpoch: Number(sourceDateEpoch),
        builds: runs.map((r) => ({ build: r.variant.label, tree: r.tree, startedAt: r.startedAt.toISOString(), tz: r.variant.tz, lang: r.variant.lang, umask: r.variant.umask.toString(8).padStart(4, '0'), hostname: isolation === 'bwrap' ? r.variant.hostname : null, user: r.variant.user })),
        outputs,
        differences,
        ...(artifact === undefined ? {} : { artifact }),
        ...(image === undefined ? {} : { image }),
      },
    };
  } finally {
    removeScratch(scratch);
  }
}

/**
 * Removes the builds' scratch directory. buildah's storage, written by root of a nested user namespace, keeps
 * directories without write permission (image layers, its own locks); they are ours outside (that root is our uid),
 * so they are made writable rather than leaving the scratch behind. Links are not followed.
 */
function removeScratch(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
  }
  const open = (d: string): void => {
    chmodSync(d, 0o700);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(join(d, e.name));
  };
  open(dir);
  rmSync(dir, { recursive: true, force: true });
}

export const buildStage: Stage = {
  name: 'build',
  description: 'reproducible build: the policy\'s build runs twice in separate sandboxes with varied paths, time, locale and environment; every output (and the image) must be byte-identical',
  params: [
    { name: 'base-revision', description: 'the base commit: its .vouch/policy.yaml (section build) says what to build; empty: the default policy', default: '' },
    { name: 'head-revision', description: 'the commit whose tree is built', default: 'HEAD' },
    { name: 'command', description: 'build command (sh -c) instead of the policy\'s build.command; empty for the policy\'s', default: '' },
    { name: 'repo-url', description: "the repository's URL as provenance names it (the clone task's CHAINS-GIT_URL); empty: not recorded", default: '' },
    { name: 'image', description: 'repository (registry/name[:tag]) the image is pushed to when build.containerfile is set', default: '' },
    { name: 'tls-verify', description: '"false" to push over plain HTTP (a registry on loopback)', default: 'true' },
    { name: 'diffoscope', description: '"auto": explain differences with diffoscope when installed; "never": the file-level account only', default: 'auto' },
  ],
  results: [
    { name: 'TEST_OUTPUT', description: 'Verdict in the Konflux TEST_OUTPUT convention' },
    { name: 'ARTIFACT_OUTPUTS', description: 'the file artifact (first of build.outputs) as a Chains type hint {uri, digest, isBuildArtifact}' },
    { name: 'IMAGE_URL', description: 'the image reference pushed (Chains type hint)' },
    { name: 'IMAGE_DIGEST', description: 'sha256:<hex> of the pushed image manifest (Chains type hint)' },
    { name: 'CHAINS-GIT_URL', description: 'the repository built (the repo-url param), for Chains provenance' },
    { name: 'CHAINS-GIT_COMMIT', description: 'the commit built (head-revision resolved), for Chains provenance' },
  ],
  run,
};

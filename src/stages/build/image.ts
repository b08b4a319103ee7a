// The OCI image of a build, with buildah (Debian package): vfs storage under the build's own directory (never
// /var/lib/containers), `--timestamp 0` so creation times do not vary, chroot isolation. Each build's image is
// written to a local OCI layout to be compared; the first build's image is pushed only when both agree.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError } from '../../common/errors.ts';
import { BUILD_PATH, runSandboxed, type Isolation } from './sandbox.ts';
import { describeDifference } from './compare.ts';

const LOCAL_NAME = 'localhost/vouch-build:latest';

export interface ImageBuildDirs {
  /** the build's own directory (writable in its sandbox) */
  work: string;
  /** the tree the build ran in */
  tree: string;
}

function storageArgs(work: string): string[] {
  return ['--root', join(work, 'containers/storage'), '--runroot', join(work, 'containers/run'), '--storage-driver', 'vfs'];
}

function buildahEnv(work: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: BUILD_PATH, HOME: join(work, 'home'), TMPDIR: join(work, 'tmp'), BUILDAH_ISOLATION: 'chroot', ...extra };
}

async function buildah(args: string[], o: { work: string; cwd: string; network: boolean; isolation: Isolation; timeoutSeconds: number; hostname: string; env?: Record<string, string> }, what: string, code: 'BUILD_IMAGE_FAILED' | 'BUILD_PUSH_FAILED'): Promise<string> {
  const r = await runSandboxed({
    argv: ['buildah', ...storageArgs(o.work), ...args],
    env: buildahEnv(o.work, o.env),
    cwd: o.cwd,
    writable: o.work,
    network: o.network,
    keepCaps: true,
    hostname: o.hostname,
    umask: 0o022,
    timeoutSeconds: o.timeoutSeconds,
    isolation: o.isolation,
  });
  if (r.code === 127 && /buildah: (not found|No such file)/.test(r.output)) {
    throw new VouchError('STAGE_TOOL_FAILED', `${what}: buildah is not installed (Debian: apt-get install buildah)`);
  }
  if (r.code !== 0) {
    const why = r.timedOut ? `stopped after ${String(o.timeoutSeconds)} s` : `exit ${String(r.code ?? r.signal)}`;
    const hint = o.isolation === 'process' && /setgroups|uid_map|user namespace|operation not permitted/i.test(r.output) ? ' (buildah needs a user namespace with capabilities in it: run the build stage where bubblewrap may create one, under vouch run as a non-root uid (securityContext.runAsUser, as tasks/build.yaml sets); see docs/build.md)' : '';
    throw new VouchError(code, `${what} failed (${why})${hint}: ${r.output.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return r.output;
}

export interface BuiltImage {
  /** the local OCI layout the image was written to */
  layout: string;
  /** sha256:<hex> of the manifest in that layout */
  digest: string;
}

/** Builds the image of one build's tree and writes it to `<work>/oci` (an OCI layout). */
export async function buildImage(dirs: ImageBuildDirs, containerfile: string, context: string, o: { isolation: Isolation; timeoutSeconds: number; hostname: string; env: Record<string, string> }): Promise<BuiltImage> {
  const file = join(dirs.tree, containerfile);
  if (!existsSync(file)) throw new VouchError('BUILD_OUTPUT_MISSING', `the Containerfile ${containerfile} (build.containerfile) is not in the tree`);
  const common = { work: dirs.work, cwd: dirs.tree, isolation: o.isolation, timeoutSeconds: o.timeoutSeconds, hostname: o.hostname, env: o.env };
  // network only to pull base images; the build's own RUN steps are chroot-isolated by buildah
  await buildah(['bud', '--quiet', '--timestamp', '0', '--layers=false', '--pull=missing', '-f', file, '-t', LOCAL_NAME, join(dirs.tree, context)], { ...common, network: true }, 'buildah bud', 'BUILD_IMAGE_FAILED');
  const layout = join(dirs.work, 'oci');
  const digestFile = join(dirs.work, 'oci.digest');
  await buildah(['push', '--quiet', '--format', 'oci', '--digestfile', digestFile, LOCAL_NAME, `oci:${layout}:latest`], { ...common, network: false }, 'buildah push to a local OCI layout', 'BUILD_IMAGE_FAILED');
  return { layout, digest: readFileSync(digestFile, 'utf8').trim() };
}

/** Pushes the image of one build to `reference` (docker://); returns the manifest digest the registry has. */
export async function pushImage(dirs: ImageBuildDirs, reference: string, o: { isolation: Isolation; timeoutSeconds: number; tlsVerify: boolean }): Promise<string> {
  const digestFile = join(dirs.work, 'push.digest');
  await buildah(
    ['push', '--quiet', '--retry', '0', '--format', 'oci', `--tls-verify=${String(o.tlsVerify)}`, '--digestfile', digestFile, LOCAL_NAME, `docker://${reference}`],
    { work: dirs.work, cwd: dirs.tree, isolation: o.isolation, timeoutSeconds: o.timeoutSeconds, hostname: 'push', network: true },
    `buildah push to ${reference}`,
    'BUILD_PUSH_FAILED',
  );
  return readFileSync(digestFile, 'utf8').trim();
}

interface Descriptor {
  digest: string;
  mediaType?: string;
}

function blob(layout: string, digest: string): Buffer {
  const [alg, hex] = digest.split(':');
  return readFileSync(join(layout, 'blobs', alg ?? 'sha256', hex ?? ''));
}

function manifestOf(layout: string): { config: Descriptor; layers: Descriptor[] } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const first = index.manifests[0];
  if (first === undefined) throw new VouchError('BUILD_IMAGE_FAILED', `${layout}: the OCI layout has no manifest`);
  return JSON.parse(blob(layout, first.digest).toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
}

/** Which parts of two images differ: config fields, and the files inside each differing layer. */
export function diffImages(a: string, b: string): string[] {
  const ma = manifestOf(a);
  const mb = manifestOf(b);
  const out: string[] = [];
  if (ma.config.digest !== mb.config.digest) {
    const ca = JSON.parse(blob(a, ma.config.digest).toString('utf8')) as Record<string, unknown>;
    const cb = JSON.parse(blob(b, mb.config.digest).toString('utf8')) as Record<string, unknown>;
    for (const key of [...new Set([...Object.keys(ca), ...Object.keys(cb)])].sort()) {
      // rootfs differs whenever a layer does; the layer lines below say how
      if (key !== 'rootfs' && JSON.stringify(ca[key]) !== JSON.stringify(cb[key])) out.push(`image config: ${key} differs`);
    }
  }
  if (ma.layers.length !== mb.layers.length) out.push(`${String(ma.layers.length)} vs ${String(mb.layers.length)} layers`);
  for (let i = 0; i < Math.min(ma.layers.length, mb.layers.length); i++) {
    const la = ma.layers[i]!;
    const lb = mb.layers[i]!;
    if (la.digest === lb.digest) continue;
    for (const line of describeDifference(blob(a, la.digest), blob(b, lb.digest)).differences) out.push(`layer ${String(i)}: ${line}`);
  }
  return out;
}

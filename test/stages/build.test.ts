// The build stage for real: npm projects built twice by `vouch task build` in bubblewrap sandboxes, a
// deterministic build passing with identical digests and builds that embed a timestamp or random bytes failing with
// the differing file named; the image path with buildah pushing to a real docker-registry on loopback.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_PATH, availableIsolation, runSandboxed } from '../../src/stages/build/sandbox.ts';
import { subjectsFromResults, type ProvenanceWarning } from '../../src/attest/typehints.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { TestRegistry, freePort } from '../store/registry-harness.ts';
import { commit, filesUnder, git, initRepo, requireTool, runTaskInProcess } from './helpers.ts';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const HAS_DIFFOSCOPE = spawnSync('sh', ['-c', 'command -v diffoscope'], { stdio: 'ignore' }).status === 0;

interface BuildReport {
  passed: boolean;
  reasons: string[];
  isolation: string;
  sourceDateEpoch: number;
  builds: { tree: string; tz: string; umask: string }[];
  outputs: { path: string; sha256: { first: string | null; second: string | null }; identical: boolean }[];
  differences: { output: string; differences: string[]; members?: { name: string; what: string[] }[]; diffoscope?: string }[];
  image?: { digest: { first: string; second: string }; identical: boolean; differences: string[]; pushedDigest?: string };
}

/** A small npm package whose build is `npm pack` after `prepare` (a shell snippet), with the given build policy. */
function project(dir: string, prepare: string, policyExtra = '', files: Record<string, string> = {}): { repo: string; head: string } {
  const repo = initRepo(dir);
  const build = `mkdir -p dist && ${prepare}npm pack --silent --pack-destination dist >/dev/null && chmod 0644 dist/*.tgz`;
  const head = commit(
    repo,
    {
      'package.json': JSON.stringify({ name: 'demo', version: '1.0.0', files: ['src'] }, null, 2) + '\n',
      'src/index.js': 'export const answer = 42;\n',
      '.vouch/policy.yaml': `version: 1\nbuild:\n  command: ${JSON.stringify(build)}\n  outputs: [dist/*.tgz]\n${policyExtra}`,
      ...files,
    },
    'demo package',
  );
  return { repo, head };
}

describe('vouch task build (reproducible build)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-build-');
  let n = 0;

  before(() => {
    requireTool('bwrap');
    requireTool('git');
    // the builds see only the system PATH, not node_modules/.bin
    if (spawnSync('sh', ['-c', 'command -v npm'], { env: { PATH: BUILD_PATH } }).status !== 0) throw new Error(`npm must be on ${BUILD_PATH} for the build tests (Debian: apt-get install npm; .ci/run installs it)`);
  });

  async function build(repo: string, extra: string[] = []): Promise<{ code: number; stderr: string; stdout: string; results: Record<string, string>; report: BuildReport | undefined }> {
    const out = join(tmp(), `results-${String(n++)}`);
    mkdirSync(out);
    const names = ['TEST_OUTPUT', 'ARTIFACT_OUTPUTS', 'IMAGE_URL', 'IMAGE_DIGEST'];
    const r = await runTaskInProcess('build', ['--source', repo, '--base-revision', 'HEAD', ...extra, ...names.flatMap((name) => ['--result', `${name}=${join(out, name)}`])]);
    const results: Record<string, string> = {};
    for (const name of names) if (existsSync(join(out, name))) results[name] = readFileSync(join(out, name), 'utf8');
    const reportFile = join(repo, '.vouch/reports/build/report.json');
    return { ...r, results, report: existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as BuildReport) : undefined };
  }

  it('a deterministic project: both builds yield the same digest; the artifact is a Chains ARTIFACT_OUTPUTS subject', async () => {
    // the build embeds SOURCE_DATE_EPOCH (the head commit's time): reproducible, and proof that it is set
    const { repo } = project(join(tmp(), 'good'), 'date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ > src/built-at.txt && ');
    const r = await build(repo);
    expect(r.code, r.stderr).to.equal(0);
    const report = r.report!;
    expect(report.isolation).to.equal('bwrap');
    // the two builds really ran in different places and time zones, with different umasks
    expect(report.builds[0]!.tree).to.not.equal(report.builds[1]!.tree);
    expect(report.builds.map((b) => b.tz)).to.deep.equal(['UTC', 'Pacific/Chatham']);
    expect(report.builds.map((b) => b.umask)).to.deep.equal(['0022', '0002']);
    expect(report.outputs).to.have.length(1);
    const out = report.outputs[0]!;
    expect(out.path).to.equal('dist/demo-1.0.0.tgz');
    expect(out.sha256.first).to.match(/^[0-9a-f]{64}$/).and.equal(out.sha256.second);

    const artifact = JSON.parse(r.results['ARTIFACT_OUTPUTS']!) as { uri: string; digest: string; isBuildArtifact: string };
    expect(Object.keys(artifact).sort()).to.deep.equal(['digest', 'isBuildArtifact', 'uri']);
    expect(artifact.isBuildArtifact).to.equal('true');
    expect(artifact.digest).to.equal(`sha256:${out.sha256.first!}`);
    const kept = readFileSync(fileURLToPath(artifact.uri));
    expect(sha256(kept)).to.equal(out.sha256.first);
    // the tarball holds the commit time the build was given
    const stamp = execFileSync('tar', ['-xzOf', '-', 'package/src/built-at.txt'], { input: kept }).toString('utf8').trim();
    const commitTime = Number(git(repo, ['log', '-1', '--format=%ct']).trim());
    expect(report.sourceDateEpoch).to.equal(commitTime);
    expect(Date.parse(stamp) / 1000).to.equal(commitTime);

    // Chains reads it as a subject, exactly as the provenance builder will
    const warnings: ProvenanceWarning[] = [];
    const subjects = subjectsFromResults([{ name: 'ARTIFACT_OUTPUTS', value: artifact }], 'TaskRun build', (code, where, message) => warnings.push({ code, where, message }));
    expect(warnings).to.deep.equal([]);
    expect(subjects).to.deep.equal([{ name: artifact.uri, digest: { sha256: out.sha256.first } }]);
    expect(JSON.parse(r.results['TEST_OUTPUT']!)).to.include({ result: 'SUCCESS', successes: 1, failures: 0 });
    expect(r.results).to.not.have.property('IMAGE_DIGEST');
  });

  it('a build that embeds the time fails, naming the differing file inside the tarball (file-level diff)', async () => {
    const { repo } = project(join(tmp(), 'timestamp'), 'date > src/stamp.txt && ');
    const r = await build(repo, ['--diffoscope', 'never']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('not reproducible: dist/demo-1.0.0.tgz: package/src/stamp.txt: content');
    const report = r.report!;
    expect(report.passed).to.equal(false);
    expect(report.differences).to.have.length(1);
    expect(report.differences[0]!.members).to.deep.equal([{ name: 'package/src/stamp.txt', what: [report.differences[0]!.members![0]!.what[0]!] }]);
    expect(report.differences[0]).to.not.have.property('diffoscope');
    // both copies are kept for inspection; no artifact is claimed
    expect(existsSync(join(repo, '.vouch/reports/build/outputs/dist/demo-1.0.0.tgz'))).to.equal(true);
    expect(existsSync(join(repo, '.vouch/reports/build/second-build/dist/demo-1.0.0.tgz'))).to.equal(true);
    expect(r.results).to.not.have.property('ARTIFACT_OUTPUTS');
    expect(JSON.parse(r.results['TEST_OUTPUT']!)).to.include({ result: 'FAILURE', failures: 1 });
  });

  it('random bytes in an output fail too; with diffoscope installed its report is kept beside the file-level one', async () => {
    const { repo } = project(join(tmp(), 'random'), '', '', {});
    // a second output: a plain file of random bytes
    commit(repo, { '.vouch/policy.yaml': 'version: 1\nbuild:\n  command: "mkdir -p dist && head -c 32 /dev/urandom > dist/seed.bin && npm pack --silent --pack-destination dist >/dev/null && chmod 0644 dist/*.tgz"\n  outputs: [dist/*.tgz, dist/seed.bin]\n' }, 'random seed');
    const r = await build(repo);
    expect(r.code).to.equal(1);
    const report = r.report!;
    expect(report.outputs.map((o) => [o.path, o.identical])).to.deep.equal([['dist/demo-1.0.0.tgz', true], ['dist/seed.bin', false]]);
    expect(report.reasons).to.have.length(1);
    expect(report.reasons[0]).to.match(/^not reproducible: dist\/seed\.bin: 32 vs 32 bytes, first difference at byte \d+$/);
    const diffoscopeFile = join(repo, '.vouch/reports/build/diffoscope/dist/seed.bin.txt');
    if (HAS_DIFFOSCOPE) {
      expect(report.differences[0]!.diffoscope).to.include('seed.bin');
      expect(readFileSync(diffoscopeFile, 'utf8')).to.equal(report.differences[0]!.diffoscope);
    } else {
      expect(existsSync(diffoscopeFile)).to.equal(false);
    }
  });

  it('each varied property is really varied: a build that records it is caught', async () => {
    const probes: Record<string, string> = {
      'working directory': 'pwd',
      hostname: 'cat /proc/sys/kernel/hostname',
      'time zone': 'date +%z',
      umask: 'umask',
      locale: 'echo $LC_ALL',
      user: 'echo $USER',
      'environment noise': 'env | sort',
      clock: 'date +%s',
    };
    for (const [what, probe] of Object.entries(probes)) {
      const repo = initRepo(join(tmp(), `probe-${String(n++)}`));
      commit(repo, { '.vouch/policy.yaml': `version: 1\nbuild:\n  command: ${JSON.stringify(`mkdir -p out && ${probe} > out/probe.txt`)}\n  outputs: [out/probe.txt]\n` }, what);
      const r = await build(repo, ['--diffoscope', 'never']);
      expect(r.code, `${what}: ${r.stderr}`).to.equal(1);
      expect(r.report?.reasons, what).to.have.length(1);
      expect(r.report?.reasons[0], what).to.match(/^not reproducible: out\/probe\.txt: /);
    }
  });

  describe('bad input: a clear error and nothing written', () => {
    async function expectNothingWritten(repo: string, extra: string[], code: number, message: RegExp): Promise<void> {
      const r = await build(repo, extra);
      expect(r.code, r.stderr).to.equal(code);
      expect(r.stderr).to.match(message);
      expect(r.results).to.deep.equal({});
      expect(filesUnder(join(repo, '.vouch/reports'))).to.deep.equal([]);
    }

    it('the build command fails', async () => {
      const { repo } = project(join(tmp(), 'broken'), 'echo "compile error in src/index.js" >&2 && exit 3 && ');
      await expectNothingWritten(repo, [], 1, /the build command failed in the first build \(exit 3\): compile error in src\/index\.js \[BUILD_COMMAND_FAILED\]/);
    });

    it('an output glob matches nothing', async () => {
      const { repo } = project(join(tmp(), 'no-output'), '', '', {});
      commit(repo, { '.vouch/policy.yaml': 'version: 1\nbuild:\n  command: "true"\n  outputs: [dist/*.tgz]\n' }, 'builds nothing');
      await expectNothingWritten(repo, [], 2, /the first build wrote no file matching build\.outputs "dist\/\*\.tgz" \[BUILD_OUTPUT_MISSING\]/);
    });

    it('no outputs configured, or no build at all, or an output outside the tree', async () => {
      const repo = initRepo(join(tmp(), 'unconfigured'));
      commit(repo, { '.vouch/policy.yaml': 'version: 1\nbuild:\n  command: "make"\n' }, 'no outputs');
      await expectNothingWritten(repo, [], 2, /no outputs to compare: set build\.outputs/);
      commit(repo, { '.vouch/policy.yaml': 'version: 1\n' }, 'no build');
      await expectNothingWritten(repo, [], 2, /nothing to build/);
      commit(repo, { '.vouch/policy.yaml': 'version: 1\nbuild:\n  command: make\n  outputs: [../outside.tgz]\n' }, 'outside');
      await expectNothingWritten(repo, [], 2, /build\.outputs\[0\]: must be a relative path inside the tree \[POLICY_INVALID\]/);
    });

    it('a build past timeout-seconds is stopped with everything it started', async () => {
      const { repo } = project(join(tmp(), 'slow'), '', '', {});
      commit(repo, { '.vouch/policy.yaml': 'version: 1\nbuild:\n  command: "sleep 60 & sleep 60"\n  outputs: [dist/*.tgz]\n  timeout-seconds: 1\n' }, 'slow build');
      await expectNothingWritten(repo, [], 1, /the build command failed in the first build \(stopped after 1 s\)/);
      expect(spawnSync('pgrep', ['-f', 'sleep 60 & sleep 60']).status, 'no build process left').to.equal(1);
    });

    it('an output that is a symbolic link (or behind a linked directory) is refused: no host file reaches the report', async () => {
      const secretDir = mkdtempSync('/var/tmp/vouch-build-secret-');
      try {
        writeFileSync(join(secretDir, 'key.tgz'), 'PRIVATE KEY MATERIAL');
        const { repo } = project(join(tmp(), 'symlink'), '', '', {});
        commit(repo, { '.vouch/policy.yaml': `version: 1\nbuild:\n  command: "mkdir -p dist && ln -s ${secretDir}/key.tgz dist/app.tgz"\n  outputs: [dist/*.tgz]\n` }, 'link');
        await expectNothingWritten(repo, [], 2, /build output dist\/app\.tgz is a symbolic link/);
        commit(repo, { '.vouch/policy.yaml': `version: 1\nbuild:\n  command: "ln -s ${secretDir} dist"\n  outputs: [dist/*.tgz]\n` }, 'linked dir');
        await expectNothingWritten(repo, [], 2, /build output dist\/key\.tgz lies outside the tree/);
      } finally {
        rmSync(secretDir, { recursive: true, force: true });
      }
    });

    it('a Containerfile the tree does not have', async () => {
      const { repo } = project(join(tmp(), 'no-containerfile'), '', '  containerfile: Containerfile\n');
      await expectNothingWritten(repo, ['--image', '127.0.0.1:1/demo/app:1', '--tls-verify', 'false'], 2, /the Containerfile Containerfile \(build\.containerfile\) is not in the tree \[BUILD_OUTPUT_MISSING\]/);
    });

    it('a head revision that does not exist, or a bad flag value', async () => {
      const { repo } = project(join(tmp(), 'bad-flags'), '');
      await expectNothingWritten(repo, ['--head-revision', 'no-such-branch'], 2, /no-such-branch/);
      await expectNothingWritten(repo, ['--diffoscope', 'sometimes'], 2, /--diffoscope sometimes: auto or never/);
      await expectNothingWritten(repo, ['--image', 'https://registry.example/app'], 2, /without scheme or digest/);
    });

    it('an image build without --image', async () => {
      const { repo } = project(join(tmp(), 'no-image-ref'), '', '  containerfile: Containerfile\n', { Containerfile: 'FROM scratch\nCOPY src/ /app/\n' });
      await expectNothingWritten(repo, [], 2, /--image \(the repository to push it to\) is required/);
    });
  });

  it("buildah's capabilities are a nested namespace's: they cannot unmount hidden paths or make the host writable", async () => {
    const outside = mkdtempSync('/var/tmp/vouch-build-caps-');
    const work = join(tmp(), 'caps');
    mkdirSync(work);
    try {
      const script = `grep CapEff /proc/self/status; umount /root && echo UNMOUNTED; mount -o remount,rw,bind / && echo REMOUNTED; touch ${outside}/written && echo WROTE; touch ${work}/mine && echo OWN-DIR`;
      const r = await runSandboxed({ argv: ['/bin/sh', '-c', script], env: { PATH: BUILD_PATH }, cwd: work, writable: work, network: false, keepCaps: true, hostname: 'caps', umask: 0o022, timeoutSeconds: 30, isolation: availableIsolation() });
      expect(availableIsolation()).to.equal('bwrap');
      // buildah's capabilities are there...
      expect(r.output).to.match(/CapEff:\s*0*[1-9a-f][0-9a-f]*/);
      expect(r.output).to.include('OWN-DIR');
      // ...but a single bwrap that kept them would let its root undo every mount it made (these all succeeded then)
      expect(r.output).not.to.include('UNMOUNTED');
      expect(r.output).not.to.include('REMOUNTED');
      expect(r.output).not.to.include('WROTE');
      expect(existsSync(join(outside, 'written'))).to.equal(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  describe('OCI image with buildah, pushed to a real registry on loopback', () => {
    const registry = new TestRegistry();
    before(async function () {
      requireTool('buildah');
      await registry.start();
    });
    after(async () => {
      await registry.stop();
      registry.cleanup();
    });

    const containerfile = 'FROM scratch\nCOPY dist/ /app/\nCOPY src/ /app/src/\n';

    it('a reproducible image is pushed once; IMAGE_URL/IMAGE_DIGEST name exactly what the registry serves', async () => {
      const { repo } = project(join(tmp(), 'image'), '', '  containerfile: Containerfile\n', { Containerfile: containerfile });
      const ref = `${registry.host}/demo/app:1.0.0`;
      const r = await build(repo, ['--image', ref, '--tls-verify', 'false']);
      expect(r.code, r.stderr).to.equal(0);
      const report = r.report!;
      expect(report.image?.identical).to.equal(true);
      expect(report.image?.digest.first).to.equal(report.image?.digest.second);
      expect(r.results['IMAGE_URL']).to.equal(ref);
      const res = await fetch(`http://${registry.host}/v2/demo/app/manifests/1.0.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.status).to.equal(200);
      const manifest = Buffer.from(await res.arrayBuffer());
      expect(r.results['IMAGE_DIGEST']).to.equal(`sha256:${sha256(manifest)}`).and.equal(report.image?.digest.first);
      // --timestamp 0: the image says it was created at the epoch
      const { config } = JSON.parse(manifest.toString('utf8')) as { config: { digest: string } };
      const cfg = (await (await fetch(`http://${registry.host}/v2/demo/app/blobs/${config.digest}`)).json()) as { created: string };
      expect(cfg.created).to.equal('1970-01-01T00:00:00Z');
      const subjects = subjectsFromResults(
        [{ name: 'IMAGE_URL', value: r.results['IMAGE_URL'] }, { name: 'IMAGE_DIGEST', value: r.results['IMAGE_DIGEST'] }, { name: 'ARTIFACT_OUTPUTS', value: JSON.parse(r.results['ARTIFACT_OUTPUTS']!) }],
        'TaskRun build',
        () => undefined,
      );
      expect(subjects.map((s) => s.name)).to.include(`${registry.host}/demo/app`);
    });

    it('an image whose files depend on the umask fails naming the file and its modes, and nothing is pushed', async () => {
      // the build leaves dist/ with the umask's modes, which COPY carries into the layer
      const { repo } = project(join(tmp(), 'image-umask'), '', '  containerfile: Containerfile\n', { Containerfile: containerfile });
      commit(repo, { '.vouch/policy.yaml': 'version: 1\nbuild:\n  command: "mkdir -p dist && npm pack --silent --pack-destination dist >/dev/null"\n  outputs: [dist/*.tgz]\n  containerfile: Containerfile\n' }, 'no chmod');
      const ref = `${registry.host}/demo/umask:1`;
      const r = await build(repo, ['--image', ref, '--tls-verify', 'false', '--diffoscope', 'never']);
      expect(r.code).to.equal(1);
      expect(r.report?.image?.identical).to.equal(false);
      expect(r.report?.image?.differences).to.include('layer 0: app/demo-1.0.0.tgz: mode 100644 vs 100664');
      expect(r.stdout).to.include('image not reproducible');
      expect(r.results).to.not.have.property('IMAGE_DIGEST');
      expect((await fetch(`http://${registry.host}/v2/demo/umask/manifests/1`)).status).to.equal(404);
    });

    it('an unreachable registry: BUILD_PUSH_FAILED, no result and no report', async () => {
      const { repo } = project(join(tmp(), 'image-down'), '', '  containerfile: Containerfile\n', { Containerfile: containerfile });
      // a port nothing listens on
      const ref = `127.0.0.1:${String(await freePort())}/demo/app:1`;
      const r = await build(repo, ['--image', ref, '--tls-verify', 'false']);
      expect(r.code, r.stderr).to.equal(3);
      expect(r.stderr).to.match(/buildah push to 127\.0\.0\.1:\d+\/demo\/app:1 failed .*connection refused.*\[BUILD_PUSH_FAILED\]/);
      expect(r.results).to.deep.equal({});
      expect(filesUnder(join(repo, '.vouch/reports'))).to.deep.equal([]);
    });
  });
});

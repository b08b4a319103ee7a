// tasks/build.yaml under `vouch run`: the Task's step runs sandboxed (bubblewrap, no network) as a non-root uid
// (securityContext.runAsUser), so the stage's own sandboxes nest inside it: the two builds are namespace-isolated,
// and buildah gets its capabilities as root of a nested user namespace. The artifact comes out as the Chains object
// result. The image path needs the loopback registry (`--allow-network build` shares the host's network with that
// one task); with `--no-sandbox` (the step as a host process) the stage sandboxes each build itself and pushes too.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { BUILD_PATH } from '../../src/stages/build/sandbox.ts';
import { TestRegistry } from '../store/registry-harness.ts';
import { commit, git, initRepo, requireTool } from './helpers.ts';

interface TaskRunFile {
  metadata: { labels: Record<string, string> };
  status: { conditions: { reason: string; message: string }[]; results?: { name: string; value: unknown }[] };
}

describe('tasks/build.yaml under vouch run', function () {
  this.timeout(120_000);
  let root = '';
  before(() => {
    requireTool('bwrap');
    if (spawnSync('sh', ['-c', 'command -v npm'], { env: { PATH: BUILD_PATH } }).status !== 0) throw new Error(`npm must be on ${BUILD_PATH} for the build tests (Debian: apt-get install npm; .ci/run installs it)`);
    // the step sandbox hides /tmp: the repository lives where steps can see it
    root = mkdtempSync('/var/tmp/vouch-build-task-');
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function runBuild(name: string, command: string, image?: { ref: string; runFlags: string[] }): Promise<{ code: number | null; stderr: string; repo: string; runDir: string; taskRun: TaskRunFile }> {
    const repo = initRepo(join(root, name));
    const imagePolicy = image === undefined ? '' : '  containerfile: Containerfile\n';
    const base = commit(repo, { '.vouch/policy.yaml': `version: 1\nbuild:\n  command: ${JSON.stringify(command)}\n  outputs: [dist/*.tgz]\n${imagePolicy}` }, 'policy');
    const head = commit(repo, { 'package.json': '{"name":"demo","version":"1.0.0","files":["src"]}\n', 'src/index.js': 'export const x = 1;\n', Containerfile: 'FROM scratch\nCOPY dist/ /app/\n' }, 'package');
    const runDir = join(root, `run-${name}`);
    const imageArgs = image === undefined ? [] : ['-p', `image=${image.ref}`, ...image.runFlags];
    const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/build.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '-p', `base-revision=${base}`, '-p', `head-revision=${head}`, ...imageArgs, '-w', `source=${repo}`, '--run-dir', runDir], { timeoutMs: 100_000 });
    const file = readdirSync(join(runDir, 'taskruns'))[0]!;
    return { code: r.code, stderr: r.stderr, repo, runDir, taskRun: JSON.parse(readFileSync(join(runDir, 'taskruns', file), 'utf8')) as TaskRunFile };
  }

  it('a deterministic npm pack succeeds with the ARTIFACT_OUTPUTS object result', async () => {
    const r = await runBuild('good', 'mkdir -p dist && npm pack --silent --pack-destination dist >/dev/null && chmod 0644 dist/*.tgz');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.taskRun.status.conditions[0]?.reason).to.equal('Succeeded');
    const artifact = r.taskRun.status.results?.find((x) => x.name === 'ARTIFACT_OUTPUTS')?.value as Record<string, string>;
    expect(artifact.isBuildArtifact).to.equal('true');
    expect(artifact.digest).to.match(/^sha256:[0-9a-f]{64}$/);
    const report = JSON.parse(readFileSync(join(r.repo, '.vouch/reports/build/report.json'), 'utf8')) as { isolation: string; outputs: { identical: boolean }[] };
    expect(report.isolation).to.equal('bwrap');
    expect(report.outputs.map((o) => o.identical)).to.deep.equal([true]);
    const testOutput = JSON.parse(r.taskRun.status.results?.find((x) => x.name === 'TEST_OUTPUT')?.value as string) as { result: string; note: string };
    expect(testOutput.result).to.equal('SUCCESS');
    expect(testOutput.note).not.to.include('not namespace-isolated');
  });

  it('a build embedding the time fails the TaskRun, naming the file', async () => {
    const r = await runBuild('stamp', 'mkdir -p dist && date +%s%N > src/stamp.txt && npm pack --silent --pack-destination dist >/dev/null');
    expect(r.code).to.equal(1);
    expect(r.taskRun.status.conditions[0]?.reason).to.equal('Failed');
    const report = JSON.parse(readFileSync(join(r.repo, '.vouch/reports/build/report.json'), 'utf8')) as { reasons: string[] };
    expect(report.reasons.join('\n')).to.include('package/src/stamp.txt');
    expect(git(r.repo, ['status', '--porcelain', '--untracked-files=no'])).to.equal('');
  });

  describe('the image path, against a docker-registry on loopback', () => {
    const registry = new TestRegistry();
    const deterministic = 'mkdir -p dist && npm pack --silent --pack-destination dist >/dev/null && chmod 0644 dist/*.tgz';
    before(async () => {
      requireTool('buildah');
      await registry.start();
    });
    after(async () => {
      await registry.stop();
      registry.cleanup();
    });

    it('in the step sandbox (network allowed for the build task) buildah runs nested, and IMAGE_URL/IMAGE_DIGEST are the pushed image', async () => {
      const ref = `${registry.host}/demo/sandboxed:1`;
      const r = await runBuild('image-sandboxed', deterministic, { ref, runFlags: ['--allow-network', 'build'] });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.taskRun.status.conditions[0]?.reason).to.equal('Succeeded');
      const res = await fetch(`http://${registry.host}/v2/demo/sandboxed/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.status).to.equal(200);
      const digest = r.taskRun.status.results?.find((x) => x.name === 'IMAGE_DIGEST')?.value;
      expect(digest).to.equal(`sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`);
    });

    it('with --no-sandbox the stage sandboxes both builds itself, and IMAGE_URL/IMAGE_DIGEST are the pushed image', async () => {
      const ref = `${registry.host}/demo/run:1`;
      const r = await runBuild('image-host', deterministic, { ref, runFlags: ['--no-sandbox'] });
      expect(r.code, r.stderr).to.equal(0);
      const result = (name: string): unknown => r.taskRun.status.results?.find((x) => x.name === name)?.value;
      expect(result('IMAGE_URL')).to.equal(ref);
      const res = await fetch(`http://${registry.host}/v2/demo/run/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.status).to.equal(200);
      expect(result('IMAGE_DIGEST')).to.equal(`sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`);
      const report = JSON.parse(readFileSync(join(r.repo, '.vouch/reports/build/report.json'), 'utf8')) as { isolation: string };
      expect(report.isolation).to.equal('bwrap');
    });
  });
});

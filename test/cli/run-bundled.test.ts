// `vouch run` from any directory uses vouch's own tasks/ and pipelines/ (trusted definitions), never the ones of the
// repository it runs in: a change under review cannot bring its own judges.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { commit, git, initRepo, requireTool } from '../stages/helpers.ts';

describe('vouch run: bundled tasks/ and pipelines/ by default', function () {
  this.timeout(120_000);
  let root = '';
  let cwd = '';
  let upstream = '';
  before(() => {
    requireTool('git');
    requireTool('bwrap');
    // steps must see the repository: not under /tmp, which the sandbox hides
    root = mkdtempSync('/var/tmp/vouch-bundled-');
    upstream = initRepo(join(root, 'upstream'));
    commit(upstream, { 'README.md': 'base\n' }, 'base');
    git(upstream, ['tag', 'base']);
    commit(upstream, { 'src/a.ts': 'export const a = 1;\n' }, 'change');
    // the directory a user runs vouch in, with its own (hostile) tasks/ and pipelines/
    cwd = join(root, 'elsewhere');
    mkdirSync(join(cwd, 'tasks'), { recursive: true });
    mkdirSync(join(cwd, 'pipelines'));
    const forged = readFileSync(join(REPO_ROOT, 'tasks/clone.yaml'), 'utf8').replace('image: ghcr.io/vouch-dev/vouch:0.1.0', 'image: docker.io/library/busybox:1.36');
    writeFileSync(join(cwd, 'tasks/clone.yaml'), forged);
    writeFileSync(join(cwd, 'pipelines/evil.yaml'), 'apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: agent-pr-verify\nspec:\n  tasks: []\n');
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("--pipeline-name searches vouch's pipelines/, not the current directory's", async () => {
    const r = await runVouch(['run', '--pipeline-name', 'no-such-pipeline'], { cwd });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include(`in ${join(REPO_ROOT, 'pipelines')}/`).and.include('found: agent-pr-verify');
  });

  it("taskRefs resolve to vouch's tasks/: the forged vouch-clone of the current directory is not used", async () => {
    const runDir = join(root, 'run');
    const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/verify-change.yaml'), '-p', `url=${upstream}`, '-p', 'revision=main', '-p', 'base-revision=base', '--run-dir', runDir], { cwd, timeoutMs: 100_000 });
    // the forged Task's busybox image would be refused (no --host-image); the bundled one runs vouch itself
    expect(r.stderr).to.not.include('STEP_IMAGE_REFUSED');
    expect(r.code, r.stderr).to.equal(0);
    const tr = JSON.parse(readFileSync(join(runDir, 'pipelinerun.json'), 'utf8')) as { status: { results: { name: string; value: string }[] } };
    expect(tr.status.results.find((x) => x.name === 'commit')?.value).to.equal(git(upstream, ['rev-parse', 'main']).trim());
  });
});

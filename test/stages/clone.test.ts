import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, git, gpgKey, initRepo, policyYaml, requireTool, runTaskInProcess, sshKey, stopGpgAgent, type GpgKey, type SshKey } from './helpers.ts';

interface CloneRun {
  code: number;
  stdout: string;
  stderr: string;
  ws: string;
  results: Record<string, string>;
  report: Record<string, unknown> | undefined;
}

const RESULTS = ['commit', 'url', 'CHAINS-GIT_URL', 'CHAINS-GIT_COMMIT', 'base-commit', 'TEST_OUTPUT'];

describe('stage clone (vouch task clone)', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-clone-');
  let alice: SshKey;
  let agent: SshKey;
  let mallory: SshKey;
  let upstream: string;
  let base: string;
  let agentCommit: string;
  let humanCommit: string;
  let unsignedHead: string;
  let n = 0;

  async function clone(args: string[]): Promise<CloneRun> {
    const ws = join(tmp(), `ws-${String(++n)}`);
    const resultsDir = join(tmp(), `results-${String(n)}`);
    mkdirSync(resultsDir);
    const r = await runTaskInProcess('clone', ['--source', ws, ...args, ...RESULTS.flatMap((name) => ['--result', `${name}=${join(resultsDir, name)}`])]);
    const results: Record<string, string> = {};
    for (const name of readdirSync(resultsDir)) results[name] = readFileSync(join(resultsDir, name), 'utf8');
    const reportFile = join(ws, '.vouch/reports/clone/report.json');
    const report = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as Record<string, unknown>) : undefined;
    return { ...r, ws, results, report };
  }

  before(() => {
    requireTool('git');
    requireTool('ssh-keygen');
    alice = sshKey(tmp(), 'alice');
    agent = sshKey(tmp(), 'agent');
    mallory = sshKey(tmp(), 'mallory');
    upstream = initRepo(join(tmp(), 'upstream'));
    commit(upstream, { 'README.md': '# demo\n' }, 'initial');
    const policy = policyYaml({ requireSignedHead: true, signers: [{ principal: 'alice@example.com', key: alice }, { principal: 'agent@vouch', key: agent, role: 'agent' }] });
    base = commit(upstream, { '.vouch/policy.yaml': policy }, 'policy: require a human signature on the head');
    git(upstream, ['tag', 'base']);
    agentCommit = commit(upstream, { 'src/a.ts': 'export const a = 1;\n' }, 'agent: add a', { signWith: agent, trailers: { 'Agent-Run': 'run-42' } });
    humanCommit = commit(upstream, { 'src/b.ts': 'export const b = 2;\n' }, 'review: add b', { signWith: alice });
    git(upstream, ['branch', 'reviewed']);
    unsignedHead = commit(upstream, { 'src/c.ts': 'export const c = 3;\n' }, 'unsigned change');
    git(upstream, ['branch', 'unsigned']);
  });

  it('passes when the head has a human signature; reports signers, agent trailers, the diff and the changed files', async () => {
    const r = await clone(['--url', upstream, '--revision', 'reviewed', '--base-revision', 'base']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.results['commit']).to.equal(humanCommit);
    expect(r.results['CHAINS-GIT_COMMIT']).to.equal(humanCommit);
    expect(r.results['base-commit']).to.equal(base);
    expect(r.results['url']).to.equal(upstream);
    expect(r.results['CHAINS-GIT_URL']).to.equal(`file://${upstream}`);
    const to = JSON.parse(r.results['TEST_OUTPUT'] ?? '') as Record<string, unknown>;
    expect(to).to.include({ result: 'SUCCESS', namespace: 'vouch.clone', successes: 2, failures: 0, warnings: 0 });
    expect(Object.keys(to)).to.deep.equal(['result', 'namespace', 'timestamp', 'successes', 'failures', 'warnings', 'note']);
    expect(to['timestamp']).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // the checkout is in the workspace, at the head commit
    expect(readFileSync(join(r.ws, 'src/b.ts'), 'utf8')).to.equal('export const b = 2;\n');
    expect(git(r.ws, ['rev-parse', 'HEAD']).trim()).to.equal(humanCommit);
    expect(readdirSync(r.ws).filter((f) => f.startsWith('.vouch-clone-'))).to.deep.equal([]);
    expect(existsSync(join(r.ws, '.git/FETCH_HEAD')), 'FETCH_HEAD keeps the URL as given').to.equal(false);
    const dir = join(r.ws, '.vouch/reports/clone');
    expect(readFileSync(join(dir, 'changed-files.txt'), 'utf8')).to.equal('src/a.ts\nsrc/b.ts\n');
    expect(readFileSync(join(dir, 'diff.patch'), 'utf8')).to.include('+export const b = 2;');
    const commits = JSON.parse(readFileSync(join(dir, 'commits.json'), 'utf8')) as { commit: string; signature: { status: string; signer: string; role: string | null; kind: string }; agentRuns: string[] }[];
    expect(commits.map((c) => c.commit)).to.deep.equal([humanCommit, agentCommit]);
    expect(commits[0]?.signature).to.include({ status: 'G', signer: 'alice@example.com', role: 'human', kind: 'ssh' });
    expect(commits[0]?.agentRuns).to.deep.equal([]);
    expect(commits[1]?.signature).to.include({ status: 'G', signer: 'agent@vouch', role: 'agent', kind: 'ssh' });
    expect(commits[1]?.agentRuns).to.deep.equal(['run-42']);
    expect(r.report).to.include({ passed: true, headSignedByHuman: true, requireSignedHead: true });
  });

  it('fails an unsigned head under a signing policy, saying why in the log and the report', async () => {
    const r = await clone(['--url', upstream, '--revision', 'unsigned', '--base-revision', 'base']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('requires a human signature on the head commit').and.include(unsignedHead).and.include('no signature');
    expect(r.report?.['passed']).to.equal(false);
    expect(String((r.report?.['reasons'] as string[])[0])).to.include('no signature');
    const to = JSON.parse(r.results['TEST_OUTPUT'] ?? '') as Record<string, unknown>;
    expect(to).to.include({ result: 'FAILURE', failures: 1, warnings: 1, successes: 2 });
    // the checkout and the provenance results are still there for later stages and Chains
    expect(r.results['commit']).to.equal(unsignedHead);
    expect(existsSync(join(r.ws, 'src/c.ts'))).to.equal(true);
  });

  it('does not count an agent-trailer commit signed by the agent key as a human signature', async () => {
    const r = await clone(['--url', upstream, '--revision', agentCommit, '--base-revision', base]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('a signature by agent@vouch, whose role is agent');
    expect(r.report).to.include({ headSignedByHuman: false });
  });

  it('does not trust a signature by a key missing from the allowed signers', async () => {
    const repo = initRepo(join(tmp(), 'mallory-repo'));
    commit(repo, { '.vouch/policy.yaml': policyYaml({ requireSignedHead: true, signers: [{ principal: 'alice@example.com', key: alice }] }) }, 'policy');
    git(repo, ['tag', 'base']);
    commit(repo, { 'x.txt': 'x\n' }, 'signed by someone else', { signWith: mallory });
    const r = await clone(['--url', repo, '--base-revision', 'base']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('not an allowed signer');
    const commits = JSON.parse(readFileSync(join(r.ws, '.vouch/reports/clone/commits.json'), 'utf8')) as { signature: { status: string } }[];
    expect(commits[0]?.signature.status).to.equal('U');
  });

  it('reads the policy from the base revision, not from the change (a head that drops the rule still fails)', async () => {
    const repo = initRepo(join(tmp(), 'loosen-repo'));
    commit(repo, { '.vouch/policy.yaml': policyYaml({ requireSignedHead: true, signers: [{ principal: 'alice@example.com', key: alice }] }) }, 'policy');
    git(repo, ['tag', 'base']);
    commit(repo, { '.vouch/policy.yaml': policyYaml({ requireSignedHead: false }) }, 'agent: relax the policy', { trailers: { 'Agent-Run': 'run-7' } });
    const r = await clone(['--url', repo, '--base-revision', 'base']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(':.vouch/policy.yaml) requires a human signature');
    // and without a base revision the documented default (no signature required) applies
    const noBase = await clone(['--url', `file://${repo}`]);
    expect(noBase.code, noBase.stderr).to.equal(0);
    expect(noBase.report?.['policy']).to.equal('default (no base revision)');
    expect(noBase.results['base-commit']).to.equal(undefined);
  });

  describe('GPG signatures (keys given in the policy)', () => {
    let bob: GpgKey;
    let eve: GpgKey;
    before(() => {
      requireTool('gpg');
      requireTool('gpg-agent');
      bob = gpgKey(tmp(), 'Bob <bob@example.com>');
      eve = gpgKey(tmp(), 'Eve <eve@example.com>');
    });
    after(() => {
      for (const k of [bob, eve] as (GpgKey | undefined)[]) if (k) stopGpgAgent(k);
    });

    function repoWith(name: string, role: 'human' | 'agent', signer: () => GpgKey): string {
      const repo = initRepo(join(tmp(), name));
      commit(repo, { '.vouch/policy.yaml': policyYaml({ requireSignedHead: true, gpgSigners: [{ principal: 'bob@example.com', key: bob, role }] }) }, 'policy');
      git(repo, ['tag', 'base']);
      commit(repo, { 'g.txt': 'g\n' }, 'gpg-signed change', { gpgSignWith: signer() });
      return repo;
    }

    it('a head signed by a human GPG signer of the policy passes', async () => {
      const r = await clone(['--url', repoWith('gpg-human', 'human', () => bob), '--base-revision', 'base']);
      expect(r.code, r.stderr).to.equal(0);
      const commits = JSON.parse(readFileSync(join(r.ws, '.vouch/reports/clone/commits.json'), 'utf8')) as { signature: Record<string, unknown> }[];
      expect(commits[0]?.signature).to.include({ status: 'G', kind: 'gpg', signer: 'bob@example.com', role: 'human', fingerprint: bob.fingerprint });
    });

    it('the same key listed as an agent, or a GPG key the policy does not name, fails', async () => {
      const asAgent = await clone(['--url', repoWith('gpg-agent', 'agent', () => bob), '--base-revision', 'base']);
      expect(asAgent.code).to.equal(1);
      expect(asAgent.stderr).to.include('whose role is agent');
      const unknown = await clone(['--url', repoWith('gpg-eve', 'human', () => eve), '--base-revision', 'base']);
      expect(unknown.code).to.equal(1);
      const commits = JSON.parse(readFileSync(join(unknown.ws, '.vouch/reports/clone/commits.json'), 'utf8')) as { signature: Record<string, unknown> }[];
      expect(commits[0]?.signature).to.include({ kind: 'gpg', role: null });
      expect(commits[0]?.signature['status']).to.not.equal('G');
    });

    it('a public key block that is not one key is refused with the signer named; nothing written', async () => {
      const repo = initRepo(join(tmp(), 'gpg-bad'));
      const broken = { ...bob, armored: bob.armored.replace(/\n([A-Za-z0-9+/]{20})/, '\n!!!!$1') };
      commit(repo, { '.vouch/policy.yaml': policyYaml({ requireSignedHead: true, gpgSigners: [{ principal: 'bob@example.com', key: broken }] }) }, 'policy');
      git(repo, ['tag', 'base']);
      commit(repo, { 'h.txt': 'h\n' }, 'change');
      const r = await clone(['--url', repo, '--base-revision', 'base']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('clone.gpg-signers[0] (bob@example.com)');
      expect(existsSync(r.ws) ? readdirSync(r.ws) : []).to.deep.equal([]);
    });
  });

  describe('bad input: clear error, non-zero exit, nothing written', () => {
    function expectNothingWritten(r: CloneRun): void {
      expect(existsSync(r.ws) ? readdirSync(r.ws) : []).to.deep.equal([]);
      expect(r.results).to.deep.equal({});
    }

    it('a repository that does not exist', async () => {
      const r = await clone(['--url', join(tmp(), 'no-such-repo'), '--revision', 'main']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('[STAGE_REPO_NOT_FOUND]').and.include('no-such-repo');
      expectNothingWritten(r);
    });

    it('an unreachable server: the URL\'s credentials appear in no message, result or report', async () => {
      const token = 'tok3n-do-not-print-9f8e7d';
      const r = await clone(['--url', `https://builder:${token}@127.0.0.1:1/org/repo.git`, '--revision', 'main']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('[STAGE_REPO_NOT_FOUND]').and.include('https://127.0.0.1:1/org/repo.git');
      expect(r.stderr + r.stdout).to.not.include(token);
      expectNothingWritten(r);
    });

    it('a revision that does not exist (branch and commit id)', async () => {
      for (const rev of ['no-such-branch', '0123456789abcdef0123456789abcdef01234567']) {
        const r = await clone(['--url', upstream, '--revision', rev]);
        expect(r.code).to.equal(2);
        expect(r.stderr).to.include('[STAGE_REVISION_NOT_FOUND]').and.include(rev);
        expectNothingWritten(r);
      }
      const badBase = await clone(['--url', upstream, '--revision', 'reviewed', '--base-revision', 'no-such-base']);
      expect(badBase.code).to.equal(2);
      expect(badBase.stderr).to.include('[STAGE_REVISION_NOT_FOUND]');
      expectNothingWritten(badBase);
    });

    it('a malformed policy file in the base revision: file:line:col, fail closed', async () => {
      const repo = initRepo(join(tmp(), 'bad-policy-repo'));
      const baseCommit = commit(repo, { '.vouch/policy.yaml': 'version: 1\nclone:\n  require-signed-head: yes please\n  alowed-signers: []\n' }, 'bad policy');
      commit(repo, { 'y.txt': 'y\n' }, 'change');
      const r = await clone(['--url', repo, '--base-revision', baseCommit]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('[POLICY_INVALID]');
      expect(r.stderr).to.include(`${baseCommit}:.vouch/policy.yaml:3:24: clone.require-signed-head: must be true or false`);
      expect(r.stderr).to.include(`${baseCommit}:.vouch/policy.yaml:4:3: clone.alowed-signers: unknown key`);
      expectNothingWritten(r);
    });

    it('a workspace that is not empty is refused and left alone', async () => {
      const ws = join(tmp(), `ws-${String(n + 1)}`);
      mkdirSync(ws);
      writeFileSync(join(ws, 'keep.txt'), 'mine\n');
      const r = await clone(['--url', upstream]);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('[STAGE_USAGE]').and.include('not empty');
      expect(readdirSync(ws)).to.deep.equal(['keep.txt']);
    });

    it('a result name the stage does not have, or a missing --url', async () => {
      const r1 = await runVouch(['task', 'clone', '--source', join(tmp(), 'ws-x'), '--url', upstream, '--result', 'nope=/tmp/x']);
      expect(r1.code).to.equal(2);
      expect(r1.stderr).to.include('--result nope: no such result');
      const r2 = await runVouch(['task', 'clone', '--source', join(tmp(), 'ws-y')]);
      expect(r2.code).to.equal(2);
      expect(r2.stderr).to.include('--url is required');
      expect(existsSync(join(tmp(), 'ws-x'))).to.equal(false);
    });
  });
});

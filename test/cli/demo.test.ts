import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { AGENT_RUN_V01, CYCLONEDX_BOM, RISK_ASSESSMENT_V01, SLSA_PROVENANCE_V1, TEST_RESULT_V01, VULNS_V01 } from '../../src/attest/predicates.ts';
import { runVouch } from '../helpers/cli.ts';
import { requireTool } from '../stages/helpers.ts';

const payloadOf = (bundle: string): { predicateType: string; subject: { name: string; digest: { sha256: string } }[] } =>
  JSON.parse(Buffer.from((JSON.parse(readFileSync(bundle, 'utf8')) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString()) as never;

// `npm start` runs `vouch demo`: the README promises the whole story on a fresh machine, end to end.
describe('cli: vouch demo (npm start)', function () {
  this.timeout(300_000);
  // the step sandbox hides /tmp: the demo keeps its work where steps can see it, as it does by default
  let root = '';
  before(() => {
    root = mkdtempSync('/var/tmp/vouch-demo-test-');
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('agent change, every gate, an approval, a pushed image with six verified statements, admission of a verified and an unverified Pod, the report', async () => {
    for (const tool of ['bwrap', 'docker-registry', 'buildah', 'git']) requireTool(tool);
    const dir = join(root, 'full');
    const demo = await runVouch(['demo', '--dir', dir], { timeoutMs: 280_000 });
    expect(demo.code, demo.stderr.slice(-3000) + demo.stdout.slice(-3000)).to.equal(0);
    expect(demo.stdout).to.include('The gate waits for a reviewer').and.include('approved ').and.include('refused as it must be').and.include('[VERIFICATION_FAILED]');

    // the image is the subject of the provenance and of every gate's evidence, each verifying against the log
    const store = join(dir, 'store');
    const digests = readdirSync(store);
    const image = /ADMITTED {2}(\S+)@sha256:([0-9a-f]{64})/.exec(demo.stdout);
    expect(image, demo.stdout.slice(-4000)).to.not.equal(null);
    const digest = image![2]!;
    expect(digests).to.include(digest);
    const bundles = readdirSync(join(store, digest)).filter((f) => f.endsWith('.sigstore.json'));
    const types = bundles.map((b) => payloadOf(join(store, digest, b)).predicateType).sort();
    expect(types).to.deep.equal([AGENT_RUN_V01, CYCLONEDX_BOM, TEST_RESULT_V01, VULNS_V01, RISK_ASSESSMENT_V01, SLSA_PROVENANCE_V1].sort());
    for (const b of bundles) {
      const v = await runVouch(['verify-bundle', '--bundle', join(store, digest, b), '--key', join(dir, 'signer.pub'), '--trusted-root', join(dir, 'trusted_root.json'), `sha256:${digest}`]);
      expect(v.code, `${b}: ${v.stderr}`).to.equal(0);
    }

    // admission: the verified image's Pod is admitted, the unverified one denied with the rules that failed
    expect(demo.stdout).to.match(/ADMITTED {2}\S+\/demo\/shop@sha256:[0-9a-f]{64}[^\n]*\n[^\n]*Pod shop /);
    expect(demo.stdout).to.match(/✓ pass +approvals\.satisfied +risk tier medium/);
    expect(demo.stdout).to.match(/DENIED {2}\S+\/demo\/shop-unverified@sha256:0{64}/);
    expect(demo.stdout).to.match(/✗ fail +provenance\.present +no verified SLSA provenance for this digest/);
    expect(demo.stdout).to.match(/denied: 1 of 2 image\(s\)/);

    // the reviewer's page: risk, gates, the agent run, the graph and both verdicts
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).to.include('Tier <span class="badge tier-medium">medium</span>');
    expect(html).to.include('aria-label="provenance graph"');
    expect(html).to.match(/agent run<\/td><td><span class="badge pass">VERIFIED/);
    expect(html).to.match(/ADMITTED<\/span> <code>[^<]+\/demo\/shop@sha256/);
    expect(html).to.match(/DENIED<\/span> <code>[^<]+\/demo\/shop-unverified@sha256/);
  });

  it('without bubblewrap (nor a registry) it still runs, saying loudly what it leaves out and that steps ran unsandboxed', async () => {
    // a PATH with git and a shell but no bwrap, docker-registry or buildah
    const bin = join(root, 'bin');
    mkdirSync(bin);
    for (const tool of ['git', 'sh', 'npm', 'node', 'tar', 'gzip']) {
      const path = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      symlinkSync(path, join(bin, tool));
    }
    const dir = join(root, 'bare');
    const demo = await runVouch(['demo', '--dir', dir], { env: { PATH: bin }, timeoutMs: 280_000 });
    expect(demo.code, demo.stderr.slice(-3000) + demo.stdout.slice(-3000)).to.equal(0);
    expect(demo.stdout).to.include('bubblewrap is not installed').and.include('--no-sandbox').and.include('no image is built');
    expect(demo.stderr).to.include('WARNING: --no-sandbox');
    // the tarball is still the subject of verified provenance
    const store = join(dir, 'store');
    const [digest] = readdirSync(store);
    const provenance = readdirSync(join(store, digest!)).find((f) => f.startsWith('slsa.dev-provenance') && f.endsWith('.sigstore.json'))!;
    expect(payloadOf(join(store, digest!, provenance)).subject.map((s) => s.digest.sha256)).to.deep.equal([digest]);
  });
});

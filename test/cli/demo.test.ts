import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../../src/common/digest.ts';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

// `npm start` runs `vouch demo`: the README promises it works on a fresh machine, end to end.
describe('cli: vouch demo (npm start)', function () {
  this.timeout(60_000);
  const dir = tempDirPerSuite();

  it('runs the example pipeline, attests it in-process, and leaves provenance that verifies for its artifact only', async () => {
    const demo = await runVouch(['demo', '--dir', dir()]);
    expect(demo.code, demo.stderr + demo.stdout).to.equal(0);
    expect(demo.stdout).to.include('refused as it must be').and.include('[VERIFICATION_FAILED]');

    const artifact = join(dir(), 'workspace', 'dist', 'greeter.tgz');
    const digest = await sha256File(artifact);
    const bundles = readdirSync(join(dir(), 'store', digest)).filter((f) => f.endsWith('.sigstore.json'));
    expect(bundles).to.have.length(1);
    const bundle = join(dir(), 'store', digest, bundles[0]!);
    const statement = JSON.parse(Buffer.from((JSON.parse(readFileSync(bundle, 'utf8')) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString()) as {
      predicateType: string;
      subject: { name: string; digest: { sha256: string } }[];
    };
    expect(statement.predicateType).to.equal('https://slsa.dev/provenance/v1');
    expect(statement.subject).to.deep.equal([{ name: 'pkg:generic/greeter@0.1.0', digest: { sha256: digest } }]);

    const args = ['verify-bundle', '--bundle', bundle, '--key', join(dir(), 'signer.pub'), '--trusted-root', join(dir(), 'trusted_root.json')];
    const ok = await runVouch([...args, artifact]);
    expect(ok.code, ok.stderr).to.equal(0);
    const other = await runVouch([...args, join(dir(), 'workspace', 'src', 'app.js')]);
    expect(other.code).to.equal(1);
    expect(other.stderr).to.include('no subject of the in-toto statement');
  });

  it('still runs where bubblewrap is missing, saying loudly that its steps ran without the sandbox', async () => {
    // no bwrap on PATH (the steps themselves get the runner's default PATH)
    const demo = await runVouch(['demo', '--dir', join(dir(), 'nobwrap')], { env: { PATH: '/nonexistent' } });
    expect(demo.code, demo.stderr + demo.stdout).to.equal(0);
    expect(demo.stdout).to.include('WITHOUT the step sandbox').and.include('--no-sandbox');
    expect(demo.stderr).to.include('WARNING: --no-sandbox');
  });
});

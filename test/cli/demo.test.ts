import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

// `npm start` runs `vouch demo`: the README promises it works on a fresh machine, end to end.
describe('cli: vouch demo (npm start)', () => {
  const dir = tempDirPerSuite();

  it('runs the trust core end to end and leaves a bundle that verifies from the shell, and only for its artifact', async () => {
    const demo = await runVouch(['demo', '--dir', dir()]);
    expect(demo.code, demo.stderr + demo.stdout).to.equal(0);
    expect(demo.stdout).to.include('rejected as it must be');
    const bundle = join(dir(), 'app.js.sigstore.json');
    const args = ['verify-bundle', '--bundle', bundle, '--key', join(dir(), 'signer.pub'), '--trusted-root', join(dir(), 'trusted_root.json')];
    const ok = await runVouch([...args, 'hack/demo/app.js']);
    expect(ok.code, ok.stderr).to.equal(0);
    const other = await runVouch([...args, 'hack/demo/test-result.json']);
    expect(other.code).to.equal(1);
    expect(other.stderr).to.include('no subject of the in-toto statement');
    const statement = JSON.parse(Buffer.from((JSON.parse(readFileSync(bundle, 'utf8')) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString()) as { predicateType: string };
    expect(statement.predicateType).to.equal('https://in-toto.io/attestation/test-result/v0.1');
  });
});

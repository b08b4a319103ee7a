// The whole bundle-verify suite of sigstore-conformance (../shared/fixtures/sigstore-conformance/bundle-verify), run
// through `vouch verify-bundle` exactly as the conformance harness runs a client (test/client.py, conftest.py): each
// case with the artifact path and again with `sha256:<hex>` of it; `--key` when the case has key.pub, else the
// certificate identity and issuer (the case's files or the suite's defaults); `--trusted-root` when it has one.
// A case whose name ends in `_fail` must exit non-zero (1 or 2, never a crash), every other case must exit 0.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runVouch, SHARED, type CliResult } from '../helpers/cli.ts';

const SUITE = join(SHARED, 'fixtures/sigstore-conformance/bundle-verify');
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const CONCURRENCY = 4;

const cases = readdirSync(SUITE)
  .filter((name) => statSync(join(SUITE, name)).isDirectory())
  .sort();

function argsFor(name: string, mode: 'path' | 'digest'): string[] {
  const dir = join(SUITE, name);
  const file = (f: string): string | undefined => (existsSync(join(dir, f)) ? join(dir, f) : undefined);
  const args = ['verify-bundle', '--bundle', join(dir, 'bundle.sigstore.json')];
  const key = file('key.pub');
  if (key) args.push('--key', key);
  else {
    const identity = file('identity');
    const issuer = file('issuer');
    args.push('--certificate-identity', identity ? readFileSync(identity, 'utf8').trim() : IDENTITY);
    args.push('--certificate-oidc-issuer', issuer ? readFileSync(issuer, 'utf8').trim() : ISSUER);
  }
  const root = file('trusted_root.json');
  if (root) args.push('--trusted-root', root);
  const artifact = file('artifact') ?? join(SUITE, 'a.txt');
  args.push(mode === 'path' ? artifact : `sha256:${createHash('sha256').update(readFileSync(artifact)).digest('hex')}`);
  return args;
}

describe('cli: vouch verify-bundle passes the sigstore-conformance bundle-verify suite', function () {
  this.timeout(600_000);
  const results = new Map<string, CliResult>();

  before(async function () {
    this.timeout(600_000);
    const jobs = cases.flatMap((name) => (['path', 'digest'] as const).map((mode) => ({ name, mode })));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        results.set(`${job.name}/${job.mode}`, await runVouch(argsFor(job.name, job.mode), { timeoutMs: 120_000 }));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  });

  it('has the whole suite: all 70 cases of the pinned sigstore-conformance commit', () => {
    expect(cases.length).to.equal(70);
    expect(cases.filter((c) => c.startsWith('rekor2-')).length).to.be.greaterThanOrEqual(20);
  });

  for (const name of cases) {
    const shouldFail = name.endsWith('_fail');
    it(`${name}: ${shouldFail ? 'fails' : 'verifies'} (by path and by digest)`, () => {
      for (const mode of ['path', 'digest'] as const) {
        const r = results.get(`${name}/${mode}`)!;
        const said = `${mode}: exit ${String(r.code)}\n${r.stdout}${r.stderr}`;
        expect(r.signal, said).to.equal(null);
        if (shouldFail) {
          expect([1, 2], said).to.include(r.code);
          expect(r.stderr, said).to.match(/^vouch: .+ \[[A-Z_]+\]\n$/);
        } else {
          expect(r.code, said).to.equal(0);
          expect(r.stdout, said).to.match(/^verified: /);
        }
        expect(r.stderr, said).not.to.match(/internal error|\n\s+at /);
      }
    });
  }
});

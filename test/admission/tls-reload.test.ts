import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { AdmissionEngine } from '../../src/admission/engine.ts';
import { AdmissionWebhook, serveWebhook, type RunningWebhook } from '../../src/admission/webhook.ts';
import { configureLogging } from '../../src/common/log.ts';
import { captureLogs } from '../helpers/log.ts';
import { tempDir } from '../helpers/tmp.ts';
import { selfSignedCert } from './tls.ts';

type Pair = ReturnType<typeof selfSignedCert>;

const fingerprint = (pair: Pair): string => new X509Certificate(pair.cert).fingerprint256;

/** The fingerprint of the certificate a new TLS handshake with the server gets. */
function servedFingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    // the test looks at which certificate is served, not whether it is trusted
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

describe('admission: the webhook takes a renewed TLS certificate without a restart', function () {
  this.timeout(30_000);
  let dir: string;
  let running: RunningWebhook | undefined;
  const certFile = (): string => join(dir, 'tls.crt');
  const keyFile = (): string => join(dir, 'tls.key');
  const write = (pair: { cert: string; key: string }): void => {
    writeFileSync(certFile(), pair.cert);
    writeFileSync(keyFile(), pair.key);
  };
  const serve = async (pair: Pair, reloadEveryMs: number): Promise<RunningWebhook> => {
    write(pair);
    const webhook = new AdmissionWebhook({ engine: new AdmissionEngine({ policies: [], stores: [] }) });
    running = await serveWebhook(webhook, pair, '127.0.0.1', 0, { tlsFiles: { certFile: certFile(), keyFile: keyFile(), reloadEveryMs } });
    return running;
  };

  beforeEach(() => {
    dir = tempDir('vouch-tls-reload-');
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
    configureLogging({ level: 'silent' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a changed usable pair is served to new handshakes; a broken or mismatched one is refused once and the current goes on', async () => {
    const logs = captureLogs('info');
    const first = selfSignedCert();
    const r = await serve(first, 0);
    expect(await servedFingerprint(r.url)).to.equal(fingerprint(first));
    expect(await r.tls!.check()).to.equal('unchanged');

    const renewed = selfSignedCert();
    write(renewed);
    expect(await r.tls!.check()).to.equal('reloaded');
    expect(await servedFingerprint(r.url)).to.equal(fingerprint(renewed));
    expect(logs.join('')).to.include('admission TLS certificate reloaded').and.include(new X509Certificate(renewed.cert).fingerprint256);
    expect(await r.tls!.check()).to.equal('unchanged');

    // the certificate of one pair with the key of another: refused, reported once however often it is looked at
    logs.length = 0;
    const other = selfSignedCert();
    write({ cert: other.cert, key: renewed.key });
    expect(await r.tls!.check()).to.equal('refused');
    expect(await r.tls!.check()).to.equal('refused');
    const warnings = logs.filter((l) => l.includes('cannot be used'));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.not.include('PRIVATE KEY');
    expect(await servedFingerprint(r.url)).to.equal(fingerprint(renewed));

    // garbage, and a key file that is gone (a half-done replacement): still the renewed pair
    write({ cert: 'not a certificate', key: renewed.key });
    expect(await r.tls!.check()).to.equal('refused');
    write(other);
    unlinkSync(keyFile());
    expect(await r.tls!.check()).to.equal('refused');
    expect(await servedFingerprint(r.url)).to.equal(fingerprint(renewed));
    expect(logs.join('')).to.not.include('BEGIN');

    // the whole new pair in place: taken
    write(other);
    expect(await r.tls!.check()).to.equal('reloaded');
    expect(await servedFingerprint(r.url)).to.equal(fingerprint(other));
  });

  it('looks at the files on its own every reloadEveryMs', async () => {
    const first = selfSignedCert();
    const r = await serve(first, 50);
    const renewed = selfSignedCert();
    write(renewed);
    let served = await servedFingerprint(r.url);
    for (let i = 0; i < 100 && served !== fingerprint(renewed); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      served = await servedFingerprint(r.url);
    }
    expect(served).to.equal(fingerprint(renewed));
  });

  it('without tlsFiles the pair given is served as is and nothing is watched', async () => {
    const pair = selfSignedCert();
    const webhook = new AdmissionWebhook({ engine: new AdmissionEngine({ policies: [], stores: [] }) });
    running = await serveWebhook(webhook, pair, '127.0.0.1', 0);
    expect(running.tls).to.equal(undefined);
    expect(await servedFingerprint(running.url)).to.equal(fingerprint(pair));
  });
});

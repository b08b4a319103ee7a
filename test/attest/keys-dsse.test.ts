import { expect } from 'chai';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnvelope, preAuthEncoding, signEnvelope, verifyEnvelope, IN_TOTO_PAYLOAD_TYPE } from '../../src/attest/dsse.ts';
import { generateKeyPair, keyId, loadPrivateKey, loadPublicKey, parsePrivateKey, parsePublicKey, publicKeyDer, publicKeyOf, publicKeyPem } from '../../src/attest/keys.ts';
import { VouchError } from '../../src/common/errors.ts';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

describe('attest: keys and DSSE', () => {
  const dir = tempDirPerSuite();

  it('vouch keys generate writes an encrypted PKCS#8 key (0600) and an SPKI public key, never printing the password', async () => {
    const prefix = join(dir(), 'signer');
    const res = await runVouch(['keys', 'generate', '--out', prefix], { env: { VOUCH_KEY_PASSWORD: 'correct horse battery' } });
    expect(res.code, res.stderr).to.equal(0);
    const pem = readFileSync(`${prefix}.key`, 'utf8');
    expect(pem).to.match(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(statSync(`${prefix}.key`).mode & 0o777).to.equal(0o600);
    expect(readFileSync(`${prefix}.pub`, 'utf8')).to.match(/^-----BEGIN PUBLIC KEY-----/);
    expect(res.stdout + res.stderr).not.to.include('correct horse battery');
    const key = await loadPrivateKey(`${prefix}.key`, 'correct horse battery');
    expect(keyId(key)).to.equal(keyId(await loadPublicKey(`${prefix}.pub`)));
  });

  it('refuses to overwrite an existing key', async () => {
    const prefix = join(dir(), 'once');
    expect((await runVouch(['keys', 'generate', '--out', prefix])).code).to.equal(0);
    const again = await runVouch(['keys', 'generate', '--out', prefix]);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.include('refusing to overwrite');
  });

  it('rejects a wrong or missing password without echoing key material', () => {
    const { privateKeyPem } = generateKeyPair('secret-pass');
    for (const [password, code] of [['nope', 'KEY_PASSWORD_WRONG'], [undefined, 'KEY_PASSWORD_REQUIRED']] as const) {
      try {
        parsePrivateKey(privateKeyPem, 'k.key', password);
        expect.fail('should throw');
      } catch (err) {
        expect(err).to.be.instanceOf(VouchError).with.property('code', code);
        const text = `${(err as Error).message} ${JSON.stringify(err)}`;
        expect(text).not.to.include(privateKeyPem.split('\n')[1]!);
        expect(text).not.to.include('secret-pass');
      }
    }
  });

  it('rejects garbage and unsupported curves', () => {
    expect(() => parsePrivateKey('not a key', 'x.key')).to.throw(VouchError).with.property('code', 'KEY_INVALID');
    expect(() => parsePublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', 'x.pub')).to.throw(VouchError);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => parsePublicKey(p384, 'p384.pub')).to.throw(/unsupported key type ec \(secp384r1\)/);
  });

  it('a key\'s public forms are derived once and handed out safely: the DER given out is a copy', () => {
    const privateKey = parsePrivateKey(generateKeyPair().privateKeyPem, 'test key');
    const der = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
    const id = createHash('sha256').update(der).digest('hex');
    expect(keyId(privateKey)).to.equal(id);
    expect(publicKeyPem(privateKey)).to.equal(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }));
    const given = publicKeyDer(privateKey);
    expect(given.equals(der)).to.equal(true);
    given.fill(0);
    expect(publicKeyDer(privateKey).equals(der)).to.equal(true);
    expect(keyId(privateKey)).to.equal(id);
    // the private key and its public half name the same key
    expect(keyId(publicKeyOf(privateKey))).to.equal(id);
    expect(publicKeyOf(privateKey)).to.equal(publicKeyOf(privateKey));
  });

  it('DSSE: PAE as the spec gives it; sign then verify; any change to type, payload or signature fails', () => {
    expect(preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).to.equal(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
    const { privateKeyPem } = generateKeyPair();
    const key = parsePrivateKey(privateKeyPem, 'k');
    const env = signEnvelope(Buffer.from('{"a":1}'), IN_TOTO_PAYLOAD_TYPE, key, keyId(key));
    const pub = publicKeyOf(key);
    expect(verifyEnvelope(env, pub)).to.be.true;
    expect(verifyEnvelope({ ...env, payloadType: 'text/plain' }, pub)).to.be.false;
    expect(verifyEnvelope({ ...env, payload: Buffer.from('{"a":2}').toString('base64') }, pub)).to.be.false;
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[sig.length - 1]! ^= 1;
    expect(verifyEnvelope({ ...env, signatures: [{ keyid: '', sig: sig.toString('base64') }] }, pub)).to.be.false;
    const other = parsePrivateKey(generateKeyPair().privateKeyPem, 'other');
    expect(verifyEnvelope(env, publicKeyOf(other))).to.be.false;
  });

  it('parseEnvelope rejects malformed envelopes with a clear reason', () => {
    expect(() => parseEnvelope([], 'req')).to.throw(/expected a JSON object/);
    expect(() => parseEnvelope({ payloadType: 'x', payload: '!!', signatures: [{ sig: 'AA==' }] }, 'req')).to.throw(/payload must be base64/);
    expect(() => parseEnvelope({ payloadType: 'x', payload: 'AA==', signatures: [] }, 'req')).to.throw(/non-empty array/);
    expect(() => parseEnvelope({ payloadType: 'x', payload: 'AA==', signatures: [{ sig: '' }] }, 'req')).to.throw(/sig must be non-empty/);
    expect(parseEnvelope({ payloadType: 'x', payload: 'AA==', signatures: [{ sig: 'AA==' }] }, 'req').signatures[0]!.keyid).to.equal('');
  });

  it('loadPublicKey reports a missing file as IO', async () => {
    writeFileSync(join(dir(), 'x'), '');
    await loadPublicKey(join(dir(), 'missing.pub')).then(
      () => expect.fail('should throw'),
      (err: unknown) => expect(err).to.have.property('code', 'IO'),
    );
  });
});

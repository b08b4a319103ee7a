import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { sha256Hex } from '../common/digest.ts';
import { VouchError } from '../common/errors.ts';

// Long-lived signing keys: ECDSA P-256 with SHA-256, the one curve (with Ed25519) that sigstore-js verifies
// correctly (shared/notes/sigstore.md). Private keys are PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) when a
// password is given; public keys are SPKI PEM. Nothing here ever puts key material into an error or a log line.

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

export function generateKeyPair(password?: string): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: password
      ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password }
      : { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** Writes PREFIX.key (mode 0600, never overwritten) and PREFIX.pub. */
export async function writeKeyPair(prefix: string, password?: string): Promise<{ keyPath: string; pubPath: string; keyId: string }> {
  const pair = generateKeyPair(password);
  const keyPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  try {
    await writeFile(keyPath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VouchError(code === 'EEXIST' ? 'USAGE' : 'IO', code === 'EEXIST' ? `${keyPath} exists; refusing to overwrite a key` : `cannot write ${keyPath}: ${code ?? 'error'}`, { cause: err });
  }
  await writeFile(pubPath, pair.publicKeyPem, { mode: 0o644 });
  return { keyPath, pubPath, keyId: keyId(createPublicKey(pair.publicKeyPem)) };
}

/** Loads a PKCS#8 (or SEC1) PEM private key; `password` is needed for an encrypted one. */
export function parsePrivateKey(pem: string | Buffer, source: string, password?: string): KeyObject {
  const text = pem.toString();
  const encrypted = text.includes('ENCRYPTED');
  if (encrypted && !password) {
    throw new VouchError('KEY_PASSWORD_REQUIRED', `${source} is encrypted: give its password through the environment variable named by signing.passwordEnv (default VOUCH_KEY_PASSWORD)`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(encrypted ? { key: text, format: 'pem', passphrase: password ?? '' } : { key: text, format: 'pem' });
  } catch (err) {
    // Node's messages name no key bytes, but we still do not pass them on: only what kind of failure it was.
    if (encrypted) throw new VouchError('KEY_PASSWORD_WRONG', `cannot decrypt ${source}: wrong password or damaged key`);
    throw new VouchError('KEY_INVALID', `${source} is not a PEM private key`, { cause: undefined, details: { reason: (err as NodeJS.ErrnoException).code } });
  }
  checkSupported(key, source);
  return key;
}

export async function loadPrivateKey(path: string, password?: string): Promise<KeyObject> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    throw new VouchError('IO', `cannot read private key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return parsePrivateKey(pem, path, password);
}

export function parsePublicKey(pem: string | Buffer, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem.toString(), format: 'pem' });
  } catch {
    throw new VouchError('KEY_INVALID', `${source} is not a PEM public key (SPKI)`);
  }
  checkSupported(key, source);
  return key;
}

export async function loadPublicKey(path: string): Promise<KeyObject> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    throw new VouchError('IO', `cannot read public key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return parsePublicKey(pem, path);
}

function checkSupported(key: KeyObject, source: string): void {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return;
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return;
  throw new VouchError('KEY_INVALID', `${source}: unsupported key type ${type ?? 'unknown'}${type === 'ec' ? ` (${key.asymmetricKeyDetails?.namedCurve ?? '?'})` : ''}; use ECDSA P-256 or Ed25519`);
}

// A KeyObject never changes, and deriving its public half, SPKI encodings and key id took about a tenth of the
// sidecar's CPU per attestation (every signature, log entry and verification asks again): derive each once per key.
interface PublicForms {
  key: KeyObject;
  pem?: string;
  der?: Buffer;
  id?: string;
}
const publicForms = new WeakMap<KeyObject, PublicForms>();

function formsOf(key: KeyObject): PublicForms {
  let forms = publicForms.get(key);
  if (!forms) publicForms.set(key, (forms = { key: key.type === 'public' ? key : createPublicKey(key) }));
  return forms;
}

export function publicKeyOf(key: KeyObject): KeyObject {
  return formsOf(key).key;
}

export function publicKeyPem(key: KeyObject): string {
  const forms = formsOf(key);
  return (forms.pem ??= forms.key.export({ type: 'spki', format: 'pem' }).toString());
}

/** The DER SubjectPublicKeyInfo (a copy: callers may keep or change it). */
export function publicKeyDer(key: KeyObject): Buffer {
  const forms = formsOf(key);
  return Buffer.from((forms.der ??= forms.key.export({ type: 'spki', format: 'der' })));
}

/** sha256 of the DER SubjectPublicKeyInfo, hex: Rekor's logID for a log key, and our key id for signers. */
export function keyId(key: KeyObject): string {
  const forms = formsOf(key);
  return (forms.id ??= sha256Hex((forms.der ??= forms.key.export({ type: 'spki', format: 'der' }))));
}

/** Signs with SHA-256 (ECDSA: DER signature) or Ed25519 (pure). */
export function signBytes(key: KeyObject, data: Uint8Array): Buffer {
  return cryptoSign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key);
}

export function verifyBytes(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, publicKeyOf(key), signature);
  } catch {
    return false;
  }
}

import type { KeyObject } from 'node:crypto';
import { keyId } from '../attest/keys.ts';
import { VouchError } from '../common/errors.ts';
import { hashLeaf, rootFromInclusionProof, verifyConsistency } from './merkle.ts';
import { verifyCheckpoint, verifySet, type Checkpoint } from './signed.ts';
import type { LogEntryAnon } from './types.ts';

// Full verification of a log entry as a client receives it (from our log or any Rekor v1): the SET, the inclusion
// proof against its own root, and the checkpoint's signature, size and root. Nothing is trusted from the entry but
// what these checks bind to the log key.

export interface VerifyEntryOptions {
  /** the log's public key (its sha256 SPKI digest must equal the entry's logID) */
  publicKey: KeyObject;
  /** when given, the checkpoint must be signed under exactly this name (the log's name) */
  name?: string;
  /** when given, the checkpoint's origin line must equal it */
  origin?: string;
  /** when given, the entry's UUID (64 hex, or 80 hex with the tree ID prefix) must be its leaf hash */
  uuid?: string;
}

export interface VerifiedEntry {
  leafHash: Buffer;
  checkpoint: Checkpoint;
}

function fail(message: string): never {
  throw new VouchError('PROOF_INVALID', message);
}

export function verifyLogEntry(entry: LogEntryAnon, opts: VerifyEntryOptions): VerifiedEntry {
  const logId = keyId(opts.publicKey);
  if (entry.logID !== logId) fail(`entry logID ${entry.logID} is not this log's key (${logId})`);
  if (!Number.isSafeInteger(entry.logIndex) || entry.logIndex < 0) fail('entry logIndex is not a non-negative integer');
  if (!Number.isSafeInteger(entry.integratedTime)) fail('entry integratedTime is not an integer');
  const body = Buffer.from(entry.body, 'base64');
  if (body.length === 0 || body.toString('base64') !== entry.body) fail('entry body is not canonical base64');
  const set = entry.verification?.signedEntryTimestamp;
  if (typeof set !== 'string' || !verifySet(opts.publicKey, { body: entry.body, integratedTime: entry.integratedTime, logID: entry.logID, logIndex: entry.logIndex }, set)) {
    fail('signed entry timestamp does not verify with the log key');
  }
  const leafHash = hashLeaf(body);
  if (opts.uuid !== undefined && opts.uuid.toLowerCase().slice(-64) !== leafHash.toString('hex')) fail('entry UUID is not the leaf hash of its body');
  const proof = entry.verification.inclusionProof;
  if (typeof proof !== 'object' || proof === null) fail('entry has no inclusion proof');
  if (proof.logIndex !== entry.logIndex) fail('inclusion proof is for another log index');
  if (!Array.isArray(proof.hashes) || !proof.hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) fail('inclusion proof hashes are not 64 hex digits each');
  const root = rootFromInclusionProof(proof.logIndex, proof.treeSize, leafHash, proof.hashes.map((h) => Buffer.from(h, 'hex')));
  if (!root || root.toString('hex') !== proof.rootHash) fail('inclusion proof does not lead to its root hash');
  const cp = verifyCheckpoint(proof.checkpoint, opts.publicKey, Buffer.from(logId, 'hex'), opts.name ?? signerName(proof.checkpoint), opts.origin);
  if (!cp) fail('checkpoint signature does not verify with the log key (or names another log)');
  if (cp.size !== proof.treeSize || !cp.rootHash.equals(root)) fail('checkpoint is for another tree size or root than the inclusion proof');
  return { leafHash, checkpoint: cp };
}

function signerName(checkpoint: string): string {
  const m = /\n\n\u2014 (\S+) /.exec(checkpoint);
  return m ? m[1]! : '';
}

/** Checks that the tree (size1, root1) is a prefix of (size2, root2) given a consistency proof (hex hashes). */
export function verifyConsistencyHex(size1: number, root1: string, size2: number, root2: string, hashes: string[]): boolean {
  return verifyConsistency(size1, size2, Buffer.from(root1, 'hex'), Buffer.from(root2, 'hex'), hashes.map((h) => Buffer.from(h, 'hex')));
}

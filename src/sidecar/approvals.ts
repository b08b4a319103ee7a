import { createHash, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SerializedBundle } from '@sigstore/bundle';
import express, { type Request, type Response, type Router } from 'express';
import { readApprovalEnvelope, verifyApproval } from '../attest/approval.ts';
import { envelopePayload } from '../attest/dsse.ts';
import { keyId, parsePublicKey } from '../attest/keys.ts';
import { createFileDurable, mkdirDurable } from '../common/durable.ts';
import { VouchError, errorMessage, isVouchError } from '../common/errors.ts';
import { logger, type Logger } from '../common/log.ts';
import type { LogEntryRef } from '../store/types.ts';
import { TlogWriter, type TlogTarget } from './tlog-target.ts';

// Human approvals (docs/risk.md): a reviewer's `vouch approve` POSTs a DSSE envelope signed with the reviewer's own
// key and names the public key. The sidecar checks the statement's shape, that the signature verifies with that
// key, and (when sidecar.reviewerKeys is set) that the key is a configured reviewer's; it logs the envelope in the
// transparency log (a dsse entry under the reviewer's key; the same envelope twice gives the same entry), and keeps
// the Sigstore bundle under DATA/approvals/<namespace>/<pipelinerun>/. `vouch task gate` lists them with GET and
// judges them itself against the base revision's policy: the sidecar only refuses what is certainly not an approval.
//
//   POST /approvals                      {"envelope": DSSE, "publicKey": "<SPKI PEM>"}: 201 logged and stored (200 when
//                                        the same envelope was stored before), 400 malformed, 401 no or wrong token
//                                        (local mode), 403 signature or key refused, 503 log unavailable (retry)
//   GET /approvals/<namespace>/<name>    {"approvals": [{"bundle", "logEntry"}]}, oldest first. Not authenticated: the
//                                        approvals are public in the log anyway, and every reader verifies them.

export interface ApprovalRecord {
  bundle: SerializedBundle;
  logEntry: LogEntryRef;
}

export interface ApprovalDeskOptions {
  /** the sidecar's data directory; approvals go to DATA/approvals */
  dataDir: string;
  tlog: TlogTarget;
  /** public keys allowed to submit; undefined: any key whose signature verifies (the gate decides who counts) */
  reviewerKeys?: KeyObject[];
  logger?: Logger;
}

const NAME = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

export class ApprovalDesk {
  private readonly dir: string;
  private readonly tlog: TlogWriter;
  private readonly allowed: Set<string> | undefined;
  private readonly log: Logger;

  constructor(options: ApprovalDeskOptions) {
    this.dir = join(options.dataDir, 'approvals');
    this.log = (options.logger ?? logger()).child({ component: 'approvals' });
    this.tlog = new TlogWriter(options.tlog);
    this.allowed = options.reviewerKeys ? new Set(options.reviewerKeys.map(keyId)) : undefined;
  }

  /** Checks, logs and stores one approval. Throws APPROVAL_INVALID (400), APPROVAL_REFUSED (403), TLOG_* (503). */
  async submit(body: unknown): Promise<{ record: ApprovalRecord; created: boolean }> {
    if (typeof body !== 'object' || body === null) throw new VouchError('APPROVAL_INVALID', 'expected {"envelope": <DSSE envelope>, "publicKey": "<PEM>"}');
    const { envelope: raw, publicKey: pem } = body as Record<string, unknown>;
    if (typeof pem !== 'string') throw new VouchError('APPROVAL_INVALID', 'publicKey must be the reviewer\'s SPKI PEM public key');
    let read: ReturnType<typeof readApprovalEnvelope>;
    let key: KeyObject;
    try {
      read = readApprovalEnvelope(raw, 'approval');
      key = parsePublicKey(pem, 'publicKey');
    } catch (err) {
      throw new VouchError('APPROVAL_INVALID', errorMessage(err));
    }
    const { envelope, statement } = read;
    const p = statement.predicate!;
    if (!verifyApproval(envelope, key)) throw new VouchError('APPROVAL_REFUSED', `the signature does not verify with the given public key (${keyId(key).slice(0, 16)}…)`);
    if (p.reviewer.keyid !== undefined && p.reviewer.keyid !== keyId(key)) throw new VouchError('APPROVAL_REFUSED', 'reviewer.keyid does not name the key that signed');
    if (this.allowed && !this.allowed.has(keyId(key))) throw new VouchError('APPROVAL_REFUSED', `key ${keyId(key).slice(0, 16)}… is not a configured reviewer key (sidecar.reviewerKeys)`);
    const [ns, name] = p.pipelineRun.split('/') as [string, string];
    if (!NAME.test(ns) || !NAME.test(name)) throw new VouchError('APPROVAL_INVALID', 'pipelineRun must be "<namespace>/<name>"');

    const payload = envelopePayload(envelope);
    const signature = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    const file = `${createHash('sha256').update(payload).update(signature).digest('hex')}.json`;
    const runDir = join(this.dir, ns, name);
    const { json, entry } = await this.tlog.log({ payload, signature }, key);
    const record: ApprovalRecord = { bundle: json, logEntry: entry };
    await mkdirDurable(runDir);
    // named by the signed bytes: the same envelope again is the same file (and the log gave the same entry)
    const created = await createFileDurable(join(runDir, file), JSON.stringify(record) + '\n', 0o644);
    this.log.info({ pipelineRun: p.pipelineRun, reviewer: p.reviewer.id, decision: p.decision, logIndex: record.logEntry.logIndex, created }, 'approval logged');
    return { record, created };
  }

  /** The approvals stored for a PipelineRun, by file name (order does not matter: the gate judges each alone). */
  async list(namespace: string, name: string): Promise<ApprovalRecord[]> {
    if (!NAME.test(namespace) || !NAME.test(name)) throw new VouchError('APPROVAL_INVALID', 'namespace and name must be Kubernetes names');
    const runDir = join(this.dir, namespace, name);
    let files: string[];
    try {
      files = (await readdir(runDir)).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new VouchError('IO', `cannot read ${runDir}: ${errorMessage(err)}`);
    }
    const out: ApprovalRecord[] = [];
    for (const f of files) out.push(JSON.parse(await readFile(join(runDir, f), 'utf8')) as ApprovalRecord);
    return out;
  }
}

/** The public keys in a directory (*.pub, *.pem): sidecar.reviewerKeys. A file that is not a key is an error. */
export async function loadReviewerKeys(dir: string): Promise<KeyObject[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => /\.(pub|pem)$/.test(f)).sort();
  } catch (err) {
    throw new VouchError('CONFIG_INVALID', `cannot read sidecar.reviewerKeys ${dir}: ${errorMessage(err)}`);
  }
  const keys: KeyObject[] = [];
  for (const n of names) keys.push(parsePublicKey(await readFile(join(dir, n)), join(dir, n)));
  return keys;
}

/** The /approvals routes, mounted by sidecarApp when the sidecar has an ApprovalDesk. */
export function approvalsRouter(desk: ApprovalDesk, auth: express.RequestHandler, maxBody: number): Router {
  const router = express.Router();
  const fail = (res: Response, err: unknown): void => {
    if (isVouchError(err, 'APPROVAL_INVALID') || isVouchError(err, 'STATEMENT_INVALID')) res.status(400).json(err.toJSON());
    else if (isVouchError(err, 'APPROVAL_REFUSED')) res.status(403).json(err.toJSON());
    else if (isVouchError(err, 'TLOG_REJECTED')) res.status(400).json(err.toJSON());
    else res.status(503).json({ code: 'SIDECAR_UNAVAILABLE', message: isVouchError(err) ? err.message : 'internal error; retry' });
  };
  router.post('/approvals', auth, express.json({ limit: Math.min(maxBody, 256 * 1024), type: () => true }), (req: Request, res: Response) => {
    desk.submit(req.body).then(
      ({ record, created }) => {
        res.status(created ? 201 : 200).json(record);
      },
      (err: unknown) => {
        fail(res, err);
      },
    );
  });
  router.get('/approvals/:namespace/:name', (req: Request, res: Response) => {
    desk.list(String(req.params['namespace']), String(req.params['name'])).then(
      (approvals) => {
        res.json({ approvals });
      },
      (err: unknown) => {
        fail(res, err);
      },
    );
  });
  return router;
}

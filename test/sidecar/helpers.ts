// Runs and events for the sidecar tests: a PipelineRun with N child TaskRuns as the runner (and Tekton) make them,
// the CloudEvents Tekton would send for them, and an embedded log + sidecar in a temp dir.
import { createHash, randomUUID } from 'node:crypto';
import { CloudEvent, HTTP } from 'cloudevents';
import { eventAttributes, eventData } from '../../src/tekton/events.ts';
import type { PipelineRun, TaskRun } from '../../src/tekton/types.ts';

export const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface RunSet {
  pr: PipelineRun;
  trs: TaskRun[];
  image: { url: string; sha256: string };
}

const T0 = '2026-11-24T10:00:00Z';
const T1 = '2026-11-24T10:01:00Z';

function cond(state: 'started' | 'running' | 'successful' | 'failed'): { type: string; status: string; reason: string; lastTransitionTime: string }[] {
  const status = state === 'successful' ? 'True' : state === 'failed' ? 'False' : 'Unknown';
  const reason = state === 'successful' ? 'Succeeded' : state === 'failed' ? 'Failed' : state === 'started' ? 'Started' : 'Running';
  return [{ type: 'Succeeded', status, reason, lastTransitionTime: T1 }];
}

/** A finished PipelineRun (`name`) with `children` TaskRuns; the last one reports IMAGE_URL/IMAGE_DIGEST. */
export function makeRun(name: string, children = 2, outcome: 'successful' | 'failed' = 'successful'): RunSet {
  const prUid = randomUUID();
  const ns = 'default';
  const image = { url: `registry.example/${name}`, sha256: sha(`image-${prUid}`) };
  const trs: TaskRun[] = [];
  for (let i = 0; i < children; i++) {
    const trName = `${name}-task${i}`;
    const last = i === children - 1;
    trs.push({
      apiVersion: 'tekton.dev/v1',
      kind: 'TaskRun',
      metadata: {
        name: trName,
        namespace: ns,
        uid: randomUUID(),
        labels: { 'tekton.dev/pipelineRun': name, 'tekton.dev/pipelineRunUID': prUid, 'tekton.dev/pipelineTask': `task${i}`, 'tekton.dev/task': `task${i}` },
        ownerReferences: [{ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', name, uid: prUid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { taskSpec: { steps: [{ name: 'build', image: 'busybox', script: 'true' }] }, serviceAccountName: 'default', timeout: '1h0m0s' },
      status: {
        conditions: cond(outcome === 'failed' && last ? 'failed' : 'successful'),
        podName: `${trName}-pod`,
        startTime: T0,
        completionTime: T1,
        steps: [{ name: 'build', container: 'step-build', imageID: `docker.io/library/busybox@sha256:${sha('busybox')}`, terminated: { exitCode: 0, reason: 'Completed', startedAt: T0, finishedAt: T1 } }],
        results: last ? [
          { name: 'IMAGE_URL', type: 'string', value: image.url },
          { name: 'IMAGE_DIGEST', type: 'string', value: `sha256:${image.sha256}` },
        ] : [],
        taskSpec: { steps: [{ name: 'build', image: 'busybox', script: 'true' }] },
      },
    } as unknown as TaskRun);
  }
  const pr = {
    apiVersion: 'tekton.dev/v1',
    kind: 'PipelineRun',
    metadata: { name, namespace: ns, uid: prUid, labels: { 'tekton.dev/pipeline': name } },
    spec: { pipelineSpec: { tasks: trs.map((_t, i) => ({ name: `task${i}`, taskSpec: { steps: [{ name: 'build', image: 'busybox', script: 'true' }] } })) }, taskRunTemplate: { serviceAccountName: 'default' } },
    status: {
      conditions: cond(outcome),
      startTime: T0,
      completionTime: T1,
      childReferences: trs.map((t, i) => ({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: t.metadata.name!, pipelineTaskName: `task${i}` })),
      pipelineSpec: { tasks: trs.map((_t, i) => ({ name: `task${i}`, taskSpec: { steps: [{ name: 'build', image: 'busybox', script: 'true' }] } })) },
    },
  } as unknown as PipelineRun;
  return { pr, trs, image };
}

/** The run in an earlier state (started/running): no completion, no results. */
export function inState<R extends TaskRun | PipelineRun>(run: R, state: 'started' | 'running'): R {
  const c = structuredClone(run);
  const status = (c.status ?? {}) as Record<string, unknown>;
  status['conditions'] = cond(state);
  delete status['completionTime'];
  delete status['results'];
  if (c.kind === 'PipelineRun') status['childReferences'] = [];
  return c;
}

/** The CloudEvent Tekton sends for a run's current state (v1beta1 payload, fresh id). */
export function eventFor(run: TaskRun | PipelineRun): CloudEvent<unknown> {
  return new CloudEvent<unknown>({ ...eventAttributes(run), data: eventData(run) }, true);
}

/** Every event of a run set, in the order Tekton would send them (starts, children's ends, the PipelineRun's end). */
export function eventsOf(set: RunSet): CloudEvent<unknown>[] {
  return [
    eventFor(inState(set.pr, 'started')),
    ...set.trs.map((t) => eventFor(inState(t, 'started'))),
    ...set.trs.map((t) => eventFor(t)),
    eventFor(set.pr),
  ];
}

import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { expect } from 'chai';
import { runVouch } from '../helpers/cli.ts';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { parsePrivateKey, generateKeyPair, publicKeyOf } from '../../src/attest/keys.ts';
import { verifyBundle } from '../../src/attest/verify.ts';
import { logger } from '../../src/common/log.ts';
import { Sidecar, serveSidecar, type SidecarOptions } from '../../src/sidecar/index.ts';
import { LocalStore } from '../../src/store/local.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { trustedRootFor, type TrustedRootJSON } from '../../src/tlog/trusted-root.ts';
import { tempDir } from '../helpers/tmp.ts';

export const quiet = logger().child({});
quiet.level = 'silent';

export const TOKEN = 'test-token-0123456789';

export function newKey(): KeyObject {
  return parsePrivateKey(generateKeyPair().privateKeyPem, 'test key');
}

export interface Harness {
  dir: string;
  key: KeyObject;
  log: EmbeddedLog;
  store: LocalStore;
  trustedRoot: TrustedRootJSON;
  sidecar: Sidecar;
  url: string;
  /** close sidecar and server, keep the log and the files */
  stop(): Promise<void>;
  /** reopen the sidecar on the same journal (a restart) */
  restart(extra?: Partial<SidecarOptions>): Promise<void>;
  close(): Promise<void>;
}

/** An embedded log, a local store and a sidecar serving HTTP with TOKEN, in a fresh temp dir. */
export async function harness(extra: Partial<SidecarOptions> = {}): Promise<Harness> {
  const dir = tempDir('vouch-sidecar-');
  const key = newKey();
  const log = await EmbeddedLog.open(join(dir, 'tlog'), { logger: quiet });
  const store = new LocalStore(join(dir, 'store'));
  const open = async (more: Partial<SidecarOptions>): Promise<{ sidecar: Sidecar; url: string; close: () => Promise<void> }> => {
    const sidecar = await Sidecar.open({ dataDir: join(dir, 'data'), privateKey: key, store, tlog: { embedded: log }, logger: quiet, retryMs: { first: 20, max: 200 }, ...extra, ...more });
    const server = await serveSidecar(sidecar, '127.0.0.1', 0, { token: TOKEN });
    return {
      sidecar,
      url: server.url,
      close: async () => {
        await server.close();
        await sidecar.close();
      },
    };
  };
  let current = await open({});
  let stopped = false;
  const h: Harness = {
    dir,
    key,
    log,
    store,
    trustedRoot: trustedRootFor(log),
    sidecar: current.sidecar,
    url: current.url,
    stop: async () => {
      if (!stopped) await current.close();
      stopped = true;
    },
    restart: async (more = {}) => {
      if (!stopped) await current.close();
      current = await open(more);
      stopped = false;
      h.sidecar = current.sidecar;
      h.url = current.url;
    },
    close: async () => {
      if (!stopped) await current.close();
      stopped = true;
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Every record stored for a run's image, each verified against the log's trusted root; returns them. */
export async function verifiedRecords(h: { store: LocalStore; trustedRoot: unknown; key: KeyObject }, set: RunSet): Promise<AttestationRecord[]> {
  const records = await h.store.list(set.image.sha256);
  for (const r of records) {
    const result = verifyBundle({ bundle: r.bundle, artifact: { sha256: set.image.sha256 }, policy: { publicKey: publicKeyOf(h.key) }, trustedRoot: h.trustedRoot });
    if (result.statement?.subject[0]?.name !== set.image.url) throw new Error(`subject name ${String(result.statement?.subject[0]?.name)} is not ${set.image.url}`);
  }
  return records;
}

/** POSTs an event in binary mode as Tekton does (token null: no Authorization header); returns the status. */
export async function post(url: string, event: CloudEvent<unknown>, token: string | null = TOKEN, mode: 'binary' | 'structured' = 'binary'): Promise<number> {
  const message = mode === 'binary' ? HTTP.binary(event) : HTTP.structured(event);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${url}/events`, { method: 'POST', headers, body: typeof message.body === 'string' ? message.body : JSON.stringify(message.body) });
  await res.arrayBuffer();
  return res.status;
}

/** An in-toto statement as the tests read it out of a stored bundle. */
export interface StoredStatement {
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

/**
 * Every Sigstore bundle `vouch run --store` wrote for one image digest, each checked with `vouch verify-bundle`
 * against the signer's public key and the log's trusted root (files in `root`), as statements by predicate type.
 */
export async function verifiedStoredStatements(store: string, imageDigest: string, root: string, count: number): Promise<Map<string, StoredStatement>> {
  const bundles = readdirSync(join(store, imageDigest)).filter((f) => f.endsWith('.sigstore.json'));
  expect(bundles).to.have.length(count);
  const statements = new Map<string, StoredStatement>();
  for (const b of bundles) {
    const path = join(store, imageDigest, b);
    const v = await runVouch(['verify-bundle', `sha256:${imageDigest}`, '--bundle', path, '--key', join(root, 'signer.pub'), '--trusted-root', join(root, 'trusted_root.json')]);
    expect(v.code, v.stderr + v.stdout).to.equal(0);
    const s = JSON.parse(Buffer.from((JSON.parse(readFileSync(path, 'utf8')) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString('utf8')) as StoredStatement;
    statements.set(s.predicateType, s);
  }
  return statements;
}

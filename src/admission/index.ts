// The admission room: judge images before they run (docs/admission.md).
//
//   const engine = new AdmissionEngine({ policies, stores, approvalDirs, trustedRoot, rekor })  // engine.ts
//   await engine.judgeImage('registry/app@sha256:…', { namespace: 'prod' })   // ImageVerdict, never throws
//   const webhook = new AdmissionWebhook({ engine, budgetMs, logBreakGlass, auditLog })          // webhook.ts
//   await serveWebhook(webhook, { cert, key }, host, port)    // POST /admission over HTTPS
//   await startAdmission(config)                              // all of it from config section `admission`
//   imagesOf(object)                                           // images.ts: every image of a pod carrier
//   vsaStatement / signVsa / breakGlassStatement               // vsa.ts: what the room signs
//   readAuditLog(path, digest)                                 // audit.ts: decisions about a digest

import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { loadPrivateKey } from '../attest/keys.ts';
import { rekorWitness } from '../attest/sign.ts';
import { prepareTrustedRoot, type PreparedTrustedRoot } from '../attest/verify.ts';
import type { VouchConfig } from '../common/config.ts';
import { errorMessage, VouchError } from '../common/errors.ts';
import { loadAdmissionPolicies } from '../policy/admission.ts';
import { createStore } from '../store/index.ts';
import { RekorClient } from '../tlog/client.ts';
import { readLogIdentity } from '../tlog/log.ts';
import { trustedRootFor } from '../tlog/trusted-root.ts';
import { AdmissionEngine } from './engine.ts';
import { breakGlassLogger } from './vsa.ts';
import type { PullSecretSource } from './credentials.ts';
import { AdmissionWebhook, serveWebhook, type RunningWebhook } from './webhook.ts';
import { readTlsFiles } from './tls-files.ts';

export { AdmissionEngine, type EngineOptions, type ImageVerdict, type JudgeContext } from './engine.ts';
export { AdmissionWebhook, serveWebhook, type RunningWebhook, type ServeWebhookOptions, type WebhookOptions, type BreakGlassRecord } from './webhook.ts';
export { TlsFileWatch, readTlsFiles, type TlsCheck, type TlsFiles, type TlsPair } from './tls-files.ts';
export { imagesOf, imagesOfPodSpec, podSpecOf, distinctImages, CARRIERS, type ImageUse } from './images.ts';
export { vsaStatement, signVsa, breakGlassStatement, breakGlassLogger, VERIFIER_ID, BREAK_GLASS_PREDICATE } from './vsa.ts';
export { readAuditLog, type AuditRecord } from './audit.ts';
export { credentialsFromSecret, pullCredentials, normalizeRegistryKey, type PullSecretSource, type SecretData } from './credentials.ts';

/** The trusted root of the log attestations are in: a file, or the embedded log's own (read without locking it). */
export async function trustedRootFrom(options: { file?: string; logData?: string }): Promise<PreparedTrustedRoot | undefined> {
  if (options.file) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(options.file, 'utf8'));
    } catch (err) {
      throw new VouchError('TRUSTED_ROOT_INVALID', `cannot read the trusted root ${options.file}: ${errorMessage(err)}`);
    }
    return prepareTrustedRoot(json, options.file);
  }
  if (options.logData) return prepareTrustedRoot(trustedRootFor(await readLogIdentity(options.logData)), `the log in ${options.logData}`);
  return undefined;
}

/** The webhook as config section `admission` describes it; undefined when admission.listen is empty. */
export async function startAdmission(config: VouchConfig, extra: { pullSecrets?: PullSecretSource } = {}): Promise<RunningWebhook | undefined> {
  const a = config.admission;
  if (a.listen === '') return undefined;
  if (a.tlsCert === '' || a.tlsKey === '') throw new VouchError('CONFIG_INVALID', 'admission.listen is set: admission.tlsCert and admission.tlsKey must name the PEM certificate and key (the API server only calls webhooks over HTTPS)');
  if (a.policy === '') throw new VouchError('CONFIG_INVALID', 'admission.listen is set: admission.policy must name the AdmissionPolicy file');
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(a.listen);
  if (!m || Number(m[2]) > 65535) throw new VouchError('CONFIG_INVALID', `admission.listen ${JSON.stringify(a.listen)} is not HOST:PORT`);
  if (!Number.isFinite(a.tlsReloadSeconds) || a.tlsReloadSeconds < 0) throw new VouchError('CONFIG_INVALID', `admission.tlsReloadSeconds must be 0 (read at start only) or more, got ${String(a.tlsReloadSeconds)}`);
  const tlsFiles = { certFile: a.tlsCert, keyFile: a.tlsKey };
  const { cert, key } = await readTlsFiles(tlsFiles);
  // the audit log must be writable before the first decision: a decision that cannot be recorded is a denial
  if (a.auditLog !== '') {
    try {
      await mkdir(dirname(a.auditLog), { recursive: true });
    } catch (err) {
      throw new VouchError('CONFIG_INVALID', `admission.auditLog: cannot create the directory of ${a.auditLog}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
  }
  const trustedRoot = await trustedRootFrom(a.trustedRoot !== '' ? { file: a.trustedRoot } : config.tlog.url === '' ? { logData: config.tlog.data } : {});
  const engine = new AdmissionEngine({
    policies: loadAdmissionPolicies(a.policy),
    stores: [createStore(config, { localDir: config.sidecar.store })],
    approvalDirs: a.approvals.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    ...(trustedRoot ? { trustedRoot } : {}),
    ...(config.tlog.url !== '' ? { rekor: new RekorClient(config.tlog.url, { timeoutMs: 2000 }) } : {}),
    noMatch: a.noMatch,
    acceptVsa: a.acceptVsa,
    registryTimeoutMs: a.registryTimeoutMs,
    cache: { ttlMs: a.cacheTtlSeconds * 1000, maxEntries: a.cacheMaxEntries },
  });
  // break-glass must be logged before it admits: with a remote log (tlog.url) and the signing key; the embedded log
  // is held by the sidecar's own process, so there a break-glass is refused (and says why)
  const logBreakGlass =
    config.tlog.url !== '' && config.signing.key !== ''
      ? breakGlassLogger({ privateKey: await loadPrivateKey(config.signing.key, process.env[config.signing.passwordEnv]), witness: rekorWitness({ rekorBaseURL: config.tlog.url, timeout: 3000, retry: 0 }) })
      : undefined;
  const webhook = new AdmissionWebhook({
    engine,
    budgetMs: a.budgetMs,
    breakGlassAnnotation: engine.options.policies[0]?.breakGlassAnnotation ?? 'vouch.dev/break-glass',
    ...(logBreakGlass ? { logBreakGlass } : {}),
    ...(a.auditLog !== '' ? { auditLog: a.auditLog } : {}),
    ...(extra.pullSecrets ? { pullSecrets: extra.pullSecrets } : {}),
  });
  return serveWebhook(webhook, { cert, key }, m[1]!.replace(/^\[|\]$/g, ''), Number(m[2]), { tlsFiles: { ...tlsFiles, reloadEveryMs: a.tlsReloadSeconds * 1000 } });
}

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import {
  AdmissionEngine,
  imagesOf,
  readAuditLog,
  signVsa,
  trustedRootFrom,
  type ImageVerdict,
} from '../admission/index.ts';
import { loadPrivateKey } from '../attest/keys.ts';
import { rekorWitness } from '../attest/sign.ts';
import { ExitCode, VouchError, errorMessage } from '../common/errors.ts';
import { defaultPolicy, keyIdOf, loadAdmissionPolicies, parseKey, PREDICATES, provenanceView, type AdmissionPolicy, type Approver, type VerifiedAttestation } from '../policy/admission.ts';
import { LocalStore, OciStore, type AttestationStore } from '../store/index.ts';
import { RekorClient } from '../tlog/client.ts';
import { EmbeddedLog } from '../tlog/log.ts';
import { EmbeddedLogWitness } from '../tlog/witness.ts';
import { action, collect, out, setup } from './context.ts';

// `vouch verify`: the admission engine from a terminal or a deploy pipeline (same engine as the webhook), and
// `vouch audit`: an artifact's chain of custody from the store, the log and the webhook's audit log.

export interface VerifyFlags {
  file?: string[];
  policy?: string;
  key?: string[];
  approver?: string[];
  approvals?: string[];
  store?: string;
  oci?: boolean;
  rekor?: string;
  logData?: string;
  trustedRoot?: string;
  namespace?: string;
  output: string;
  vsa?: string;
  signKey?: string;
}


function keysFrom(paths: string[]): AdmissionPolicy['keys'] {
  return paths.map((p) => {
    let pem: Buffer;
    try {
      pem = readFileSync(p);
    } catch (err) {
      throw new VouchError('IO', `cannot read the key ${p}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
    const key = parseKey(pem, p);
    return { name: p, key, keyId: keyIdOf(key) };
  });
}

/** `ID=PUB[:group,group]`: an approver of the default policy. */
function approversFrom(specs: string[]): Approver[] {
  return specs.map((s) => {
    const m = /^([^=]+)=([^:]+)(?::(.*))?$/.exec(s);
    if (!m) throw new VouchError('USAGE', `--approver ${JSON.stringify(s)}: expected ID=PUBLIC_KEY_FILE[:group,group]`);
    const [k] = keysFrom([m[2]!]);
    // no accounts on the command line: the requester rule needs a policy file (spec.approvers[].accounts)
    return { ...k!, id: m[1]!, name: m[1]!, groups: (m[3] ?? '').split(',').filter((g) => g !== ''), accounts: [] };
  });
}

export async function buildEngine(opts: VerifyFlags, storeDefault: string, acceptVsa: boolean): Promise<{ engine: AdmissionEngine; policies: AdmissionPolicy[] }> {
  if (opts.rekor && opts.logData) throw new VouchError('USAGE', 'give --rekor URL or --log-data DIR, not both');
  const policies = opts.policy ? loadAdmissionPolicies(opts.policy) : [defaultPolicy(keysFrom(opts.key ?? []), approversFrom(opts.approver ?? []))];
  if (opts.policy && (opts.key?.length ?? 0) > 0) {
    // extra --key on top of a policy file: trusted by every policy
    const extra = keysFrom(opts.key!);
    for (const p of policies) p.keys.push(...extra);
  }
  const stores: AttestationStore[] = [new LocalStore(opts.store ?? storeDefault)];
  if (opts.oci) stores.push(new OciStore({ timeoutMs: 10_000 }));
  const trustedRoot = await trustedRootFrom({ ...(opts.trustedRoot ? { file: opts.trustedRoot } : {}), ...(opts.logData ? { logData: opts.logData } : {}) });
  const engine = new AdmissionEngine({
    policies,
    stores,
    approvalDirs: opts.approvals ?? [],
    ...(trustedRoot ? { trustedRoot } : {}),
    ...(opts.rekor ? { rekor: new RekorClient(opts.rekor, { timeoutMs: 10_000 }) } : {}),
    acceptVsa,
    registryTimeoutMs: 10_000,
  });
  return { engine, policies };
}

/** Every image of every pod carrier in Kubernetes manifests (multi-document YAML, List kinds), with its namespace. */
function manifestImages(files: string[], namespace: string): { image: string; namespace: string; where: string }[] {
  const out: { image: string; namespace: string; where: string }[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new VouchError('IO', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
    parseAllDocuments(text).forEach((doc, i) => {
      if (doc.errors.length > 0) throw new VouchError('INPUT_INVALID', `${file}: document ${String(i + 1)} is not valid YAML: ${doc.errors[0]!.message}`);
      const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
      const objects = isObj(value) && Array.isArray(value['items']) && String(value['kind']).endsWith('List') ? (value['items'] as unknown[]) : [value];
      for (const o of objects) {
        if (!isObj(o)) continue;
        const md = isObj(o['metadata']) ? o['metadata'] : {};
        const ns = typeof md['namespace'] === 'string' ? md['namespace'] : namespace;
        try {
          for (const u of imagesOf(o)) out.push({ image: u.image, namespace: ns, where: `${file}: ${String(o['kind'])} ${typeof md['name'] === 'string' ? md['name'] : ''} ${u.path}` });
        } catch (err) {
          throw new VouchError('INPUT_INVALID', `${file}: ${String(o['kind'])}: ${errorMessage(err)}`);
        }
      }
    });
  }
  return out;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const MARK: Record<string, string> = { pass: '✓', fail: '✗', warn: '!', excepted: '~' };

function printText(v: ImageVerdict, where: string[]): void {
  out(`${v.allowed ? 'ADMITTED' : 'DENIED'}  ${v.image}${v.digest && !v.image.includes('@') ? `  (sha256:${v.digest})` : ''}  [${v.via}]`);
  for (const w of where) out(`  used at ${w}`);
  if (v.policies.length === 0) for (const r of v.reasons) out(`  ✗ ${r}`);
  for (const p of v.policies) {
    out(`  policy ${p.policy} (${p.mode})`);
    for (const r of p.rules) {
      out(`    ${MARK[r.outcome] ?? '?'} ${r.outcome.padEnd(8)} ${r.code.padEnd(22)} ${r.message}`);
      if (r.outcome !== 'pass') {
        for (const e of r.evidence.slice(0, 10)) out(`        evidence: ${e}`);
        if (r.fix) out(`        fix: ${r.fix}`);
        if (r.exception) out(`        exception: ${r.exception.reference} (until ${r.exception.until.slice(0, 10)})`);
      }
    }
  }
  for (const w of v.warnings) out(`  warning: ${w}`);
}

async function vsaSigner(opts: VerifyFlags): Promise<{ sign: (v: ImageVerdict, policy: AdmissionPolicy) => Promise<unknown>; close: () => Promise<void> }> {
  const privateKey = await loadPrivateKey(opts.signKey!, process.env['VOUCH_KEY_PASSWORD']);
  if (opts.rekor) {
    const witness = rekorWitness({ rekorBaseURL: opts.rekor });
    return { sign: async (v, p) => (await signVsa(v, { uri: p.source, sha256: p.digest }, { privateKey, witness })).json, close: () => Promise.resolve() };
  }
  if (!opts.logData) throw new VouchError('USAGE', '--vsa: a VSA is logged too: give --rekor URL or --log-data DIR');
  const log = await EmbeddedLog.open(opts.logData);
  return { sign: async (v, p) => (await signVsa(v, { uri: p.source, sha256: p.digest }, { privateKey, witness: new EmbeddedLogWitness(log) })).json, close: () => log.close() };
}

/** Where the evidence is and whom to trust: the same options for verify, audit and report. */
export function evidenceOptions(cmd: Command): Command {
  return cmd
    .option('--key <pub>', 'PEM public key trusted to sign evidence (repeatable; the default policy needs one)', collect)
    .option('--approver <id=pub[:groups]>', 'an approver of the default policy, e.g. alice@example.com=alice.pub:security (repeatable)', collect)
    .option('--approvals <dir>', 'directory of approval bundles (repeatable)', collect)
    .option('--store <dir>', 'local attestation store (default: config sidecar.store)')
    .option('--trusted-root <file>', 'trusted_root.json of the log (default: public-good, or the --log-data log)');
}

export function registerVerify(program: Command): void {
  const verifyCommand = program
    .command('verify')
    .description(
      'judge container images as the admission webhook would: the digest (tags are resolved), its attestations in the ' +
        'store (and the log), each verified (signature by a trusted key, log inclusion, subject = digest), then the ' +
        'policy, rule by rule. Without --policy, the documented default policy (docs/admission.md) with the --key(s). ' +
        'Exit 0 only when every image is admitted.',
    )
    .argument('[images...]', 'image references (registry/repo@sha256:… or :tag)')
    .option('-f, --file <manifest>', 'Kubernetes manifest(s): judge every image of every pod carrier in them (repeatable)', collect)
    .option('--policy <file>', 'AdmissionPolicy YAML (several documents, or a ConfigMap holding them)');
  evidenceOptions(verifyCommand)
    .option('--oci', "also read cosign-style .att attestations from each image's registry")
    .option('--rekor <url>', 'Rekor v1 log: searched by digest (/api/v1/index/retrieve) and used to log the VSA')
    .option('--log-data <dir>', 'the embedded log: its trusted root is used, and the VSA is logged there')
    .option('--namespace <ns>', 'namespace to judge manifests in when they name none', '')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .option('--vsa <dir>', 'write a signed SLSA VSA (verification_summary/v1) per image to DIR, and put it in the store')
    .option('--sign-key <file>', 'private key that signs the VSA (default: config signing.key)')
    .addHelpText(
      'after',
      `
Exit codes: 0 every image admitted; 1 an image denied [ADMISSION_DENIED]; 2 bad usage, policy or manifest; 3 unavailable.

Examples:
  vouch verify --key sidecar.pub --approver alice@example.com=alice.pub:security --approvals approvals/ \\
      --log-data .vouch/tlog registry.example/app@sha256:…
  vouch verify --policy prod-policy.yaml -f deploy/ -o json
  vouch verify --policy p.yaml --vsa vsa/ --sign-key sidecar.key --log-data .vouch/tlog registry.example/app:1.2`,
    )
    .action(
      action(async (images: string[], opts: VerifyFlags, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        if (!['text', 'json', 'yaml'].includes(opts.output)) throw new VouchError('USAGE', `-o ${opts.output}: use text, json or yaml`);
        const targets = [...images.map((image) => ({ image, namespace: opts.namespace ?? '', where: 'command line' })), ...manifestImages(opts.file ?? [], opts.namespace ?? '')];
        if (targets.length === 0) throw new VouchError('USAGE', 'name at least one image, or a manifest with -f');
        opts.signKey ??= config.signing.key !== '' ? config.signing.key : undefined;
        if (opts.vsa && !opts.signKey) throw new VouchError('USAGE', '--vsa needs --sign-key (or config signing.key)');
        const { engine, policies } = await buildEngine(opts, config.sidecar.store, false);
        const seen = new Map<string, { verdict: ImageVerdict; where: string[] }>();
        for (const t of targets) {
          const k = `${t.namespace}|${t.image}`;
          const hit = seen.get(k);
          if (hit) hit.where.push(t.where);
          else seen.set(k, { verdict: await engine.judgeImage(t.image, { namespace: t.namespace }), where: [t.where] });
        }
        const results = [...seen.values()];
        const vsas: string[] = [];
        if (opts.vsa) {
          mkdirSync(opts.vsa, { recursive: true });
          const signer = await vsaSigner(opts);
          try {
            for (const r of results) {
              if (r.verdict.digest === '' || r.verdict.policies.length === 0) continue;
              const policy = policies.find((p) => p.name === r.verdict.policies[0]!.policy)!;
              const bundle = await signer.sign(r.verdict, policy);
              const path = join(opts.vsa, `sha256-${r.verdict.digest}.vsa.sigstore.json`);
              writeFileSync(path, `${JSON.stringify(bundle)}\n`);
              await new LocalStore(opts.store ?? config.sidecar.store).put({ subject: { name: r.verdict.repository, sha256: r.verdict.digest }, predicateType: PREDICATES.vsa, runUid: `vsa-${String(Date.now())}`, bundle: bundle as never });
              vsas.push(path);
            }
          } finally {
            await signer.close();
          }
        }
        const admitted = results.every((r) => r.verdict.allowed);
        if (opts.output === 'text') {
          for (const r of results) printText(r.verdict, r.where);
          for (const p of vsas) out(`VSA written: ${p}`);
          out(admitted ? `admitted: ${String(results.length)} image(s)` : `denied: ${String(results.filter((r) => !r.verdict.allowed).length)} of ${String(results.length)} image(s)`);
        } else {
          const doc = { admitted, images: results.map((r) => ({ ...r.verdict, usedAt: r.where })), vsas };
          out(opts.output === 'json' ? JSON.stringify(doc, null, 2) : stringify(doc));
        }
        return admitted ? ExitCode.ok : ExitCode.failed;
      }),
    );
}

interface AuditFlags {
  key?: string[];
  approver?: string[];
  approvals?: string[];
  store?: string;
  rekor?: string;
  logData?: string;
  trustedRoot?: string;
  auditLog?: string;
  output: string;
}

/** What a reader wants from each predicate, in words (field names of CONTRACTS.md and the predicates' specs). */
function summarize(a: VerifiedAttestation): string[] {
  const p = (a.predicate ?? {}) as Record<string, unknown>;
  const pick = (...keys: string[]): string =>
    keys
      .filter((k) => p[k] !== undefined)
      .map((k) => `${k}=${typeof p[k] === 'string' ? p[k] : JSON.stringify(p[k])}`)
      .join(', ');
  const view = provenanceView(a.predicateType, a.predicate);
  if (view) {
    return [
      `builder ${view.builderId}, buildType ${view.buildType}, pipeline ${view.pipeline || '(unknown)'}`,
      `source ${view.source.repository || '(unknown)'} @ ${view.source.commit || '(unknown)'}`,
      ...view.tasks.map((t) => `task ${t.name}: ${t.status || 'status not recorded'}${t.ref.uri ? ` from ${t.ref.uri}${t.ref.pinned ? '' : ' (not pinned)'}` : ''}`),
      ...view.evidence.map((e) => `evidence ${e.name}: ${e.predicateType} sha256:${e.sha256}`),
    ];
  }
  switch (a.predicateType) {
    case PREDICATES['agent-run']:
      return agentRunSummary(p);
    case PREDICATES['risk-assessment']:
      return [pick('tier', 'requiredApprovals', 'headRevision', 'baseRevision', 'repository', 'changedFiles')];
    case PREDICATES['test-result']:
      return [pick('result'), `failed: ${JSON.stringify(p['failedTests'] ?? [])}`];
    case PREDICATES.vulns:
      return [`${String(((p['scanner'] as Record<string, unknown> | undefined)?.['result'] as unknown[] | undefined)?.length ?? 0)} finding(s)`];
    case PREDICATES.vsa:
      return [pick('verificationResult', 'timeVerified', 'resourceUri', 'verifiedLevels')];
    default:
      return [pick('bomFormat', 'specVersion') || `${String(Object.keys(p).length)} field(s)`];
  }
}

/** The agent-run predicate (docs/predicates.md) in a few lines: who ran, on what prompt, inside which walls. */
function agentRunSummary(p: Record<string, unknown>): string[] {
  const o = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const s = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '?' : JSON.stringify(v));
  const agent = o(p['agent']);
  const model = o(p['model']);
  const prompt = o(p['prompt']);
  const network = o(o(p['sandbox'])['network']);
  const egress = o(p['egress']);
  const transcript = o(p['transcript']);
  const hosts = Array.isArray(network['allowedHosts']) ? network['allowedHosts'].map(s).join(', ') || 'none' : '?';
  return [
    `run ${s(p['runId'])}: agent ${s(agent['name'])} ${s(agent['version'])}, model ${s(model['reported'] ?? model['requested'])}, outcome ${s(p['outcome'])}`,
    `prompt version ${s(prompt['version'])}, sha256:${s(o(prompt['digest'])['sha256'])}`,
    `sandbox ${s(o(p['sandbox'])['runtime'])}, egress allowed to ${hosts}: ${s(egress['attempts'])} attempt(s), ${s(egress['refused'])} refused`,
    `transcript sha256:${s(o(transcript['digest'])['sha256'])}, ${s(transcript['toolCalls'])} tool call(s); commit ${s(o(p['repository'])['commit'])}`,
  ];
}

export function registerAudit(program: Command): void {
  const auditCommand = program
    .command('audit')
    .description(
      "replay an image's chain of custody: every attestation about its digest in the store (verified against --key, " +
        'with its log entry): agent run, provenance (pipeline, source, tasks, gate evidence), risk and approvals, VSAs; ' +
        "the log's entries for the digest; and the webhook's admission decisions on it (break-glass included).",
    )
    .argument('<image>', 'image reference (a tag is resolved)');
  evidenceOptions(auditCommand)
    .option('--rekor <url>', 'Rekor v1 log to search by digest')
    .option('--log-data <dir>', 'the embedded log whose trusted root verifies the entries')
    .option('--audit-log <file>', "the webhook's audit log (default: config admission.auditLog)")
    .option('-o, --output <format>', 'text or json', 'text')
    .action(
      action(async (image: string, opts: AuditFlags, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        if (!['text', 'json'].includes(opts.output)) throw new VouchError('USAGE', `-o ${opts.output}: use text or json`);
        if ((opts.key ?? []).length === 0) throw new VouchError('USAGE', 'audit verifies what it shows: give the signer key(s) with --key');
        const { engine } = await buildEngine({ ...opts, output: 'text' }, config.sidecar.store, false);
        const verdict = await engine.judgeImage(image, { namespace: '' });
        if (verdict.digest === '') throw new VouchError('ADMISSION_DENIED', `${image}: ${verdict.reasons.join('; ')}`);
        const evidence = await engine.gather(verdict.repository, verdict.digest);
        const decisions = await readAuditLog(opts.auditLog ?? config.admission.auditLog, verdict.digest);
        const chain = evidence.attestations.map((a) => ({ predicateType: a.predicateType, signer: a.keyId, log: a.log, source: a.source, summary: summarize(a) }));
        if (opts.output === 'json') {
          out(JSON.stringify({ image, digest: verdict.digest, attestations: chain, approvals: evidence.approvals.map((a) => ({ ...a })), rejected: evidence.rejected, logEntries: evidence.logEntries ?? null, decisions: decisions.records, damagedAuditLines: decisions.damagedLines }, null, 2));
          return ExitCode.ok;
        }
        out(`chain of custody of ${verdict.repository}@sha256:${verdict.digest}`);
        for (const c of chain) {
          out(`- ${c.predicateType}`);
          out(`    signed by key ${c.signer.slice(0, 16)}…, log ${c.log.url} entry #${c.log.logIndex}${c.log.integratedTime ? ` at ${c.log.integratedTime}` : ''}`);
          for (const s of c.summary) out(`    ${s}`);
        }
        for (const a of evidence.approvals) {
          const p = a.predicate as { decision?: string; reviewer?: { id?: string }; timestamp?: string };
          out(`- approval: ${String(p.decision)} by ${String(p.reviewer?.id)} at ${String(p.timestamp)} (key ${a.keyId.slice(0, 16)}…, log entry #${a.log.logIndex})`);
        }
        for (const r of evidence.rejected) out(`- NOT VERIFIED ${r.predicateType} (${r.source}): ${r.reason}`);
        if (evidence.logEntries) out(`log entries indexed under this digest: ${String(evidence.logEntries.length)}`);
        out(`admission decisions: ${String(decisions.records.length)}${decisions.damagedLines ? ` (${String(decisions.damagedLines)} damaged line(s) skipped)` : ''}`);
        for (const d of decisions.records) {
          const img = d.images.find((i) => i.digest === verdict.digest)!;
          out(`  ${d.time} ${d.operation} ${d.kind} ${d.namespace}/${d.name} by ${d.user}: ${d.breakGlass ? 'BREAK-GLASS ' : ''}${img.allowed ? 'allowed' : d.allowed ? 'allowed (break-glass)' : 'denied'}${img.reasons.length ? ` (${img.reasons.join('; ')})` : ''}`);
        }
        return ExitCode.ok;
      }),
    );
}

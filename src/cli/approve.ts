import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { signApproval, type ApprovalPredicate } from '../attest/approval.ts';
import { loadPrivateKey, publicKeyPem } from '../attest/keys.ts';
import { sha256Hex } from '../common/digest.ts';
import { VouchError, errorMessage } from '../common/errors.ts';
import { renderBrief } from '../policy/index.ts';
import { REPORTS_DIR } from '../stages/framework.ts';
import { ASSESSMENT_FILE, BRIEF_FILE, DEFAULT_TRANSCRIPT, assess, briefInput, type RiskAssessmentPredicate } from '../stages/classify/index.ts';
import { action, out, setup } from './context.ts';

// `vouch approve` / `vouch reject`: a reviewer signs an approval statement (docs/risk.md) with their own key, bound
// to the risk assessment they read (its bytes' digest, its repository, pull request and head commit) and to the
// PipelineRun, and submits it to the sidecar, which logs it. `vouch brief` prints the reviewer brief.

interface DecideOptions {
  run: string;
  key: string;
  reviewer: string;
  comment?: string;
  assessment?: string;
  source: string;
  sidecar?: string;
}

async function decide(decision: 'approve' | 'reject', opts: DecideOptions, cmd: Command): Promise<number> {
  const config = setup(cmd);
  const file = opts.assessment ?? join(resolve(opts.source), REPORTS_DIR, 'classify', ASSESSMENT_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new VouchError('USAGE', `cannot read the risk assessment ${file} (--assessment): ${errorMessage(err)}`);
  }
  let a: RiskAssessmentPredicate;
  try {
    a = JSON.parse(text) as RiskAssessmentPredicate;
  } catch {
    throw new VouchError('INPUT_INVALID', `${file} is not JSON`);
  }
  const privateKey = await loadPrivateKey(opts.key, process.env[config.signing.passwordEnv] || undefined);
  const predicate: ApprovalPredicate = {
    decision,
    reviewer: { id: opts.reviewer },
    repository: a.repository,
    pullRequest: a.pullRequest,
    headCommit: a.headRevision,
    pipelineRun: opts.run,
    riskAssessment: { digest: { sha256: sha256Hex(text) }, tier: a.tier },
    ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
    timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  // validates every field (STATEMENT_INVALID names the one that is wrong)
  const { envelope } = signApproval(predicate, privateKey);
  const url = `${(opts.sidecar ?? `http://${config.sidecar.listen}`).replace(/\/+$/, '')}/approvals`;
  const token = process.env[config.sidecar.tokenEnv];
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ envelope, publicKey: publicKeyPem(privateKey) }),
      redirect: 'error',
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new VouchError('SIDECAR_UNAVAILABLE', `POST ${url}: ${errorMessage(err)}`);
  }
  const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string; logEntry?: { logIndex: number; uuid: string } };
  if (res.status === 401) throw new VouchError('SIDECAR_UNAUTHORIZED', `POST ${url}: the sidecar wants its bearer token (environment variable ${config.sidecar.tokenEnv})`);
  if (res.status === 403) throw new VouchError('APPROVAL_REFUSED', `the sidecar refused the ${decision}: ${body.message ?? ''}`);
  if (res.status === 400) throw new VouchError('APPROVAL_INVALID', `the sidecar refused the ${decision}: ${body.message ?? ''}`);
  if (res.status !== 201 && res.status !== 200) throw new VouchError('SIDECAR_UNAVAILABLE', `POST ${url}: HTTP ${String(res.status)} ${body.message ?? ''}`);
  out(`${decision === 'approve' ? 'approved' : 'rejected'} ${a.repository}@${a.headRevision} (${a.tier} risk) for ${opts.run} as ${opts.reviewer}; logged at index ${String(body.logEntry?.logIndex ?? '?')}`);
  return 0;
}

function decisionCommand(program: Command, decision: 'approve' | 'reject'): void {
  program
    .command(decision)
    .description(decision === 'approve' ? 'approve a change waiting in a PipelineRun\'s gate: sign an approval with your key and submit it to the sidecar' : 'reject a change waiting in a PipelineRun\'s gate (ends the wait: the gate fails)')
    .requiredOption('--run <namespace/name>', 'the PipelineRun whose gate waits')
    .requiredOption('--key <file>', 'your private key (PEM; password from the env var signing.passwordEnv names)')
    .requiredOption('--reviewer <id>', 'your identity as the base policy\'s reviewers section names it')
    .option('--comment <text>', 'a comment recorded in the signed statement')
    .option('--assessment <file>', 'the risk assessment you reviewed (default: <source>/.vouch/reports/classify/risk-assessment.json)')
    .option('--source <dir>', 'the run\'s source workspace', '.')
    .option('--sidecar <url>', 'the sidecar (default: http://<config sidecar.listen>); its bearer token from the env var sidecar.tokenEnv names')
    .action(action((opts: DecideOptions, cmd: Command) => decide(decision, opts, cmd)));
}

export function registerApprove(program: Command): void {
  decisionCommand(program, 'approve');
  decisionCommand(program, 'reject');
  program
    .command('brief')
    .description('print the reviewer brief of a change (Markdown): the gate\'s or classify\'s report, or, with --base and --head, made afresh from git')
    .option('--source <dir>', 'the source workspace', '.')
    .addOption(new Option('--base <rev>', 'base revision (with --head: build the brief now)'))
    .addOption(new Option('--head <rev>', 'head revision'))
    .option('--repository <url>', 'repository URL for a fresh brief', '')
    .option('--pull-request <n>', 'pull request number for a fresh brief', '')
    .option('--lockfile <file>', 'npm lockfile for a fresh brief', 'package-lock.json')
    .action(
      action(async (opts: { source: string; base?: string; head?: string; repository: string; pullRequest: string; lockfile: string }, cmd: Command): Promise<number> => {
        setup(cmd);
        const source = resolve(opts.source);
        if (opts.base !== undefined || opts.head !== undefined) {
          if (opts.base === undefined || opts.head === undefined) throw new VouchError('USAGE', '--base and --head go together');
          const a = await assess(source, { base: opts.base, head: opts.head, repository: opts.repository, pullRequest: opts.pullRequest, lockfile: opts.lockfile });
          out(renderBrief(await briefInput(source, a, DEFAULT_TRANSCRIPT)).trimEnd());
          return 0;
        }
        for (const stage of ['gate', 'classify']) {
          try {
            out((await readFile(join(source, REPORTS_DIR, stage, BRIEF_FILE), 'utf8')).trimEnd());
            return 0;
          } catch {
            // try the next
          }
        }
        throw new VouchError('USAGE', `no brief in ${join(source, REPORTS_DIR)} (run vouch task classify, or give --base and --head)`);
      }),
    );
}

// `vouch report`: the reviewer's HTML page of a run with what only the signed evidence can say: the provenance graph
// (what went in, the run, what came out, the statements about it) and the admission verdict on each image. It reads
// the stages' reports from the workspace (as the `report` finally task does) and judges the images with the same
// engine as `vouch verify` and the webhook, so every statement shown has been verified (signature, log entry,
// subject) before it is drawn; what did not verify is listed as such.

import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { errorMessage, ExitCode, VouchError } from '../common/errors.ts';
import { provenanceView } from '../policy/provenance-view.ts';
import type { Evidence } from '../policy/admission.ts';
import { REPORTS_DIR } from '../stages/framework.ts';
import { collectStageReports } from '../stages/report/collect.ts';
import { renderRunReport, type AdmissionView, type EvidenceView, type GraphNode, type ProvenanceView, type RunInfo } from '../stages/report/html.ts';
import type { ImageVerdict } from '../admission/engine.ts';
import { action, out, setup } from './context.ts';
import { buildEngine, evidenceOptions, type VerifyFlags } from './verify.ts';

interface ReportFlags extends Omit<VerifyFlags, 'output'> {
  source: string;
  out?: string;
}


/** The run facts the `report` finally task recorded (its summary.json), when it ran. */
function runInfoOf(source: string): { run: RunInfo; taskStatuses?: { task: string; status: string }[] } {
  try {
    const doc = JSON.parse(readFileSync(join(source, REPORTS_DIR, 'report', 'summary.json'), 'utf8')) as { run?: RunInfo; taskStatuses?: { task: string; status: string }[] };
    const run: RunInfo = {};
    for (const k of ['pipelineRun', 'status', 'repository', 'pullRequest', 'baseRevision', 'headRevision'] as const) {
      const v = doc.run?.[k];
      if (typeof v === 'string' && v !== '') run[k] = v;
    }
    const statuses = Array.isArray(doc.taskStatuses) ? doc.taskStatuses.filter((t) => typeof t.task === 'string' && typeof t.status === 'string') : [];
    return { run, ...(statuses.length ? { taskStatuses: statuses } : {}) };
  } catch {
    return { run: {} };
  }
}

function graphOf(verdict: ImageVerdict, evidence: Evidence): ProvenanceView | undefined {
  for (const a of evidence.attestations) {
    const view = provenanceView(a.predicateType, a.predicate);
    if (!view) continue;
    const inputs: GraphNode[] = [];
    if (view.source.repository) inputs.push({ label: view.source.repository, detail: view.source.commit ? `commit ${view.source.commit.slice(0, 12)}` : 'commit not recorded' });
    // vouch's provenance (Chains' slsa buildType) names tasks by TaskRun, <pipelinerun>-<task>: show the task
    const prefix = commonRunPrefix(view.tasks.map((t) => t.name));
    for (const t of view.tasks) inputs.push({ label: `task ${t.name.slice(prefix.length)}`, detail: t.ref.uri ? `${t.ref.uri}${t.ref.pinned ? '' : ' (not pinned)'}` : t.status || 'inline' });
    const p = a.predicate as { runDetails?: { metadata?: { invocationId?: string; startedOn?: string; finishedOn?: string } } };
    const meta = p.runDetails?.metadata ?? {};
    return {
      buildType: view.buildType,
      builderId: view.builderId,
      ...(meta.invocationId ? { invocationId: meta.invocationId } : {}),
      ...(meta.startedOn ? { startedOn: meta.startedOn } : {}),
      ...(meta.finishedOn ? { finishedOn: meta.finishedOn } : {}),
      inputs,
      outputs: [{ label: verdict.repository, detail: `sha256:${verdict.digest.slice(0, 20)}…` }],
    };
  }
  return undefined;
}

/** The `<pipelinerun>-` every name starts with, when there are several and they share one; else ''. */
function commonRunPrefix(names: readonly string[]): string {
  if (names.length < 2) return '';
  let prefix = names[0]!;
  for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const cut = prefix.lastIndexOf('-');
  return cut > 0 && names.every((n) => n.length > cut + 1) ? prefix.slice(0, cut + 1) : '';
}

function evidenceOf(verdict: ImageVerdict, evidence: Evidence): EvidenceView[] {
  const subject = `${verdict.repository}@sha256:${verdict.digest}`;
  const rows: EvidenceView[] = evidence.attestations.map((a) => ({ predicateType: a.predicateType, subjects: [subject], logIndex: Number(a.log.logIndex), verified: true, file: a.source }));
  for (const a of evidence.approvals) {
    const p = a.predicate as { decision?: unknown; reviewer?: { id?: unknown } };
    rows.push({ predicateType: `approval: ${String(p.decision)} by ${String(p.reviewer?.id)}`, subjects: [`commit ${a.subjectCommit}`], logIndex: Number(a.log.logIndex), verified: true, file: a.source });
  }
  for (const r of evidence.rejected) rows.push({ predicateType: r.predicateType, subjects: [subject], verified: false, problem: r.reason, file: r.source });
  return rows;
}

function admissionOf(verdict: ImageVerdict): AdmissionView {
  const rules = verdict.policies.flatMap((p) => p.rules.map((r) => ({ code: r.code, outcome: r.outcome, message: r.outcome === 'pass' ? r.message : `${r.message} (fix: ${r.fix})` })));
  const summary = verdict.allowed
    ? `admitted (${verdict.via}${verdict.warnings.length ? `; ${String(verdict.warnings.length)} warning(s)` : ''})`
    : `denied: ${verdict.reasons.length ? verdict.reasons.join('; ') : verdict.via}`;
  return { subject: verdict.digest ? `${verdict.repository}@sha256:${verdict.digest}` : verdict.image, allowed: verdict.allowed, summary, rules };
}

export function registerReport(program: Command): void {
  const reportCommand = program
    .command('report')
    .description(
      "write the reviewer's HTML report of a run: the stages' reports from the workspace, the provenance graph and " +
        'evidence of the first image (each statement verified), and the admission verdict on every image, judged as ' +
        '`vouch verify` and the webhook judge it',
    )
    .argument('<images...>', 'the image the run built (first), and any others to judge')
    .requiredOption('--source <dir>', "the run's source workspace (its .vouch/reports)")
    .option('--out <file>', 'where to write the page (default: <source>/.vouch/report.html)')
    .option('--policy <file>', 'AdmissionPolicy YAML (default: the documented default policy with --key)');
  evidenceOptions(reportCommand)
    .option('--log-data <dir>', 'the embedded log whose trusted root verifies the entries')
    .addHelpText('after', '\nExit codes: 0 the page was written (whatever the verdicts); 2 bad usage; 3 a store or registry is unavailable.')
    .action(
      action(async (images: string[], opts: ReportFlags, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        const source = resolve(opts.source);
        const { engine } = await buildEngine({ ...opts, output: 'text' }, config.sidecar.store, false);
        const verdicts: ImageVerdict[] = [];
        for (const image of images) verdicts.push(await engine.judgeImage(image, { namespace: '' }));
        const first = verdicts[0]!;
        const evidence = first.digest ? await engine.gather(first.repository, first.digest) : undefined;
        const collected = await collectStageReports(source);
        const { run, taskStatuses } = runInfoOf(source);
        const provenance = evidence ? graphOf(first, evidence) : undefined;
        const html = renderRunReport({
          generatedAt: new Date(),
          run,
          ...(taskStatuses ? { taskStatuses } : {}),
          stages: collected.stages,
          unreadable: collected.unreadable,
          ...(provenance ? { provenance } : {}),
          ...(evidence ? { evidence: evidenceOf(first, evidence) } : {}),
          admission: verdicts.map(admissionOf),
        });
        const file = resolve(opts.out ?? join(source, '.vouch', 'report.html'));
        try {
          writeFileSync(file, html);
        } catch (err) {
          throw new VouchError('IO', `cannot write the report ${file}: ${errorMessage(err)}`, { cause: err });
        }
        out(`report: ${file}`);
        return ExitCode.ok;
      }),
    );
}

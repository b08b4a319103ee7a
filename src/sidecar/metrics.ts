// Counters and gauges in Prometheus' text exposition format (version 0.0.4), written by hand: a handful of series
// does not need a client library.

const HELP: Record<string, [type: 'counter' | 'gauge', help: string]> = {
  vouch_sidecar_events_accepted_total: ['counter', 'events stored durably in the inbox'],
  vouch_sidecar_events_duplicate_total: ['counter', 'events already seen (same id, or same object uid and state)'],
  vouch_sidecar_events_ignored_total: ['counter', 'events that change nothing (late, standalone, custom runs, forged)'],
  vouch_sidecar_events_forged_total: ['counter', 'events ignored as suspected forgery'],
  vouch_sidecar_events_rejected_total: ['counter', 'events refused (unauthorized 401, invalid 400, busy or unavailable 503)'],
  vouch_sidecar_attestations_signed_total: ['counter', 'PipelineRuns attested: signed, logged, verified and stored'],
  vouch_sidecar_attestations_failed_total: ['counter', 'PipelineRuns that can never be attested (e.g. no subjects)'],
  vouch_sidecar_attestations_skipped_total: ['counter', 'PipelineRuns not attested by configuration (failed runs)'],
  vouch_sidecar_attempts_failed_total: ['counter', 'attestation attempts that failed and will be retried'],
  vouch_sidecar_reconciled_total: ['counter', 'finished PipelineRuns found by the reconcile (cluster mode) without any attestation'],
  vouch_sidecar_runs_expired_total: ['counter', 'unfinished runs given up after sidecar.maxWaitingSeconds'],
  vouch_sidecar_evidence_attested_total: ['counter', 'gate evidence statements (test results, SBOMs, scans...) signed, logged, verified and stored'],
  vouch_sidecar_evidence_refused_total: ['counter', 'gate evidence claims refused, by reason (outside_roots, digest_mismatch, unknown_type, unreadable, too_large, not_json, malformed, duplicate_type)'],
  vouch_sidecar_waiting_runs: ['gauge', 'unfinished PipelineRuns held in the inbox'],
  vouch_sidecar_inbox_depth: ['gauge', 'events of unfinished PipelineRuns held in the inbox'],
  vouch_sidecar_queue_depth: ['gauge', 'attestations waiting or in progress'],
  vouch_sidecar_journal_bytes: ['gauge', 'size of the inbox journal'],
};

function labelKey(labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private readonly values = new Map<string, Map<string, number>>();

  inc(name: string, labels?: Record<string, string>, by = 1): void {
    const series = this.series(name);
    const key = labelKey(labels);
    series.set(key, (series.get(key) ?? 0) + by);
  }

  set(name: string, value: number, labels?: Record<string, string>): void {
    this.series(name).set(labelKey(labels), value);
  }

  get(name: string, labels?: Record<string, string>): number {
    return this.values.get(name)?.get(labelKey(labels)) ?? 0;
  }

  private series(name: string): Map<string, number> {
    let s = this.values.get(name);
    if (!s) {
      s = new Map();
      this.values.set(name, s);
    }
    return s;
  }

  /** Every known metric (zero when never touched), in the text format. */
  text(): string {
    const lines: string[] = [];
    for (const [name, [type, help]] of Object.entries(HELP)) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      const series = this.values.get(name);
      if (!series || series.size === 0) lines.push(`${name} 0`);
      else for (const [labels, v] of series) lines.push(`${name}${labels} ${v}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

// One error type for all of vouch. Every error carries a stable code (documented in the CLI's --help and relied on
// by callers and tests) and the process exit code it maps to. Messages say what went wrong and how to fix it; they
// never contain key material or secrets (callers pass names and paths, not contents).

/** Exit codes of the `vouch` CLI. */
export const ExitCode = {
  ok: 0,
  /** a verification, a policy or a pipeline run said no */
  failed: 1,
  /** the command line or a config/input file is wrong */
  usage: 2,
  /** something we depend on is unreachable or broken (I/O, network, a service) */
  unavailable: 3,
  /** a bug: an invariant of ours did not hold */
  internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Stable error codes. Add new codes here (one room's codes together) rather than inventing strings at the throw site,
 * so that the list stays the documentation of what can go wrong.
 */
export const ErrorCodes = {
  // common
  CONFIG_INVALID: ExitCode.usage,
  USAGE: ExitCode.usage,
  INPUT_INVALID: ExitCode.usage,
  IO: ExitCode.unavailable,
  INTERNAL: ExitCode.internal,
  DIGEST_INVALID: ExitCode.usage,
  // common/journal.ts: the durable journal is busy (locked), failed, or damaged
  JOURNAL_UNAVAILABLE: ExitCode.unavailable,
  JOURNAL_CORRUPT: ExitCode.internal,
  // attest
  KEY_INVALID: ExitCode.usage,
  KEY_PASSWORD_REQUIRED: ExitCode.usage,
  KEY_PASSWORD_WRONG: ExitCode.usage,
  STATEMENT_INVALID: ExitCode.usage,
  SIGNING_FAILED: ExitCode.unavailable,
  BUNDLE_INVALID: ExitCode.failed,
  VERIFICATION_FAILED: ExitCode.failed,
  TRUSTED_ROOT_INVALID: ExitCode.usage,
  // attest: SLSA provenance builder (src/attest/provenance.ts): a TaskRun/PipelineRun object that is not shaped like Tekton's
  PROVENANCE_INPUT_INVALID: ExitCode.usage,
  // tlog
  TLOG_UNAVAILABLE: ExitCode.unavailable,
  TLOG_REJECTED: ExitCode.failed,
  TLOG_CORRUPT: ExitCode.internal,
  TLOG_ENTRY_INVALID: ExitCode.usage,
  TLOG_NOT_FOUND: ExitCode.failed,
  PROOF_INVALID: ExitCode.failed,
  // tekton (src/tekton): YAML that Tekton would reject; a run-time value (result, param) that breaks Tekton's rules
  TEKTON_INVALID: ExitCode.usage,
  TEKTON_RESULT_INVALID: ExitCode.failed,
  TEKTON_SUBSTITUTION_FAILED: ExitCode.failed,
  /** a fired trigger's binding or template could not be resolved from the event (vouch listen) */
  TRIGGER_FAILED: ExitCode.failed,
  // runner (vouch run)
  SANDBOX_UNAVAILABLE: ExitCode.unavailable,
  STEP_IMAGE_REFUSED: ExitCode.usage,
  RUN_UNSUPPORTED: ExitCode.usage,
  EVENT_DELIVERY_FAILED: ExitCode.unavailable,
  // sidecar (src/sidecar): ingest answers (401, 400, 503) and work that can never be attested
  SIDECAR_UNAUTHORIZED: ExitCode.usage,
  SIDECAR_EVENT_INVALID: ExitCode.usage,
  SIDECAR_BUSY: ExitCode.unavailable,
  SIDECAR_UNAVAILABLE: ExitCode.unavailable,
  SIDECAR_EVIDENCE_UNAVAILABLE: ExitCode.unavailable,
  // store (src/store): attestation storage backends
  STORE_INPUT_INVALID: ExitCode.usage,
  STORE_UNAVAILABLE: ExitCode.unavailable,
  STORE_AUTH_FAILED: ExitCode.unavailable,
  STORE_REJECTED: ExitCode.failed,
  STORE_NOT_FOUND: ExitCode.failed,
  STORE_CORRUPT: ExitCode.failed,
  STORE_TOO_LARGE: ExitCode.failed,
  // kube (src/kube): the Kubernetes API server
  KUBE_CONFIG_INVALID: ExitCode.usage,
  KUBE_UNAVAILABLE: ExitCode.unavailable,
  KUBE_NOT_FOUND: ExitCode.failed,
  KUBE_FORBIDDEN: ExitCode.unavailable,
  KUBE_REJECTED: ExitCode.failed,
  // stages (src/stages, `vouch task <stage>`): bad flags or inputs, a repository or revision that does not exist, a
  // tool (git) that failed, results too large for Tekton; a gate saying no is exit 1 without an error
  STAGE_USAGE: ExitCode.usage,
  STAGE_INPUT_INVALID: ExitCode.usage,
  STAGE_REPO_NOT_FOUND: ExitCode.usage,
  STAGE_REVISION_NOT_FOUND: ExitCode.usage,
  STAGE_TOOL_FAILED: ExitCode.unavailable,
  STAGE_RESULT_TOO_LARGE: ExitCode.failed,
  STAGE_IO: ExitCode.unavailable,
  STAGE_EVIDENCE_PUSH_FAILED: ExitCode.unavailable,
  // policy (src/policy): the policy file of the base revision is malformed (fail closed)
  POLICY_INVALID: ExitCode.usage,
  // stages: sbom and sca (src/stages/sbom, src/stages/sca): inputs they cannot read, and an SBOM the schema refuses
  LOCKFILE_INVALID: ExitCode.usage,
  SBOM_INVALID: ExitCode.usage,
  OSV_RECORD_INVALID: ExitCode.usage,
  OSV_DATABASE_UNAVAILABLE: ExitCode.unavailable,
  SCA_POLICY_INVALID: ExitCode.usage,
  // stages: build (src/stages/build): the build command failed, declared outputs are missing, the image could not be
  // built or pushed (a build that is not reproducible is the gate saying no, not an error)
  BUILD_COMMAND_FAILED: ExitCode.failed,
  BUILD_OUTPUT_MISSING: ExitCode.usage,
  BUILD_IMAGE_FAILED: ExitCode.unavailable,
  BUILD_PUSH_FAILED: ExitCode.unavailable,
  // stages: agent-run (src/stages/agent-run): the agent's nested sandbox cannot be created here (it never runs without)
  STAGE_SANDBOX_UNAVAILABLE: ExitCode.unavailable,
  // approvals (src/sidecar/approvals.ts, `vouch approve`): not an approval statement; signature or key refused
  APPROVAL_INVALID: ExitCode.usage,
  APPROVAL_REFUSED: ExitCode.failed,
  // admission (src/admission): a malformed AdmissionReview or manifest; an image the policy does not admit; the
  // engine could not decide in time (the webhook denies: fail closed)
  ADMISSION_REVIEW_INVALID: ExitCode.usage,
  ADMISSION_DENIED: ExitCode.failed,
  ADMISSION_UNAVAILABLE: ExitCode.unavailable,
} as const satisfies Record<string, ExitCode>;
export type ErrorCode = keyof typeof ErrorCodes;

export interface VouchErrorOptions {
  cause?: unknown;
  /** structured, non-secret facts for logs and --json output */
  details?: Record<string, unknown>;
}

export class VouchError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: VouchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VouchError';
    this.code = code;
    this.details = options.details;
  }

  get exitCode(): ExitCode {
    return ErrorCodes[this.code];
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

export function isVouchError(err: unknown, code?: ErrorCode): err is VouchError {
  return err instanceof VouchError && (code === undefined || err.code === code);
}

/** Wrap anything thrown into a VouchError, keeping an existing one as it is. */
export function toVouchError(err: unknown, code: ErrorCode, message: string): VouchError {
  if (err instanceof VouchError) return err;
  return new VouchError(code, `${message}: ${errorMessage(err)}`, { cause: err });
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

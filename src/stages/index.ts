// Verification stages: one module per Tekton Task step, run as `vouch task <stage> [flags]` (src/cli/task.ts).
//
// How a stage plugs in (framework.ts):
//   export const myStage: Stage = {
//     name: 'sbom', description: '...',
//     params:  [{ name: 'head-revision', description: '...', required: true }],  // flags --head-revision, as the Tekton params
//     results: [{ name: 'TEST_OUTPUT', description: '...' }],                     // written to --result NAME=PATH
//     async run(ctx) {             // ctx: params, source (the `source` workspace, absolute), reportDir, log, now
//       ... compute everything, WRITE NOTHING yourself ...
//       return { results: { TEST_OUTPUT: testOutput({...}) }, gate: { passed, reasons }, files: { 'x.sarif': text }, report: {...} };
//     },
//   };
// then add it to STAGES below (one import, one entry). The Task YAML in tasks/<stage>.yaml runs the step with image
// ghcr.io/vouch-dev/vouch and args ["task", "<stage>", "--source", "$(workspaces.source.path)", "--<param>",
// "$(params.<param>)", ..., "--result", "NAME=$(results.NAME.path)", ...] (see tasks/clone.yaml).
//
// What the framework does for every stage (runStage):
// - params: required ones checked, defaults applied, unknown ones refused (STAGE_USAGE); `--source DIR` required.
// - results: only declared names; all together checked against Tekton's 4096-byte termination message limit
//   (tekton/results.ts) BEFORE anything is written; each written verbatim (no trailing newline) via temp+rename.
// - report: `<source>/.vouch/reports/<stage>/` holds `files` plus `report.json` ({stage, timestamp, params, passed,
//   reasons, results, ...report}); the directory is built beside and renamed into place (old one replaced).
// - gate: `passed: false` makes `vouch task` exit 1 after writing everything; the reasons go to the log (error
//   level) and to report.json. Errors are VouchError (STAGE_* codes, POLICY_INVALID) and write nothing.
// - order: results checked -> result files staged beside their paths -> `finalize` (e.g. clone moves its checkout
//   in) -> report directory renamed into place -> results renamed into place. A failure before the report leaves
//   nothing (`discard` cleans the stage's temporary state).
// Helpers: testOutput()/outcomeOf() build TEST_OUTPUT in the Konflux convention; git.ts has runGit/git,
// resolveCommit, changedFiles, diffText, addedLines (added lines with head line numbers) and policyAtBase (the
// policy of the base revision, never the working tree; docs/policy.md).

import type { Stage } from './framework.ts';
import { cloneStage } from './clone/index.ts';
import { secretsStage } from './secrets/index.ts';
import { sbomStage } from './sbom/index.ts';
import { scaStage } from './sca/index.ts';
import { lintStage } from './lint/index.ts';
import { testStage } from './test/index.ts';
import { mutationStage } from './mutation/index.ts';
import { buildStage } from './build/index.ts';
import { agentRunStage } from './agent-run/index.ts';
import { reportStage } from './report/index.ts';
import { classifyStage } from './classify/index.ts';
import { gateStage } from './gate/index.ts';

export * from './framework.ts';

/** Every stage `vouch task` knows, by name. */
export const STAGES: readonly Stage[] = [cloneStage, agentRunStage, classifyStage, secretsStage, sbomStage, scaStage, testStage, lintStage, mutationStage, buildStage, gateStage, reportStage];

export function findStage(name: string): Stage | undefined {
  return STAGES.find((s) => s.name === name);
}

// From a Tekton Step (already substituted) to the process the sandbox runs: stepTemplate merged as Tekton merges it,
// `script` written to a file and executed as Tekton's entrypoint does (a shebang, or `#!/bin/sh` + `set -e`), the
// command resolved per image kind, and an environment made only of the step's own env plus PATH/HOME.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VouchError } from '../common/errors.ts';
import type { Step, StepTemplate } from '../tekton/types.ts';
import type { ImageKind } from './images.ts';
import { DEFAULT_PATH } from './sandbox.ts';

/** Tekton's preamble for a script without a shebang (pkg/pod/script.go defaultScriptPreamble). */
export const DEFAULT_SCRIPT_PREAMBLE = '#!/bin/sh\nset -e\n';

/** The local vouch CLI, run for steps of vouch's own task image. */
export const VOUCH_MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

/** stepTemplate fields are defaults for every step; env merges by name with the step's entries winning. */
export function mergeStepTemplate(step: Step, template: StepTemplate | undefined): Step {
  if (!template) return step;
  const merged: Step = { ...(template as Partial<Step>), ...step };
  if (template.env || step.env) {
    const byName = new Map<string, NonNullable<Step['env']>[number]>();
    for (const e of template.env ?? []) byName.set(e.name, e);
    for (const e of step.env ?? []) byName.set(e.name, e);
    merged.env = [...byName.values()];
  }
  // a step with a script takes no command or args from the template (Tekton: script replaces command)
  if (step.script !== undefined) {
    if (step.command === undefined) delete merged.command;
    if (step.args === undefined) delete merged.args;
  }
  return merged;
}

/** Writes the vouch shim (a `vouch` executable that runs the local CLI with this Node) into `dir`. */
export function writeVouchShim(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'vouch');
  writeFileSync(file, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(VOUCH_MAIN)} "$@"\n`);
  chmodSync(file, 0o755);
  return dir;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface StepCommandInput {
  step: Step;
  index: number;
  kind: ImageKind;
  /** where scripts are written (readable inside the sandbox) */
  scriptsDir: string;
  /** directory holding the `vouch` shim */
  shimDir: string;
  home: string;
  defaultWorkingDir: string;
}

export interface StepCommand {
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
}

export function stepCommand(input: StepCommandInput): StepCommand {
  const { step, kind } = input;
  const env: Record<string, string> = { HOME: input.home, PATH: kind === 'vouch' ? `${input.shimDir}:${DEFAULT_PATH}` : DEFAULT_PATH };
  for (const e of step.env ?? []) {
    if (e.valueFrom !== undefined) {
      throw new VouchError('RUN_UNSUPPORTED', `step "${step.name}": env ${e.name} uses valueFrom (Secrets/ConfigMaps/fields); the local runner only supports plain values`);
    }
    env[e.name] = e.value ?? '';
  }
  let argv: string[];
  if (step.script !== undefined) {
    mkdirSync(input.scriptsDir, { recursive: true });
    const file = join(input.scriptsDir, `script-${input.index}-${step.name}`);
    const body = step.script.startsWith('#!') ? step.script : DEFAULT_SCRIPT_PREAMBLE + step.script;
    writeFileSync(file, body);
    chmodSync(file, 0o755);
    argv = [file, ...(step.args ?? [])];
  } else if (step.command && step.command.length > 0) {
    argv = [...step.command, ...(step.args ?? [])];
  } else if (kind === 'vouch') {
    // the task image's entrypoint is the vouch CLI
    argv = ['vouch', ...(step.args ?? [])];
  } else {
    throw new VouchError('RUN_UNSUPPORTED', `step "${step.name}" (image ${step.image ?? '?'}) has neither script nor command; locally there is no image entrypoint to fall back on`);
  }
  if (kind === 'vouch' && (argv[0] === 'vouch' || argv[0]?.endsWith('/vouch'))) argv[0] = join(input.shimDir, 'vouch');
  const workingDir = step.workingDir ? (step.workingDir.startsWith('/') ? step.workingDir : join(input.defaultWorkingDir, step.workingDir)) : input.defaultWorkingDir;
  return { argv, env, workingDir };
}

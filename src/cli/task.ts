import { Option, type Command } from 'commander';
import { ExitCode } from '../common/errors.ts';
import { STAGES, parseResultFlags, runStage, stageParams, type Stage } from '../stages/index.ts';
import { action, collect, out, setup } from './context.ts';


function registerStage(task: Command, stage: Stage): void {
  const cmd = task.command(stage.name).description(stage.description);
  const params = stageParams(stage).map((p) => {
    const option = new Option(`--${p.name} <value>`, p.description + (p.required ? ' (required)' : ''));
    if (p.default !== undefined) option.default(p.default);
    cmd.addOption(option);
    return { name: p.name, key: option.attributeName() };
  });
  cmd
    .addOption(new Option('--source <dir>', 'the source workspace ($(workspaces.source.path))'))
    .addOption(new Option('--result <name=path>', `write result NAME to PATH ($(results.NAME.path)); results: ${stage.results.map((r) => r.name).join(', ')}`).argParser(collect).default([]))
    .addHelpText('after', `\nResults:\n${stage.results.map((r) => `  ${r.name}: ${r.description}`).join('\n')}\n\nExit codes: 0 the gate passed; 1 it failed (reasons in the log and the report); 2 bad input; 3 a tool failed.`)
    .action(
      action(async (opts: Record<string, unknown>, c: Command): Promise<number> => {
        setup(c);
        const values: Record<string, string | undefined> = {};
        for (const p of params) {
          const v = opts[p.key];
          if (typeof v === 'string') values[p.name] = v;
        }
        const summary = await runStage(stage, {
          params: values,
          source: typeof opts['source'] === 'string' ? opts['source'] : undefined,
          resultPaths: parseResultFlags(opts['result'] as string[]),
        });
        out(`${stage.name}: ${summary.passed ? 'passed' : 'FAILED'}${summary.reasons.length ? ': ' + summary.reasons.join('; ') : ''}`);
        out(`report: ${summary.reportDir}`);
        return summary.passed ? ExitCode.ok : ExitCode.failed;
      }),
    );
}

export function registerTask(program: Command): void {
  const task = program.command('task').description('run one verification stage, as a Tekton Task step does (tasks/<stage>.yaml)');
  for (const stage of STAGES) registerStage(task, stage);
}

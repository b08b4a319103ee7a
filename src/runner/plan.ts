// From what a user points `vouch run` at (a PipelineRun file, a Pipeline file plus params, or a Pipeline name) to a
// validated PipelineRun ready for the executor. Everything is loaded and validated with the tekton room's code
// before any step runs, so a bad file fails with file:line and nothing half-done.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { VouchError } from '../common/errors.ts';
import { loadFile, loadTasksDir, loadText, type Loaded } from '../tekton/load.ts';
import { paramTypeOf, validatePipelineRun, type ValidatedPipelineRun } from '../tekton/validate.ts';
import { API_V1, type Param, type ParamSpec, type ParamValue, type Pipeline, type PipelineRun, type Task } from '../tekton/types.ts';
import { generateName } from './objects.ts';

export interface PlanInput {
  pipelineRunFile?: string;
  pipelineFile?: string;
  pipelineName?: string;
  /** a PipelineRun object made elsewhere (e.g. by a TriggerTemplate), `source` naming where for messages */
  pipelineRunObject?: { resource: Record<string, unknown>; source: string };
  /** directory of Task YAML for taskRef (default ./tasks when it exists) */
  tasksDir?: string;
  /** directory searched by --pipeline-name (default ./pipelines) */
  pipelinesDir?: string;
  /** `-p name=value` as given */
  params?: string[];
  /** `-w name=DIR` as given */
  workspaces?: string[];
  /** `--timeout D`: the PipelineRun's pipeline timeout */
  timeout?: string;
}

export interface Plan {
  pipelineRun: PipelineRun;
  validated: ValidatedPipelineRun;
  pipelineName: string;
  workspaceDirs: Record<string, string>;
  /** where the run came from, for messages */
  source: string;
}

function splitAssignment(flag: string, raw: string): [string, string] {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new VouchError('USAGE', `${flag} expects NAME=VALUE, got ${JSON.stringify(raw)}`);
  return [raw.slice(0, eq), raw.slice(eq + 1)];
}

/** `-p` values as tkn reads them: arrays comma-separated, objects `key:value` pairs comma-separated. */
export function parseParamFlags(raw: readonly string[], declared: readonly ParamSpec[] | undefined): Param[] {
  const byName = new Map((declared ?? []).map((p) => [p.name, p]));
  const out = new Map<string, ParamValue>();
  for (const r of raw) {
    const [name, text] = splitAssignment('-p', r);
    const spec = byName.get(name);
    if (!spec) throw new VouchError('USAGE', `-p ${name}: the pipeline declares no param "${name}" (declared: ${[...byName.keys()].join(', ') || 'none'})`);
    const type = paramTypeOf(spec);
    if (type === 'array') out.set(name, text === '' ? [] : text.split(','));
    else if (type === 'object') {
      const obj: Record<string, string> = {};
      for (const pair of text.split(',')) {
        const colon = pair.indexOf(':');
        if (colon <= 0) throw new VouchError('USAGE', `-p ${name}: object params are key:value pairs separated by commas, got ${JSON.stringify(text)}`);
        obj[pair.slice(0, colon)] = pair.slice(colon + 1);
      }
      out.set(name, obj);
    } else out.set(name, text);
  }
  return [...out].map(([name, value]) => ({ name, value }));
}

export function parseWorkspaceFlags(raw: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of raw) {
    const [name, dir] = splitAssignment('-w', r);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new VouchError('USAGE', `-w ${name}=${dir}: not a directory`);
    out[name] = dir;
  }
  return out;
}

async function loadAll(path: string): Promise<Loaded[]> {
  if (!existsSync(path)) throw new VouchError('USAGE', `no such file: ${path}`);
  return loadFile(path);
}

/** Loads, builds and validates the PipelineRun to execute. Throws TEKTON_INVALID / USAGE before anything runs. */
export async function planRun(input: PlanInput): Promise<Plan> {
  const given = [input.pipelineRunFile, input.pipelineFile, input.pipelineName, input.pipelineRunObject].filter((x) => x !== undefined);
  if (given.length !== 1) throw new VouchError('USAGE', 'give exactly one of --pipelinerun FILE, --pipeline FILE, --pipeline-name NAME');

  const tasksDir = input.tasksDir ?? (existsSync('tasks') ? 'tasks' : undefined);
  const tasks = tasksDir === undefined ? new Map<string, Loaded<Task>>() : await loadTasksDir(tasksDir);
  const pipelines = new Map<string, Loaded<Pipeline>>();
  const addDocs = (docs: Loaded[]): void => {
    for (const d of docs) {
      const name = d.resource.metadata?.name;
      if (d.kind === 'Task' && name) tasks.set(name, d as Loaded<Task>);
      if (d.kind === 'Pipeline' && name) pipelines.set(name, d as Loaded<Pipeline>);
    }
  };

  let runDoc: Loaded<PipelineRun>;
  let source: string;
  if (input.pipelineRunFile !== undefined || input.pipelineRunObject !== undefined) {
    const from = input.pipelineRunObject?.source ?? input.pipelineRunFile!;
    const docs = input.pipelineRunObject ? loadText(stringify(input.pipelineRunObject.resource), from) : await loadAll(from);
    addDocs(docs);
    const runs = docs.filter((d) => d.kind === 'PipelineRun');
    if (runs.length !== 1) throw new VouchError('USAGE', `${from}: expected one PipelineRun, found ${runs.length}`);
    runDoc = runs[0] as Loaded<PipelineRun>;
    source = from;
    const ref = runDoc.resource.spec?.pipelineRef?.name;
    if (ref && !pipelines.has(ref)) await addPipelinesDir(input.pipelinesDir ?? 'pipelines', pipelines);
  } else {
    let pipeline: Loaded<Pipeline> | undefined;
    if (input.pipelineFile !== undefined) {
      const docs = await loadAll(input.pipelineFile);
      addDocs(docs);
      const found = docs.filter((d) => d.kind === 'Pipeline');
      if (found.length !== 1) throw new VouchError('USAGE', `${input.pipelineFile}: expected one Pipeline, found ${found.length}`);
      pipeline = found[0] as Loaded<Pipeline>;
      source = input.pipelineFile;
    } else {
      const dir = input.pipelinesDir ?? 'pipelines';
      await addPipelinesDir(dir, pipelines);
      pipeline = pipelines.get(input.pipelineName!);
      if (!pipeline) throw new VouchError('USAGE', `no Pipeline named "${input.pipelineName!}" in ${dir}/ (found: ${[...pipelines.keys()].join(', ') || 'none'})`);
      source = pipeline.file;
    }
    const name = pipeline.resource.metadata?.name;
    if (typeof name !== 'string' || name === '') throw new VouchError('TEKTON_INVALID', `${pipeline.locate(['metadata'])}: metadata.name: a Pipeline run by reference needs a name`);
    pipelines.set(name, pipeline);
    // a PipelineRun as `tkn pipeline start` creates it, checked by the same validation as a PipelineRun file
    const run: PipelineRun = {
      apiVersion: API_V1,
      kind: 'PipelineRun',
      metadata: { name: generateName(`${name}-run-`) },
      spec: {
        pipelineRef: { name },
        params: parseParamFlags(input.params ?? [], pipeline.resource.spec?.params),
        // one directory per run shared by its tasks: what a volumeClaimTemplate gives on a cluster; an optional
        // workspace is bound only when -w names it (tkn leaves it out too), so its tasks see it unbound
        workspaces: (pipeline.resource.spec?.workspaces ?? []).filter((w) => w.optional !== true || Object.hasOwn(parseWorkspaceFlags(input.workspaces ?? []), w.name)).map((w) => ({
          name: w.name,
          volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        })),
      },
    };
    runDoc = loadText(stringify(run), '(command line)')[0] as Loaded<PipelineRun>;
  }

  const pr = runDoc.resource;
  if ((input.pipelineRunFile !== undefined || input.pipelineRunObject !== undefined) && (input.params?.length ?? 0) > 0) {
    throw new VouchError('USAGE', '-p is for --pipeline/--pipeline-name; a PipelineRun file carries its own spec.params');
  }
  if (input.timeout !== undefined) (pr.spec.timeouts ??= {}).pipeline = input.timeout;
  const workspaceDirs = parseWorkspaceFlags(input.workspaces ?? []);
  const validated = validatePipelineRun(runDoc, {
    resolveTask: (n) => tasks.get(n),
    resolvePipeline: (n) => pipelines.get(n),
    locallyBound: new Set(Object.keys(workspaceDirs)),
  });
  const pipelineRun = structuredClone(pr);
  pipelineRun.metadata.name ??= generateName(pr.metadata.generateName ?? `${validated.pipeline.name ?? 'pipelinerun'}-`);
  return { pipelineRun, validated, pipelineName: validated.pipeline.name ?? pipelineRun.metadata.name, workspaceDirs, source };
}

async function addPipelinesDir(dir: string, into: Map<string, Loaded<Pipeline>>): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.yaml') && !f.endsWith('.yml')) continue;
    for (const d of await loadFile(join(dir, f))) {
      const name = d.resource.metadata?.name;
      if (d.kind === 'Pipeline' && name && !into.has(name)) into.set(name, d as Loaded<Pipeline>);
    }
  }
}

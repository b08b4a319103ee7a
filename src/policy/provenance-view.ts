// One view of a build's SLSA provenance, whatever wrote it: vouch's sidecar and Tekton Chains alike, SLSA v1
// (`https://slsa.dev/provenance/v1`, buildTypes `https://tekton.dev/chains/v2/slsa` and `.../slsa-tekton`) and SLSA
// v0.2 (`https://slsa.dev/provenance/v0.2`, buildType `tekton.dev/v1beta1/PipelineRun` or `.../TaskRun`). Admission
// rules and CEL conditions read this view, so one policy judges both. The input is an already verified predicate;
// anything missing or malformed becomes an absent field, never an exception (the rules then say what is missing).

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';

export interface TaskRef {
  /** how Chains recorded where the task came from: `oci://repo@sha256:…` (bundle), `git+url//path@commit`, or '' (inline or cluster task) */
  uri: string;
  /** true only for a bundle pinned by digest or a git ref pinned at a 40-hex commit (Enterprise Contract's rule) */
  pinned: boolean;
}

export interface TaskView {
  /** the pipeline task name (tekton.dev/pipelineTask), or the TaskRun name when that is all the provenance says */
  name: string;
  /** Succeeded, Failed, or '' when the provenance does not record it (Chains' slsa buildType) */
  status: string;
  ref: TaskRef;
  /** results by name (string, array or object values as recorded) */
  results: Record<string, unknown>;
}

export interface ByproductView {
  name: string;
  sha256: string;
  uri: string;
  predicateType: string;
}

export interface ProvenanceView {
  predicateType: string;
  builderId: string;
  buildType: string;
  /** the source the build says it built: git repository URL and commit (CHAINS-GIT_*, materials, resolved dependencies) */
  source: { repository: string; commit: string };
  /** the pipeline's name as its run recorded it ('' when unknown) */
  pipeline: string;
  /** where the pipeline definition came from (a resolver's refSource): pinned when at a commit or digest */
  pipelineRef: TaskRef;
  tasks: TaskView[];
  /** pipeline-level results */
  results: Record<string, unknown>;
  /** evidence files the pipeline declared (CONTRACTS.md: `<pipelineTask>/<RESULT>` with digest and predicateType) */
  evidence: ByproductView[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});

/** A provenance predicate as a view, or undefined when the predicateType is not SLSA provenance. */
export function provenanceView(predicateType: string, predicate: unknown): ProvenanceView | undefined {
  if (predicateType === SLSA_PROVENANCE_V1) return fromV1(obj(predicate));
  if (predicateType === SLSA_PROVENANCE_V02) return fromV02(obj(predicate));
  return undefined;
}

function resultsOf(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of arr(list)) {
    const o = obj(r);
    const name = str(o['name']);
    if (name !== '') out[name] = o['value'] ?? '';
  }
  return out;
}

function gitFromResults(results: Record<string, unknown>, into: { repository: string; commit: string }): void {
  const url = results['CHAINS-GIT_URL'];
  const commit = results['CHAINS-GIT_COMMIT'];
  if (typeof url === 'string' && url !== '') into.repository = url;
  if (typeof commit === 'string' && commit !== '') into.commit = commit;
}

function cleanGitUri(uri: string): string {
  return uri.replace(/^git\+/, '').replace(/@[0-9a-f]{40}$/, '');
}

/** Enterprise Contract's notion of a pinned task ref, from a Tekton taskRef (+ the run's refSource). */
function refOf(taskRef: Obj, refSource: Obj): TaskRef {
  const params: Record<string, string> = {};
  for (const p of arr(taskRef['params'])) params[str(obj(p)['name'])] = str(obj(p)['value']);
  const resolver = str(taskRef['resolver']);
  const bundle = str(taskRef['bundle']) || (resolver === 'bundles' ? params['bundle'] ?? '' : '');
  if (bundle !== '') return { uri: `oci://${bundle}`, pinned: /@sha256:[0-9a-f]{64}$/.test(bundle) };
  if (resolver === 'git') {
    const revision = params['revision'] ?? '';
    return { uri: `git+${params['url'] ?? params['repo'] ?? ''}//${params['pathInRepo'] ?? ''}@${revision}`, pinned: /^[0-9a-f]{40}$/.test(revision) };
  }
  const uri = str(refSource['uri']);
  const digest = obj(refSource['digest']);
  const d = Object.entries(digest)[0];
  if (uri !== '' && d) return { uri: `${uri}@${String(d[1])}`, pinned: /^[0-9a-f]{40,64}$/.test(String(d[1])) };
  return { uri: '', pinned: false };
}

function statusOf(conditions: unknown): string {
  const c = arr(conditions).map(obj).find((x) => x['type'] === 'Succeeded');
  if (!c) return '';
  return c['status'] === 'True' ? 'Succeeded' : c['status'] === 'False' ? 'Failed' : 'Running';
}

function fromV1(p: Obj): ProvenanceView {
  const bd = obj(p['buildDefinition']);
  const rd = obj(p['runDetails']);
  const view: ProvenanceView = {
    predicateType: SLSA_PROVENANCE_V1,
    builderId: str(obj(rd['builder'])['id']),
    buildType: str(bd['buildType']),
    source: { repository: '', commit: '' },
    pipeline: '',
    pipelineRef: { uri: '', pinned: false },
    tasks: [],
    results: {},
    evidence: [],
  };
  const ext = obj(bd['externalParameters']);
  const runSpec = obj(ext['runSpec']);
  view.pipeline = str(obj(runSpec['pipelineRef'])['name']);
  const labels = obj(obj(bd['internalParameters'])['labels']);
  if (view.pipeline === '') view.pipeline = str(labels['tekton.dev/pipeline']);

  for (const dep of arr(bd['resolvedDependencies']).map(obj)) {
    const name = str(dep['name']);
    if (name === 'pipeline') {
      view.pipelineRef = refOf({}, { uri: dep['uri'], digest: dep['digest'] });
    } else if (name === 'pipelineTask' && typeof dep['content'] === 'string') {
      let tr: Obj;
      try {
        tr = obj(JSON.parse(Buffer.from(dep['content'], 'base64').toString('utf8')));
      } catch {
        continue;
      }
      const md = obj(tr['metadata']);
      const st = obj(tr['status']);
      const results = resultsOf(st['results'] ?? st['taskResults']);
      view.tasks.push({
        name: str(obj(md['labels'])['tekton.dev/pipelineTask']) || str(md['name']),
        status: statusOf(st['conditions']),
        ref: refOf(obj(obj(tr['spec'])['taskRef']), obj(obj(st['provenance'])['refSource'])),
        results,
      });
      gitFromResults(results, view.source);
    } else if (name === 'inputs/result' || (name === '' && str(dep['uri']).startsWith('git+'))) {
      const sha1 = str(obj(dep['digest'])['sha1']) || str(obj(dep['digest'])['gitCommit']);
      if (sha1 !== '' && view.source.commit === '') view.source = { repository: cleanGitUri(str(dep['uri'])), commit: sha1 };
    }
  }

  const byTaskRun = new Map<string, TaskView>();
  for (const b of arr(rd['byproducts']).map(obj)) {
    const name = str(b['name']);
    const value = decodeContent(b['content']);
    const m = /^(taskRunResults|stepResults)\/([^/]+)\/(.+)$/.exec(name);
    if (name.startsWith('pipelineRunResults/')) {
      // vouch writes pipelineRunResults/<run>/<result>, Chains pipelineRunResults/<result>
      view.results[name.split('/').pop()!] = value;
    } else if (m) {
      let t = byTaskRun.get(m[2]!);
      if (!t) {
        t = { name: m[2]!, status: '', ref: { uri: '', pinned: false }, results: {} };
        byTaskRun.set(m[2]!, t);
      }
      t.results[m[3]!] = value;
    } else {
      const annotations = obj(b['annotations']);
      const pt = str(annotations['predicateType']);
      if (pt !== '') view.evidence.push({ name, sha256: str(obj(b['digest'])['sha256']), uri: str(b['uri']), predicateType: pt });
    }
  }
  // Chains' slsa buildType names tasks only by TaskRun (<pipelinerun>-<task>): add them where slsa-tekton did not
  if (view.tasks.length === 0) view.tasks.push(...byTaskRun.values());
  gitFromResults(view.results, view.source);
  for (const t of view.tasks) if (view.source.commit === '') gitFromResults(t.results, view.source);
  return view;
}

function decodeContent(content: unknown): unknown {
  if (typeof content !== 'string') return undefined;
  try {
    return JSON.parse(Buffer.from(content, 'base64').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function fromV02(p: Obj): ProvenanceView {
  const invocation = obj(p['invocation']);
  const view: ProvenanceView = {
    predicateType: SLSA_PROVENANCE_V02,
    builderId: str(obj(p['builder'])['id']),
    buildType: str(p['buildType']),
    source: { repository: '', commit: '' },
    pipeline: str(obj(obj(invocation['environment'])['labels'])['tekton.dev/pipeline']),
    pipelineRef: refOf({}, obj(invocation['configSource'])),
    tasks: [],
    results: {},
    evidence: [],
  };
  for (const t of arr(obj(p['buildConfig'])['tasks']).map(obj)) {
    const results = resultsOf(t['results']);
    const cs = obj(obj(t['invocation'])['configSource']);
    view.tasks.push({ name: str(t['name']), status: str(t['status']), ref: refOf(obj(t['ref']), { uri: cs['uri'], digest: cs['digest'] }), results });
    gitFromResults(results, view.source);
  }
  if (view.source.commit === '') {
    for (const m of arr(p['materials']).map(obj)) {
      const sha1 = str(obj(m['digest'])['sha1']);
      const uri = str(m['uri']);
      // the first git material that is not where a task came from is the source (Chains lists CHAINS-GIT_* first)
      if (sha1 !== '' && uri.startsWith('git+') && !view.tasks.some((t) => t.ref.uri.startsWith(uri))) {
        view.source = { repository: cleanGitUri(uri), commit: sha1 };
        break;
      }
    }
  }
  return view;
}

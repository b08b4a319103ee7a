// Parsing Tekton variable references `$(...)`. Tekton finds references by literal `$(` ... `)` and knows no escape:
// `$$(params.x)` is a `$` followed by the substituted reference, and there is no way to write a literal
// `$(params.x)` in a field that Tekton substitutes (docs/variables.md lists no escaping; pkg/substitution has none).
// Anything that is not a Tekton variable (a shell `$(date)`, say) is left exactly as written.

export type ParamNotation = 'dot' | 'dq' | 'sq';

/** How the value of a param or result is selected: whole, `[*]`, `[i]`, or `.key`. */
export type Selector = { kind: 'whole' } | { kind: 'star' } | { kind: 'index'; index: number } | { kind: 'key'; key: string };

export type Ref =
  | { kind: 'param'; name: string; sel: Selector; notation: ParamNotation }
  /** `tasks.T.results.R` (and `finally.T.results.R` in pipeline results) */
  | { kind: 'taskResult'; scope: 'tasks' | 'finally'; task: string; result: string; sel: Selector }
  /** `tasks.T.status` / `tasks.T.reason` (finally only) */
  | { kind: 'taskState'; task: string; attr: 'status' | 'reason' }
  /** `tasks.status` (finally only) */
  | { kind: 'aggregateStatus' }
  /** `context.X.Y`, e.g. context.taskRun.name */
  | { kind: 'context'; scope: string; attr: string }
  /** `workspaces.W.path|bound|claim|volume` */
  | { kind: 'workspace'; name: string; attr: string }
  /** `results.R.path` inside a Task */
  | { kind: 'ownResult'; name: string }
  /** `step.results.R.path` inside a Step */
  | { kind: 'stepResult'; name: string }
  /** `steps.step-<name>.exitCode.path` (unnamed steps: `step-unnamed-<index>`) */
  | { kind: 'stepExitCode'; container: string }
  /** `credentials.path` */
  | { kind: 'credentials' }
  /** anything else with a `$(...)` shape: not Tekton's, left alone */
  | { kind: 'other' };

export interface Occurrence {
  /** the whole `$(...)` text */
  text: string;
  /** the text between `$(` and `)` */
  expr: string;
  start: number;
  end: number;
  ref: Ref;
}

// Tekton's names: params `[_a-zA-Z][_a-zA-Z0-9.-]*` (dots allowed for string/array params), object keys and result
// names without dots. The content of `$( )` cannot hold `$`, `(` or `)`, so `$(a $(params.x))` finds the inner one.
const OCCURRENCE = /\$\(([^$()]*)\)/g;
const NAME = '[_a-zA-Z][_a-zA-Z0-9-]*';
const DOTTED_NAME = '[_a-zA-Z][_a-zA-Z0-9.-]*';
const SELECTOR = String.raw`(?:\[\*\]|\[(\d+)\]|\.(${NAME}))?`;
const PARAM_DOT = new RegExp(String.raw`^params\.(${NAME})(\[\*\]|\[\d+\]|\.${NAME})?$`);
const PARAM_DQ = new RegExp(String.raw`^params\["(${DOTTED_NAME})"\](\[\*\]|\[\d+\]|\.${NAME})?$`);
const PARAM_SQ = new RegExp(String.raw`^params\['(${DOTTED_NAME})'\](\[\*\]|\[\d+\]|\.${NAME})?$`);
const TASK_RESULT = new RegExp(String.raw`^(tasks|finally)\.(${NAME})\.results\.(${NAME})${SELECTOR}$`);
const TASK_RESULT_BRACKET = new RegExp(String.raw`^(tasks|finally)\.(${NAME})\.results\[(?:"(${DOTTED_NAME})"|'(${DOTTED_NAME})')\]${SELECTOR}$`);
const TASK_STATE = new RegExp(String.raw`^tasks\.(${NAME})\.(status|reason)$`);
const CONTEXT = /^context\.([a-zA-Z]+)\.([a-zA-Z-]+)$/;
const WORKSPACE = new RegExp(String.raw`^workspaces\.(${NAME})\.([a-z]+)$`);
const OWN_RESULT = new RegExp(String.raw`^results(?:\.(${DOTTED_NAME})|\["(${DOTTED_NAME})"\]|\['(${DOTTED_NAME})'\])\.path$`);
const STEP_EXIT_CODE = /^steps\.(step-[a-z0-9-]+)\.exitCode\.path$/;
const STEP_RESULT = new RegExp(String.raw`^step\.results(?:\.(${DOTTED_NAME})|\["(${DOTTED_NAME})"\]|\['(${DOTTED_NAME})'\])\.path$`);

function selector(raw: string | undefined): Selector {
  if (raw === undefined || raw === '') return { kind: 'whole' };
  if (raw === '[*]') return { kind: 'star' };
  if (raw.startsWith('[')) return { kind: 'index', index: Number(raw.slice(1, -1)) };
  return { kind: 'key', key: raw.slice(1) };
}

/** Classifies the text between `$(` and `)`. */
export function parseExpression(expr: string): Ref {
  if (expr.startsWith('params')) {
    // a dotted param name (`params.foo.bar`) is Tekton's object-key notation: the name stops at the first dot
    let m = PARAM_DOT.exec(expr);
    if (m) return { kind: 'param', name: m[1]!, sel: selector(m[2]), notation: 'dot' };
    m = PARAM_DQ.exec(expr);
    if (m) return { kind: 'param', name: m[1]!, sel: selector(m[2]), notation: 'dq' };
    m = PARAM_SQ.exec(expr);
    if (m) return { kind: 'param', name: m[1]!, sel: selector(m[2]), notation: 'sq' };
    return { kind: 'other' };
  }
  if (expr.startsWith('tasks.') || expr.startsWith('finally.')) {
    if (expr === 'tasks.status') return { kind: 'aggregateStatus' };
    let m = TASK_RESULT.exec(expr);
    if (m) {
      const sel: Selector = expr.endsWith('[*]')
        ? { kind: 'star' }
        : m[4] !== undefined
          ? { kind: 'index', index: Number(m[4]) }
          : m[5] !== undefined
            ? { kind: 'key', key: m[5] }
            : { kind: 'whole' };
      return { kind: 'taskResult', scope: m[1] as 'tasks' | 'finally', task: m[2]!, result: m[3]!, sel };
    }
    m = TASK_RESULT_BRACKET.exec(expr);
    if (m) {
      const sel: Selector = expr.endsWith('[*]')
        ? { kind: 'star' }
        : m[5] !== undefined
          ? { kind: 'index', index: Number(m[5]) }
          : m[6] !== undefined
            ? { kind: 'key', key: m[6] }
            : { kind: 'whole' };
      return { kind: 'taskResult', scope: m[1] as 'tasks' | 'finally', task: m[2]!, result: (m[3] ?? m[4])!, sel };
    }
    m = TASK_STATE.exec(expr);
    if (m) return { kind: 'taskState', task: m[1]!, attr: m[2] as 'status' | 'reason' };
    return { kind: 'other' };
  }
  let m = CONTEXT.exec(expr);
  if (m) return { kind: 'context', scope: m[1]!, attr: m[2]! };
  m = WORKSPACE.exec(expr);
  if (m) return { kind: 'workspace', name: m[1]!, attr: m[2]! };
  m = OWN_RESULT.exec(expr);
  if (m) return { kind: 'ownResult', name: (m[1] ?? m[2] ?? m[3])! };
  m = STEP_RESULT.exec(expr);
  if (m) return { kind: 'stepResult', name: (m[1] ?? m[2] ?? m[3])! };
  m = STEP_EXIT_CODE.exec(expr);
  if (m) return { kind: 'stepExitCode', container: m[1]! };
  if (expr === 'credentials.path') return { kind: 'credentials' };
  return { kind: 'other' };
}

/** Every `$(...)` in a string, classified. */
export function occurrences(s: string): Occurrence[] {
  const out: Occurrence[] = [];
  for (const m of s.matchAll(OCCURRENCE)) {
    const expr = m[1]!;
    out.push({ text: m[0], expr, start: m.index, end: m.index + m[0].length, ref: parseExpression(expr) });
  }
  return out;
}

/** True when the string is exactly one reference and nothing else (an "isolated" reference in Tekton's terms). */
export function isolated(s: string): Occurrence | undefined {
  const occ = occurrences(s);
  return occ.length === 1 && occ[0]!.start === 0 && occ[0]!.end === s.length ? occ[0] : undefined;
}

/** Does this expression look like a Tekton variable of a known prefix (so an unresolvable one is an error)? */
export function isTektonPrefix(expr: string): boolean {
  return /^(params|tasks|finally|context|workspaces|results|step)[.[]/.test(expr) || expr === 'tasks.status';
}

// Validation problems and the one error that carries them. Every problem names the file, line and column and the
// field path (Tekton's own notation, e.g. `spec.tasks[1].params[0].value`), so a user can jump to it; the error lists
// all problems found, not only the first, because fixing YAML one error per run is painful.

import { VouchError } from '../common/errors.ts';

export type FieldPath = readonly (string | number)[];

export interface Problem {
  file: string;
  line: number;
  col: number;
  /** Tekton field path, e.g. `spec.tasks[0].name` */
  path: string;
  message: string;
}

/** Formats a field path the way Tekton's apis.FieldError does: dots for fields, brackets for indices. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path === '' ? '(document)' : p.path}: ${p.message}`;
}

/** The TEKTON_INVALID error: message starts with the first problem's `file:line:col: path: ` and lists them all. */
export function invalid(problems: Problem[]): VouchError {
  const sorted = [...problems].sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : a.file < b.file ? -1 : 1));
  const lines = sorted.map(formatProblem);
  const message = lines.length === 1 ? lines[0]! : `${lines[0]!}\n${lines.slice(1).join('\n')}\n(${lines.length} problems)`;
  return new VouchError('TEKTON_INVALID', message, { details: { problems: sorted } });
}

/** Collects problems against one located document. */
export class ProblemList {
  readonly items: Problem[] = [];

  add(where: { file: string; line: number; col: number }, path: FieldPath, message: string): void {
    this.items.push({ file: where.file, line: where.line, col: where.col, path: formatPath(path), message });
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  throwIfAny(): void {
    if (this.items.length > 0) throw invalid(this.items);
  }
}

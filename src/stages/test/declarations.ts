// Which tests a change deletes or newly skips, read from the source (not from a run): the test declarations of each
// changed JS/TS file at base and at head. A declaration is `it|test|describe|suite|specify('literal name'`, with
// `.skip`/`.todo`/`x` prefixes (xit, xdescribe) or node:test's `{ skip: ... }`/`{ todo: ... }` option marking it
// skipped. Names built at run time (template literals with ${}, variables) cannot be seen and are not reported.

export interface Declaration {
  /** enclosing describe names and its own, joined with " > " */
  name: string;
  skipped: boolean;
  /** `.only`: the runners that honour it (mocha, jest; node with --test-only) skip every other test */
  focused: boolean;
}

/**
 * The text with comments blanked (and, with `strings`, the inside of string literals too), lengths and newlines
 * kept, so offsets stay true: a commented-out test is not a test, and braces in names do not count as blocks.
 * Regular-expression literals are not recognised (a quote in one can hide code up to the next such quote).
 */
export function blank(text: string, strings: boolean): string {
  const out = text.split('');
  let i = 0;
  const clear = (from: number, to: number): void => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const to = end < 0 ? text.length : end;
      clear(i, to);
      i = to;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const to = end < 0 ? text.length : end + 2;
      clear(i, to);
      i = to;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < text.length && text[j] !== c && !(c !== '`' && text[j] === '\n')) j += text[j] === '\\' ? 2 : 1;
      if (strings) clear(i + 1, j);
      i = j + 1;
    } else {
      i++;
    }
  }
  return out.join('');
}

export const TEST_SOURCE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

const DECLARATION = /(?<![\w$.])(x?)(it|test|describe|suite|specify|context)((?:\.(?:skip|only|todo|concurrent))*)\s*\(\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\$]|\\.)*)`)\s*(,\s*\{[^}]*\})?/g;

/** Test declarations of one file's text, in order, with the describe names they sit in (by brace depth). */
export function declarationsOf(text: string): Declaration[] {
  const out: Declaration[] = [];
  // open describe blocks: name and the brace depth their body starts at
  const open: { name: string; depth: number }[] = [];
  const code = blank(text, false);
  const braces = blank(text, true);
  const found = [...code.matchAll(DECLARATION)];
  let depth = 0;
  let pos = 0;
  const advance = (to: number): void => {
    for (; pos < to; pos++) {
      const c = braces[pos];
      if (c === '{') depth++;
      else if (c === '}') {
        depth--;
        while (open.length && (open[open.length - 1]?.depth ?? 0) > depth) open.pop();
      }
    }
  };
  for (const m of found) {
    advance(m.index);
    const [, x = '', kind = '', modifiers = '', single, double, backtick, options = ''] = m;
    const own = single ?? double ?? backtick ?? '';
    const name = [...open.map((o) => o.name), own].join(' > ');
    const skipped = x === 'x' || /\.(skip|todo)/.test(modifiers) || /\b(skip|todo)\s*:\s*(true|['"`])/.test(options);
    out.push({ name, skipped, focused: modifiers.includes('.only') });
    if (kind === 'describe' || kind === 'suite' || kind === 'context') {
      // the body's opening brace is the first "{" after the declaration that is not in its options
      const after = braces.indexOf('{', m.index + m[0].length);
      if (after >= 0) {
        advance(after + 1);
        open.push({ name: own, depth });
      }
    }
  }
  return out;
}

export interface ChangeFindings {
  /** tests declared at base and gone at head */
  deleted: { file: string; name: string }[];
  /** tests skipped at head that were not skipped (or did not exist) at base */
  skipped: { file: string; name: string }[];
  /** tests focused with `.only` at head that were not at base */
  focused: { file: string; name: string }[];
}

/** Compares one file's declarations at base and head (either side may be absent: added or deleted file). */
export function compareDeclarations(file: string, base: string | undefined, head: string | undefined): ChangeFindings {
  const before = declarationsOf(base ?? '');
  const after = declarationsOf(head ?? '');
  const afterNames = new Set(after.map((d) => d.name));
  const skippedBefore = new Set(before.filter((d) => d.skipped).map((d) => d.name));
  const focusedBefore = new Set(before.filter((d) => d.focused).map((d) => d.name));
  return {
    deleted: [...new Set(before.map((d) => d.name))].filter((n) => !afterNames.has(n)).map((name) => ({ file, name })),
    skipped: after.filter((d) => d.skipped && !skippedBefore.has(d.name)).map((d) => ({ file, name: d.name })),
    focused: after.filter((d) => d.focused && !focusedBefore.has(d.name)).map((d) => ({ file, name: d.name })),
  };
}

// DESIGN.md §2: each room of src/ may import only the rooms listed for it. This test reads every import.
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { REPO_ROOT } from './helpers/cli.ts';

const MAY_USE: Record<string, string[]> = {
  cli: ['runner', 'stages', 'sidecar', 'admission', 'policy', 'attest', 'tlog', 'store', 'tekton', 'kube', 'common'],
  runner: ['tekton', 'common'],
  stages: ['policy', 'attest', 'tekton', 'common'],
  sidecar: ['attest', 'tlog', 'store', 'kube', 'tekton', 'common'],
  admission: ['policy', 'attest', 'tlog', 'store', 'common'],
  policy: ['common'],
  attest: ['common'],
  tlog: ['attest', 'common'],
  store: ['attest', 'kube', 'common'],
  tekton: ['common'],
  kube: ['common'],
  common: [],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('layout (DESIGN.md §2)', () => {
  const src = join(REPO_ROOT, 'src');
  it('every folder of src/ is a room of the design', () => {
    for (const name of readdirSync(src)) expect(Object.keys(MAY_USE), `src/${name}`).to.include(name);
  });
  it('imports flow down the table of rooms', () => {
    const violations: string[] = [];
    for (const file of files(src)) {
      const room = relative(src, file).split(sep)[0]!;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = relative(src, join(file, '..', m[1]!)).split(sep)[0]!;
        if (target !== room && !MAY_USE[room]!.includes(target)) violations.push(`${relative(REPO_ROOT, file)} imports ${m[1]!} (room ${target})`);
      }
    }
    expect(violations).to.deep.equal([]);
  });
});

import { expect } from 'chai';
import { defaultPolicy, parsePolicy, parsePolicyWith } from '../../src/policy/index.ts';
import { problemsOf } from './helpers.ts';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFd0X0n3z1l2yq1n2g7bGm9l2m0oV0n7l3kF0s8x1pQZ';

describe('policy file (.vouch/policy.yaml)', () => {
  it('defaults: no signature required, no signers, Agent-Run trailer, no extra secret rules', () => {
    const d = defaultPolicy();
    expect(d.clone).to.deep.equal({ 'require-signed-head': false, 'allowed-signers': [], 'gpg-signers': [], 'agent-trailer': 'Agent-Run' });
    expect(d.secrets).to.deep.equal({ patterns: [], 'allow-paths': [] });
    expect(parsePolicy('version: 1\n', 'f')).to.deep.equal(defaultPolicy());
  });

  it('reads every field, with defaults inside list items', () => {
    const p = parsePolicy(
      [
        'version: 1',
        'clone:',
        '  require-signed-head: true',
        '  agent-trailer: Agent-Session',
        '  allowed-signers:',
        '    - principal: alice@example.com',
        `      key: ${KEY} alice laptop`,
        '    - principal: agent@vouch',
        `      key: ${KEY}`,
        '      role: agent',
        'secrets:',
        '  patterns: [{id: tok, regex: "tok_[a-z]+"}]',
        '  allow-paths: ["docs/**"]',
      ].join('\n'),
      'f',
    );
    expect(p.clone['require-signed-head']).to.equal(true);
    expect(p.clone['agent-trailer']).to.equal('Agent-Session');
    expect(p.clone['allowed-signers']).to.deep.equal([
      { principal: 'alice@example.com', key: `${KEY} alice laptop`, role: 'human' },
      { principal: 'agent@vouch', key: KEY, role: 'agent' },
    ]);
    expect(p.secrets).to.deep.equal({ patterns: [{ id: 'tok', regex: 'tok_[a-z]+', description: '' }], 'allow-paths': ['docs/**'] });
  });

  it('fails closed with file:line:col on every kind of mistake, all listed at once', () => {
    expect(problemsOf('clone:\n  require-signed-head: true\n')).to.deep.equal(['base:.vouch/policy.yaml:1:1: version: is required (version: 1)']);
    expect(problemsOf('version: 2\n')).to.deep.equal(['base:.vouch/policy.yaml:1:10: version: must be 1']);
    const problems = problemsOf(
      [
        'version: 1',
        'clone:',
        '  require-signed-head: "true"',
        '  allowed-signers:',
        '    - principal: alice',
        '      key: not-a-key',
        '      role: admin',
        '    - key: ' + KEY,
        'secrets:',
        '  patterns:',
        '    - id: Bad Id',
        '      regex: "(unclosed"',
        '  allow-paths: docs/**',
        'bogus-section: {}',
      ].join('\n'),
    );
    expect(problems.at(-1)).to.match(/^base:\.vouch\/policy\.yaml:14:1: bogus-section: unknown section \(allowed: version, clone, secrets/);
    expect(problems.slice(0, -1)).to.deep.equal([
      'base:.vouch/policy.yaml:3:24: clone.require-signed-head: must be true or false',
      'base:.vouch/policy.yaml:6:12: clone.allowed-signers[0].key: must be an SSH public key line such as "ssh-ed25519 AAAA..."',
      'base:.vouch/policy.yaml:7:13: clone.allowed-signers[0].role: must be one of human, agent',
      'base:.vouch/policy.yaml:8:7: clone.allowed-signers[1].principal: is required',
      'base:.vouch/policy.yaml:11:11: secrets.patterns[0].id: must be lower-case letters, digits and -',
      'base:.vouch/policy.yaml:12:14: secrets.patterns[0].regex: not a valid regular expression: Invalid regular expression: /(unclosed/g: Unterminated group',
      'base:.vouch/policy.yaml:13:16: secrets.allow-paths: must be a list of strings',
    ]);
  });

  it('malformed YAML, duplicate keys and a non-mapping document are errors with their position', () => {
    expect(problemsOf('version: 1\nclone:\n  require-signed-head: [true\n')[0]).to.match(/^base:\.vouch\/policy\.yaml:\d+:\d+: /);
    expect(problemsOf('version: 1\nversion: 1\n')[0]).to.match(/^base:\.vouch\/policy\.yaml:2:1: .*[Uu]nique/);
    expect(problemsOf('- a\n- b\n')[0]).to.equal('base:.vouch/policy.yaml:1:1: : a policy file is a mapping of sections');
    expect(problemsOf('version: 1\nclone: [1]\n')).to.deep.equal(['base:.vouch/policy.yaml:2:8: clone: a section is a mapping']);
    expect(problemsOf(`version: 1\nclone:\n  allowed-signers:\n    - {principal: a, key: ${KEY}}\n    - {principal: a, key: ${KEY}, role: agent}\n`)).to.deep.equal([
      'base:.vouch/policy.yaml:5:7: clone.allowed-signers[1].principal: duplicate principal "a"',
    ]);
    expect(problemsOf('version: 1\nclone:\n  gpg-signers:\n    - principal: bob\n      public-key: AAAA\n')).to.deep.equal([
      'base:.vouch/policy.yaml:5:19: clone.gpg-signers[0].public-key: must be an ASCII-armored OpenPGP public key block (gpg --armor --export)',
    ]);
  });

  it('the loader is generic: a new section is a table of fields (as issue 8 will add risk rules)', () => {
    const sections = { risk: { 'max-files': { kind: 'number' as const, default: 10, integer: true, min: 1, doc: 'files' } } };
    expect(parsePolicyWith('version: 1\nrisk:\n  max-files: 3\n', 'f', sections)).to.deep.equal({ risk: { 'max-files': 3 } });
    expect(parsePolicyWith('version: 1\n', 'f', sections)).to.deep.equal({ risk: { 'max-files': 10 } });
    expect(() => parsePolicyWith('version: 1\nrisk:\n  max-files: 0.5\n', 'f', sections)).to.throw(/f:3:14: risk.max-files: must be an integer/);
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import {
  classify,
  defaultPolicy,
  evaluateApprovals,
  parsePolicy,
  rationaleFromTranscript,
  renderBrief,
  requirementFor,
  type ApprovalCandidate,
  type ApprovalContext,
  type ClassifyInput,
  type Policy,
} from '../../src/policy/index.ts';
import { problemsOf } from './helpers.ts';

const pem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function input(files: [string, number?][], more: Partial<ClassifyInput> = {}): ClassifyInput {
  return {
    repository: 'https://git.example/repo.git',
    pullRequest: '7',
    requestedBy: [],
    baseRevision: 'a'.repeat(40),
    headRevision: 'b'.repeat(40),
    files: files.map(([path, lines = 1]) => ({ path, status: 'M', additions: lines, deletions: 0 })),
    commits: [],
    dependencies: undefined,
    tests: { deleted: [], skipped: [], focused: [] },
    stages: {},
    ...more,
  };
}

describe('risk classification (src/policy/risk.ts)', () => {
  const policy = defaultPolicy();

  it('docs only is low; ordinary code is the default tier (medium)', () => {
    const docs = classify(input([['docs/guide.md'], ['README.md']]), policy.risk);
    expect(docs.tier).to.equal('low');
    expect(docs.reasons.map((r) => r.rule)).to.deep.equal(['path/docs']);
    expect(classify(input([['docs/guide.md'], ['src/server.ts']]), policy.risk).tier).to.equal('medium');
  });

  it('auth, crypto, deployment, secrets and the pipeline itself are high, each with its reason; the highest wins', () => {
    for (const path of ['src/auth/login.ts', 'lib/crypto/aes.ts', 'deploy/app.yaml', 'config/.env', '.vouch/policy.yaml', 'tasks/test.yaml', 'pipelines/verify.yaml', '.github/workflows/ci.yml']) {
      const c = classify(input([['docs/a.md'], [path]]), policy.risk);
      expect(c.tier, path).to.equal('high');
      expect(c.reasons[0]!.tier).to.equal('high');
      expect(c.reasons.some((r) => r.rule === 'path/docs' && r.tier === 'low'), 'every reason is kept').to.equal(true);
    }
  });

  it('a rename out of an auth directory is judged by its old path too', () => {
    const c = classify({ ...input([]), files: [{ path: 'src/util/login-helpers.ts', from: 'src/auth/helpers.ts', status: 'R', additions: 0, deletions: 0 }] }, policy.risk);
    expect(c.tier).to.equal('high');
  });

  it('dependency signals: new and upgraded dependencies, lockfile-only changes', () => {
    const deps = { added: [{ name: 'left-pad', versions: ['1.3.0'] }], removed: [], changed: [] };
    const c = classify(input([['package.json'], ['package-lock.json']], { dependencies: deps }), policy.risk);
    expect(c.tier).to.equal('medium');
    expect(c.reasons.map((r) => r.rule)).to.include('deps/new');
    const lockOnly = classify(input([['package-lock.json']], { dependencies: { added: [], removed: [], changed: [{ name: 'lodash', before: ['4.17.20'], after: ['4.17.21'] }] } }), policy.risk);
    expect(lockOnly.reasons.map((r) => r.rule)).to.include.members(['deps/lockfile-only', 'deps/changed']);
    const lowered = parsePolicy('version: 1\nrisk:\n  lockfile-only-tier: high\n', 'p');
    expect(classify(input([['package-lock.json']], { dependencies: { added: [], removed: [], changed: [] } }), lowered.risk).tier).to.equal('high');
  });

  it('deleted, skipped or focused tests and the size of the change', () => {
    const c = classify(input([['test/a.test.ts']], { tests: { deleted: [{ file: 'test/a.test.ts', name: 'a > works' }], skipped: [], focused: [] } }), policy.risk);
    expect(c.tier).to.equal('high');
    expect(c.reasons[0]!.rule).to.equal('tests/deleted');
    expect(classify(input([['test/a.test.ts', 10]]), policy.risk).tier).to.equal('low');
    expect(classify(input([['docs/a.md', 500]]), policy.risk).tier).to.equal('medium');
    expect(classify(input([['docs/a.md', 2500]]), policy.risk).tier).to.equal('high');
  });

  it('custom CEL rules over the documented input; a rule that errors counts as high', () => {
    const p = parsePolicy(
      [
        'version: 1',
        'risk:',
        '  rules:',
        '    - id: many-files',
        '      tier: high',
        '      when: "size(change.files) > 2"',
        '    - id: billing',
        '      tier: high',
        '      when: change.files.exists(f, f.path.startsWith("src/billing/"))',
        '    - id: broken',
        '      tier: low',
        '      when: change.nosuchfield == 1',
      ].join('\n'),
      'p',
    );
    const c = classify(input([['docs/a.md']]), p.risk);
    expect(c.reasons.find((r) => r.rule === 'cel/broken')).to.include({ tier: 'high' });
    expect(c.reasons.some((r) => r.rule === 'cel/many-files' || r.rule === 'cel/billing')).to.equal(false);
    const c2 = classify(input([['src/billing/pay.ts'], ['a.md'], ['b.md']]), p.risk);
    expect(c2.reasons.map((r) => r.rule)).to.include.members(['cel/many-files', 'cel/billing']);
  });

  it('CEL rules see who requested the change (change.requestedBy), e.g. to raise what outsiders ask for', () => {
    const p = parsePolicy(['version: 1', 'risk:', '  rules:', '    - id: outsider', '      tier: high', '      when: "!change.requestedBy.exists(a, a in [\'github:alice\', \'github:bob\'])"'].join('\n'), 'p');
    const rules = (requestedBy: string[]): string[] => classify(input([['src/a.ts']], { requestedBy }), p.risk).reasons.map((r) => r.rule);
    expect(rules(['github:alice'])).to.not.include('cel/outsider');
    expect(rules(['github:mallory'])).to.include('cel/outsider');
    expect(rules([]), 'not known counts as an outsider under this rule').to.include('cel/outsider');
  });

  it('a policy cannot lower the built-in pipeline paths', () => {
    const p = parsePolicy('version: 1\nrisk:\n  default-tier: low\n  low-paths: ["**"]\n', 'p');
    expect(classify(input([['.vouch/policy.yaml']]), p.risk).tier).to.equal('high');
    expect(classify(input([['src/x.ts']]), p.risk).tier).to.equal('low');
  });

  it('malformed risk, reviewers and approvals sections fail closed with file:line:col', () => {
    const problems = problemsOf(
      [
        'version: 1',
        'risk:',
        '  default-tier: severe',
        '  rules:',
        '    - id: x',
        '      tier: high',
        '      when: "size(change.files) >"',
        'reviewers:',
        '  people:',
        '    - id: alice@example.com',
        '      public-key: not a key',
        'approvals:',
        '  high-groups: ["security"]',
        '  medium: -1',
      ].join('\n'),
    );
    expect(problems).to.have.length(5);
    expect(problems[0]).to.match(/^base:\.vouch\/policy\.yaml:3:17: risk\.default-tier: must be one of low, medium, high/);
    expect(problems[1]).to.match(/^base:\.vouch\/policy\.yaml:7:13: risk\.rules\[0\]\.when: not a valid CEL expression/);
    expect(problems[2]).to.match(/^base:\.vouch\/policy\.yaml:11:19: reviewers\.people\[0\]\.public-key: must be a PEM public key/);
    expect(problems[3]).to.match(/^base:\.vouch\/policy\.yaml:13:17: approvals\.high-groups\[0\]: must be "group:count"/);
    expect(problems[4]).to.match(/^base:\.vouch\/policy\.yaml:14:11: approvals\.medium: must be at least 0/);
  });
});

describe('approval rules (src/policy/approvals.ts)', () => {
  const keys = { alice: pem(), bob: pem(), sec: pem(), bot: pem() };
  const policy: Policy = parsePolicy(
    [
      'version: 1',
      'reviewers:',
      '  people:',
      ...Object.entries({ 'alice@example.com': [keys.alice, ''], 'bob@example.com': [keys.bob, ''], 'sec@example.com': [keys.sec, 'security'], 'bot@agents': [keys.bot, ''] }).flatMap(([id, [k, g]]) => [
        `    - id: ${id}`,
        `      groups: [${g!}]`,
        ...(id === 'bot@agents' ? ['      role: agent'] : []),
        ...(id === 'alice@example.com' ? ['      accounts: [github:Alice, gitlab.example.com:alice.w]'] : []),
        '      public-key: |',
        ...k!.trim().split('\n').map((l) => `        ${l}`),
      ]),
    ].join('\n'),
    'p',
  );
  const ctx = (tier: 'low' | 'medium' | 'high'): ApprovalContext => ({ repository: 'r', pullRequest: '7', headCommit: 'b'.repeat(40), pipelineRun: 'ns/run-1', riskDigest: 'c'.repeat(64), tier, authors: ['author@example.com', 'bob@example.com'], agentAuthors: [], requestedBy: [] });
  const approval = (id: string, more: Partial<ApprovalCandidate> = {}): ApprovalCandidate => ({
    decision: 'approve', reviewerId: id, repository: 'r', pullRequest: '7', headCommit: 'b'.repeat(40), pipelineRun: 'ns/run-1', riskDigest: 'c'.repeat(64), tier: 'high', timestamp: '2026-01-01T00:00:00Z', signedBy: id, ref: id, ...more,
  });

  it('one key is one reviewer: a second id with the same public key is refused with its position', () => {
    const text = ['version: 1', 'reviewers:', '  people:', ...['alice@example.com', 'alias@example.com'].flatMap((id) => [`    - id: ${id}`, '      public-key: |', ...keys.alice.trim().split('\n').map((l) => `        ${l}`)])].join('\n');
    expect(problemsOf(text)).to.deep.equal([`base:.vouch/policy.yaml:10:7: reviewers.people[1].public-key: one key, one reviewer: this public key is already another reviewer's (the same as reviewers.people[0])`]);
  });

  it('requirements per tier from the default policy: 0, 1, 2 with security:1', () => {
    expect(requirementFor('low', policy.approvals)).to.deep.equal({ count: 0, groups: {} });
    expect(requirementFor('medium', policy.approvals)).to.deep.equal({ count: 1, groups: {} });
    expect(requirementFor('high', policy.approvals)).to.deep.equal({ count: 2, groups: { security: 1 } });
  });

  it('high: one approval is not enough, two without security are not, two with security are', () => {
    const e = (list: ApprovalCandidate[]) => evaluateApprovals(list, ctx('high'), policy.reviewers, policy.approvals);
    expect(e([approval('alice@example.com')]).state).to.equal('waiting');
    expect(e([approval('sec@example.com')]).missing).to.deep.equal(['1 more approval(s) from distinct human reviewers (1 of 2)']);
    expect(e([approval('alice@example.com'), approval('alice@example.com', { ref: 'again' })]).state, 'the same person twice is one').to.equal('waiting');
    const two = e([approval('alice@example.com'), approval('sec@example.com')]);
    expect(two.state).to.equal('approved');
    expect(two.approvedBy).to.deep.equal(['alice@example.com', 'sec@example.com']);
  });

  it('refuses the agent, the author, a bad signature, an unknown reviewer, another commit, assessment, run or tier', () => {
    const list = [
      approval('bot@agents'),
      approval('bob@example.com'),
      approval('alice@example.com', { signedBy: undefined }),
      approval('mallory@example.com'),
      approval('sec@example.com', { headCommit: 'd'.repeat(40) }),
      approval('sec@example.com', { riskDigest: 'e'.repeat(64) }),
      approval('sec@example.com', { pipelineRun: 'ns/run-0' }),
      approval('sec@example.com', { tier: 'medium' }),
      approval('sec@example.com', { repository: 'other' }),
      approval('sec@example.com', { pullRequest: '8' }),
    ];
    const d = evaluateApprovals(list, ctx('high'), policy.reviewers, policy.approvals);
    expect(d.state).to.equal('waiting');
    expect(d.approvedBy).to.deep.equal([]);
    expect(d.refused.map((r) => r.reason.replace(/ .*/, ''))).to.have.length(10);
    expect(d.refused[0]!.reason).to.match(/agent/);
    expect(d.refused[1]!.reason).to.match(/no self-approval/);
    expect(d.refused[2]!.reason).to.match(/does not verify/);
    expect(d.refused[3]!.reason).to.match(/not a reviewer/);
    expect(d.refused[4]!.reason).to.match(/a new push voids/);
    expect(d.refused[5]!.reason).to.match(/another risk assessment/);
    const agentByTrailer = evaluateApprovals([approval('alice@example.com', { tier: 'medium' })], { ...ctx('medium'), agentAuthors: ['alice@example.com'] }, policy.reviewers, policy.approvals);
    expect(agentByTrailer.refused[0]!.reason).to.match(/agent/);
  });

  it('who requested the change (by forge account, any case) cannot approve it; others can; the requester may reject', () => {
    const requested = { ...ctx('medium'), requestedBy: ['github:ALICE'] };
    const approve = (id: string, c: ApprovalContext = requested) => evaluateApprovals([approval(id, { tier: 'medium' })], c, policy.reviewers, policy.approvals);
    const self = approve('alice@example.com');
    expect(self.state).to.equal('waiting');
    expect(self.refused).to.deep.equal([{ reviewer: 'alice@example.com', ref: 'alice@example.com', reason: 'alice@example.com (github:Alice) requested the change: no self-approval' }]);
    // any of the reviewer's accounts: the change could come from another forge
    expect(approve('alice@example.com', { ...requested, requestedBy: ['gitlab.example.com:Alice.W'] }).refused[0]!.reason).to.match(/\(gitlab\.example\.com:alice\.w\) requested the change/);
    // the same login on another forge is another person
    expect(approve('alice@example.com', { ...requested, requestedBy: ['gitlab:alice'] }).approvedBy).to.deep.equal(['alice@example.com']);
    expect(approve('sec@example.com').approvedBy).to.deep.equal(['sec@example.com']);
    const withdrawn = evaluateApprovals([approval('sec@example.com', { tier: 'medium' }), approval('alice@example.com', { tier: 'medium', decision: 'reject' })], requested, policy.reviewers, policy.approvals);
    expect(withdrawn.state).to.equal('rejected');
    expect(withdrawn.rejectedBy).to.deep.equal(['alice@example.com']);
    // an author's rejection counts as well; an agent's does not
    expect(evaluateApprovals([approval('bob@example.com', { tier: 'medium', decision: 'reject' })], ctx('medium'), policy.reviewers, policy.approvals).state).to.equal('rejected');
    expect(evaluateApprovals([approval('bot@agents', { tier: 'medium', decision: 'reject' })], ctx('medium'), policy.reviewers, policy.approvals).state).to.equal('waiting');
  });

  it('accounts are "<forge>:<login>", and one account belongs to one reviewer', () => {
    const person = (id: string, accounts: string): string[] => [`    - id: ${id}`, `      accounts: ${accounts}`, '      public-key: |', ...pem().trim().split('\n').map((l) => `        ${l}`)];
    const text = (...people: string[][]): string => ['version: 1', 'reviewers:', '  people:', ...people.flat()].join('\n');
    expect(problemsOf(text(person('a@example.com', '[alice, "GitHub:alice", "github:", "github:al ice", "github:-alice"]')))).to.deep.equal(
      [0, 1, 2, 3, 4].map((i) => `base:.vouch/policy.yaml:5:${String([18, 25, 41, 52, 69][i])}: reviewers.people[0].accounts[${String(i)}]: must be a forge account "<forge>:<login>", e.g. "github:alice" (forge in lower case)`),
    );
    expect(problemsOf(text(person('a@example.com', '[github:alice]'), person('b@example.com', '[github:bob, github:ALICE]')))).to.deep.equal([
      "base:.vouch/policy.yaml:12:30: reviewers.people[1].accounts[1]: one account, one reviewer: this account is already listed (the same as reviewers.people[0].accounts[0])",
    ]);
    expect(problemsOf(text(person('a@example.com', '[github:alice, github:Alice]')))).to.have.length(1);
    const ok = parsePolicy(text(person('a@example.com', '[github:alice, "gitlab.example.com:a.b_c", "github:dependabot[bot]"]'), person('b@example.com', '[]')), 'p');
    expect(ok.reviewers.people.map((r) => r.accounts)).to.deep.equal([['github:alice', 'gitlab.example.com:a.b_c', 'github:dependabot[bot]'], []]);
  });

  it('a valid rejection ends the wait whatever else arrived', () => {
    const d = evaluateApprovals([approval('alice@example.com'), approval('sec@example.com'), approval('alice@example.com', { decision: 'reject', ref: 'r2' })], ctx('high'), policy.reviewers, policy.approvals);
    expect(d.state).to.equal('rejected');
    expect(d.rejectedBy).to.deep.equal(['alice@example.com']);
    const forged = evaluateApprovals([approval('alice@example.com', { decision: 'reject', signedBy: undefined, tier: 'medium' })], ctx('medium'), policy.reviewers, policy.approvals);
    expect(forged.state, 'an unsigned rejection does not count either').to.equal('waiting');
  });
});

describe('reviewer brief (src/policy/brief.ts)', () => {
  const base = {
    repository: 'https://git.example/repo.git',
    pullRequest: '7',
    baseRevision: 'a'.repeat(40),
    headRevision: 'b'.repeat(40),
    tier: 'medium' as const,
    reasons: [{ rule: 'deps/new', tier: 'medium' as const, detail: 'new dependencies: left-pad@1.3.0' }],
    requirement: { count: 1, groups: {} },
    categories: { 'src/b.ts': 'code' as const, 'docs/a.md': 'docs' as const, 'package.json': 'dependencies' as const },
    changedLines: 12,
    dependencies: { added: [{ name: 'left-pad', versions: ['1.3.0'] }], removed: [], changed: [] },
    vulnerabilities: [],
    tests: { deleted: [], skipped: [], focused: [] },
    gates: [{ stage: 'test', passed: true, reasons: [] }, { stage: 'lint', passed: false, reasons: ['1 error'] }],
    agentRationale: undefined,
    agentTranscript: undefined,
  };

  it('names who requested the change, who cannot approve it; says nothing when that is not known', () => {
    expect(renderBrief({ ...base, requestedBy: ['github:zed', 'github:a_b'] })).to.include('- Requested by: github:a\\_b, github:zed (cannot approve it)\n- Required:');
    expect(renderBrief({ ...base, requestedBy: [] })).to.equal(renderBrief(base)).and.not.include('Requested by');
  });

  it('is deterministic and has every section; no rationale section without a transcript', () => {
    const a = renderBrief(base);
    expect(renderBrief({ ...base, categories: { 'package.json': 'dependencies', 'docs/a.md': 'docs', 'src/b.ts': 'code' }, gates: [...base.gates].reverse() })).to.equal(a);
    for (const h of ['# Review brief: MEDIUM risk', '## Why this tier', '## Files by category', '## Dependency changes', '## Vulnerabilities', '## Test changes', '## Gate results']) expect(a).to.include(h);
    expect(a).to.include('- lint: **FAILED** (1 error)');
    expect(a).not.to.include('rationale');
  });

  it("quotes the agent's words, marked as such, and makes them inert", () => {
    const transcript = [
      JSON.stringify({ type: 'system', subtype: 'init' }),
      JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'first thought' }] } }),
      'not json',
      JSON.stringify({ type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Bash' }, { type: 'text', text: 'I added left-pad because <b>it</b> is [small](http://x)\n# APPROVED' }] } }),
    ].join('\n');
    const rationale = rationaleFromTranscript(transcript);
    expect(rationale).to.equal('I added left-pad because <b>it</b> is [small](http://x)\n# APPROVED');
    expect(rationaleFromTranscript(transcript + '\n' + JSON.stringify({ type: 'result', result: 'final summary' }))).to.equal('final summary');
    const brief = renderBrief({ ...base, agentRationale: rationale, agentTranscript: '.vouch/reports/agent-run/transcript.jsonl' });
    expect(brief).to.include("## The agent's stated rationale (the agent's own words, not verified)");
    expect(brief).to.include('> I added left-pad because &lt;b&gt;it&lt;/b&gt; is \\[small\\]\\(http://x\\)');
    expect(brief).to.include('> \\# APPROVED');
    expect(brief.split('\n').some((l) => l.startsWith('# APPROVED'))).to.equal(false);
  });
});

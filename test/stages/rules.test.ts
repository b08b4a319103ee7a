import { expect } from 'chai';
import { BUILTIN_RULES, matchLine, policyRules, type LineRule } from '../../src/stages/secrets/rules.ts';
import { parseAddedLines } from '../../src/stages/git.ts';

function rule(id: string): LineRule {
  const r = BUILTIN_RULES.find((x) => x.id === id);
  if (!r) throw new Error(`no rule ${id}`);
  return r;
}

describe('secrets: vouch rules (what secretlint misses)', () => {
  it('AWS access key ids: found with their column; longer tokens and lower case are not key ids', () => {
    expect(matchLine(rule('vouch/aws-access-key-id'), 'const k = "AKIAQ7XK2LMN4PRS5TUV";')).to.deep.equal([{ column: 12, secret: 'AKIAQ7XK2LMN4PRS5TUV' }]);
    expect(matchLine(rule('vouch/aws-access-key-id'), 'ASIAQ7XK2LMN4PRS5TUV and AKIAQ7XK2LMN4PRS5TUW')).to.have.length(2);
    expect(matchLine(rule('vouch/aws-access-key-id'), 'XAKIAQ7XK2LMN4PRS5TUV')).to.deep.equal([]);
    expect(matchLine(rule('vouch/aws-access-key-id'), 'AKIAQ7XK2LMN4PRS5TUVW')).to.deep.equal([]);
    expect(matchLine(rule('vouch/aws-access-key-id'), 'akiaq7xk2lmn4prs5tuv')).to.deep.equal([]);
  });

  it('AWS secret access keys in ini, env and JSON spellings', () => {
    const secret = 'q7Zr2Lm9Xw4Tn8Vb1Kc6Hs3Jd5Fg0PaYeRuIoWtE';
    for (const line of [`aws_secret_access_key = ${secret}`, `AWS_SECRET_ACCESS_KEY=${secret}`, `"awsSecretAccessKey": "${secret}"`]) {
      const m = matchLine(rule('vouch/aws-secret-access-key'), line);
      expect(m, line).to.have.length(1);
      expect(m[0]?.secret).to.equal(secret);
      expect(line.slice((m[0]?.column ?? 0) - 1)).to.match(new RegExp(`^${secret}`));
    }
  });

  it('private key blocks', () => {
    expect(matchLine(rule('vouch/private-key-block'), '-----BEGIN OPENSSH PRIVATE KEY-----')).to.have.length(1);
    expect(matchLine(rule('vouch/private-key-block'), '-----BEGIN RSA PRIVATE KEY-----')).to.have.length(1);
    expect(matchLine(rule('vouch/private-key-block'), '-----BEGIN PUBLIC KEY-----')).to.deep.equal([]);
  });

  it('.env secrets: only in .env files, placeholders and references ignored', () => {
    const r = rule('vouch/dotenv-secret');
    expect(r.appliesTo?.('.env')).to.equal(true);
    expect(r.appliesTo?.('config/.env.production')).to.equal(true);
    expect(r.appliesTo?.('prod.env')).to.equal(true);
    expect(r.appliesTo?.('src/env.ts')).to.equal(false);
    expect(matchLine(r, 'DB_PASSWORD=Tr0ub4dor-and-3')).to.deep.equal([{ column: 13, secret: 'Tr0ub4dor-and-3' }]);
    expect(matchLine(r, 'export API_TOKEN="abc123def456" # prod')).to.deep.equal([{ column: 19, secret: 'abc123def456' }]);
    for (const line of ['DB_PASSWORD=', 'DB_PASSWORD=${DB_PASSWORD}', 'API_TOKEN=changeme', 'SECRET=<your secret>', 'API_URL=https://x', '# PASSWORD=old']) {
      expect(matchLine(r, line), line).to.deep.equal([]);
    }
  });

  it('policy patterns become rules with the policy/ prefix', () => {
    const [r] = policyRules([{ id: 'internal-token', regex: 'itk_[0-9a-f]{8}', description: '' }]);
    expect(r?.id).to.equal('policy/internal-token');
    expect(matchLine(r!, 'x itk_0123abcd y')).to.deep.equal([{ column: 3, secret: 'itk_0123abcd' }]);
  });
});

describe('stages/git: added lines of a -U0 diff', () => {
  it('keeps head line numbers, skips deletions and removed files, unquotes odd paths', () => {
    const diff = [
      'diff --git a/src/a.ts b/src/a.ts',
      'index 1..2 100644',
      '--- a/src/a.ts',
      '+++ b/src/a.ts',
      '@@ -2,0 +3,2 @@ fn',
      '+added three',
      '+added four',
      '@@ -10 +11 @@',
      '-old eleven',
      '+new eleven',
      'diff --git a/gone.txt b/gone.txt',
      'deleted file mode 100644',
      '--- a/gone.txt',
      '+++ /dev/null',
      '@@ -1 +0,0 @@',
      '-bye',
      'diff --git "a/t\\303\\251st\\tx" "b/t\\303\\251st\\tx"',
      'new file mode 100644',
      '--- /dev/null',
      '+++ "b/t\\303\\251st\\tx"',
      '@@ -0,0 +1 @@',
      '++++ looks like a header',
      '',
    ].join('\n');
    const files = parseAddedLines(diff);
    expect(files.map((f) => f.path)).to.deep.equal(['src/a.ts', 'tést\tx']);
    expect([...files[0]!.lines]).to.deep.equal([[3, 'added three'], [4, 'added four'], [11, 'new eleven']]);
    expect([...files[1]!.lines]).to.deep.equal([[1, '+++ looks like a header']]);
  });
});

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildStatement, parseStatement, STATEMENT_TYPE_V1, subjectMatches, subjectMatchesDigest, validateStatement } from '../../src/attest/statement.ts';
import { VouchError } from '../../src/common/errors.ts';
import { SHARED } from '../helpers/cli.ts';

const D1 = 'a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
const D2 = '330a043220fa13e01d68a7db39c89e12b0c4c3b6a0346fe624b0903f1303b5b2';

function good(): Record<string, unknown> {
  return {
    _type: STATEMENT_TYPE_V1,
    subject: [
      { name: 'a.txt', digest: { sha256: D1 } },
      { name: 'b.tar', digest: { sha256: D2, sha512: 'ab'.repeat(64) } },
    ],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: { buildDefinition: {} },
  };
}

/** The STATEMENT_INVALID error's field path for `value`. */
function pathOf(value: unknown, options = {}): string {
  try {
    validateStatement(value, 'stmt', options);
  } catch (err) {
    expect(err).to.be.instanceOf(VouchError);
    expect((err as VouchError).code).to.equal('STATEMENT_INVALID');
    return (err as VouchError).details!['path'] as string;
  }
  throw new Error('expected the statement to be rejected');
}

describe('attest: in-toto Statement v1', () => {
  it('builds a v1 statement with named sha256 subjects, and it validates', () => {
    const s = buildStatement({ subjects: [{ name: 'app.tar', sha256: D1 }], predicateType: 'https://example.com/p/v1', predicate: { ok: true } });
    expect(s).to.deep.equal({ _type: STATEMENT_TYPE_V1, subject: [{ name: 'app.tar', digest: { sha256: D1 } }], predicateType: 'https://example.com/p/v1', predicate: { ok: true } });
    expect(validateStatement(JSON.parse(JSON.stringify(s)), 's')).to.deep.equal(s);
  });

  it('refuses to build a statement without sha256, with a bad digest, or with a predicate type that is no URI', () => {
    expect(() => buildStatement({ subjects: [{ name: 'x', sha256: 'ABC' }], predicateType: 'https://e/p', predicate: {} })).to.throw(/subject\[0\]\.digest\.sha256/);
    expect(() => buildStatement({ subjects: [], predicateType: 'https://e/p', predicate: {} })).to.throw(/subject: must name at least one/);
    expect(() => buildStatement({ subjects: [{ name: 'x', sha256: D1 }], predicateType: 'provenance', predicate: {} })).to.throw(/predicateType: must be a URI/);
    expect(() => buildStatement({ subjects: [{ name: '', sha256: D1 }], predicateType: 'https://e/p', predicate: {} })).to.throw(/subject\[0\]\.name/);
  });

  it('rejects malformed statements naming the field path', () => {
    const cases: [string, (s: Record<string, unknown>) => unknown, object?][] = [
      ['(root)', () => [1, 2]],
      ['(root)', () => 'text'],
      ['_type', (s) => ({ ...s, _type: undefined })],
      ['_type', (s) => ({ ...s, _type: 'https://in-toto.io/Statement/v2' })],
      ['subject', (s) => ({ ...s, subject: undefined })],
      ['subject', (s) => ({ ...s, subject: {} })],
      ['subject', (s) => ({ ...s, subject: [] })],
      ['subject[1]', (s) => ({ ...s, subject: [(s['subject'] as unknown[])[0], 'b.tar'] })],
      ['subject[0].digest', (s) => ({ ...s, subject: [{ name: 'a' }] })],
      ['subject[0].digest', (s) => ({ ...s, subject: [{ name: 'a', digest: {} }] })],
      ['subject[0].digest', (s) => ({ ...s, subject: [{ name: 'a', digest: 'sha256:' + D1 }] })],
      ['subject[0].digest.sha256', (s) => ({ ...s, subject: [{ name: 'a', digest: { sha256: D1.toUpperCase() } }] })],
      ['subject[0].digest.sha256', (s) => ({ ...s, subject: [{ name: 'a', digest: { sha256: D1.slice(2) } }] })],
      ['subject[0].digest.sha512', (s) => ({ ...s, subject: [{ name: 'a', digest: { sha512: D1 } }] })],
      ['subject[0].digest.sha256', (s) => ({ ...s, subject: [{ name: 'a', digest: { sha256: 12 } }] })],
      ['subject[0].name', (s) => ({ ...s, subject: [{ name: 7, digest: { sha256: D1 } }] })],
      ['subject[0].annotations', (s) => ({ ...s, subject: [{ name: 'a', digest: { sha256: D1 }, annotations: [] }] })],
      ['subject[0].digest.sha256', (s) => ({ ...s, subject: [{ name: 'a', digest: { sha1: 'ab'.repeat(20) } }] }), { requireSha256: true }],
      ['subject[0].name', (s) => ({ ...s, subject: [{ digest: { sha256: D1 } }] }), { requireName: true }],
      ['predicateType', (s) => ({ ...s, predicateType: undefined })],
      ['predicateType', (s) => ({ ...s, predicateType: 'not a uri' })],
      ['predicate', (s) => ({ ...s, predicate: [1] })],
      ['predicate', (s) => ({ ...s, predicate: 'x' })],
    ];
    for (const [path, mutate, options] of cases) expect(pathOf(mutate(good()), options), path).to.equal(path);
  });

  it('accepts what the spec allows: unnamed subjects, other digest algorithms, no predicate, v0.1 when reading', () => {
    validateStatement({ ...good(), subject: [{ digest: { gitCommit: 'ab'.repeat(20) } }], predicate: undefined }, 's');
    validateStatement({ ...good(), _type: 'https://in-toto.io/Statement/v0.1' }, 's');
    expect(() => validateStatement({ ...good(), _type: 'https://in-toto.io/Statement/v0.1' }, 's', { versions: [STATEMENT_TYPE_V1] })).to.throw(VouchError);
  });

  it('matches subjects by digest', () => {
    const s = validateStatement(good(), 's');
    expect(subjectMatches(s, D1)).to.be.true;
    expect(subjectMatches(s, D2)).to.be.true;
    expect(subjectMatches(s, 'ff'.repeat(32))).to.be.false;
    expect(subjectMatchesDigest(s, 'sha512', 'AB'.repeat(64))).to.be.true;
    expect(subjectMatchesDigest(s, 'sha512', D1)).to.be.false;
  });

  it('parses real statements: the conformance suite statement and the npm attestation in the keyed fixture', () => {
    const conformance = parseStatement(readFileSync(join(SHARED, 'fixtures/sigstore-conformance/statement.json')), 'statement.json');
    expect(conformance.subject.length).to.be.greaterThan(0);
    const bundle = JSON.parse(readFileSync(join(SHARED, 'fixtures/sigstore-keyed/bundle.json'), 'utf8')) as { dsseEnvelope: { payload: string } };
    const npm = parseStatement(Buffer.from(bundle.dsseEnvelope.payload, 'base64'), 'npm');
    expect(npm._type).to.equal('https://in-toto.io/Statement/v0.1');
    expect(() => parseStatement('{"_type":', 'x')).to.throw(/x: not JSON/);
  });
});

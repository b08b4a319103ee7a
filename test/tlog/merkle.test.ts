// Proofs checked against an independent, naive recursive implementation of RFC 6962 (MTH, PATH, PROOF over slices),
// written here from the RFC's text and sharing no code with src/tlog/merkle.ts but SHA-256.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { MerkleTree, EMPTY_ROOT, hashLeaf, rootFromInclusionProof, verifyConsistency, verifyInclusion } from '../../src/tlog/merkle.ts';

const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const k = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1); // largest power of two < n (n >= 2)
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return sha(Buffer.from([0]), d[0]!);
  const s = k(d.length);
  return sha(Buffer.from([1]), mth(d.slice(0, s)), mth(d.slice(s)));
}
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const s = k(d.length);
  return m < s ? [...path(m, d.slice(0, s)), mth(d.slice(s))] : [...path(m - s, d.slice(s)), mth(d.slice(0, s))];
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s ? [...subproof(m, d.slice(0, s), b), mth(d.slice(s))] : [...subproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}
const proof = (m: number, d: Buffer[]): Buffer[] => subproof(m, d, true);

const hex = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex'));
function flip(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c[c.length - 1]! ^= 1;
  return c;
}

describe('tlog: RFC 6962 Merkle tree', () => {
  const N = 70;
  const data = Array.from({ length: N }, (_, i) => Buffer.from(`leaf ${i} ${i * 7919}`));
  const tree = new MerkleTree();
  for (const d of data) tree.appendLeaf(d);

  it('hashes leaves with 0x00 and nodes with 0x01; the empty root is sha256("")', () => {
    expect(hashLeaf(Buffer.from('x')).equals(sha(Buffer.from([0]), Buffer.from('x')))).to.be.true;
    expect(EMPTY_ROOT.toString('hex')).to.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new MerkleTree().root(0).equals(EMPTY_ROOT)).to.be.true;
  });

  it(`roots of every prefix 0..${N} equal the naive MTH`, () => {
    for (let n = 0; n <= N; n++) expect(tree.root(n).toString('hex'), `size ${n}`).to.equal(mth(data.slice(0, n)).toString('hex'));
  });

  it(`inclusion proofs for every (index, size) with size 1..${N} equal PATH and verify; tampering fails`, () => {
    let checked = 0;
    for (let n = 1; n <= N; n++) {
      const d = data.slice(0, n);
      const root = mth(d);
      for (let m = 0; m < n; m++) {
        const p = tree.inclusionProof(m, n);
        expect(hex(p), `PATH(${m}, ${n})`).to.deep.equal(hex(path(m, d)));
        const leaf = hashLeaf(d[m]!);
        expect(verifyInclusion(m, n, leaf, p, root)).to.equal(true);
        // tampered: each proof hash flipped, wrong index, wrong size, wrong leaf, dropped / extra hash
        p.forEach((_, i) => expect(verifyInclusion(m, n, leaf, p.map((h, j) => (j === i ? flip(h) : h)), root)).to.equal(false));
        if (n > 1) expect(verifyInclusion((m + 1) % n, n, leaf, p, root)).to.equal(false);
        expect(verifyInclusion(m, n, flip(leaf), p, root)).to.equal(false);
        if (n < N) expect(verifyInclusion(m, n + 1, leaf, p, mth(data.slice(0, n + 1)))).to.equal(false);
        if (p.length > 0) expect(verifyInclusion(m, n, leaf, p.slice(1), root)).to.equal(false);
        expect(verifyInclusion(m, n, leaf, [...p, root], root)).to.equal(false);
        expect(verifyInclusion(m, n, leaf, p, flip(root))).to.equal(false);
        checked++;
      }
    }
    expect(checked).to.equal((N * (N + 1)) / 2);
  });

  it(`consistency proofs for every 1 <= m <= n <= ${N} equal PROOF and verify; tampering fails`, () => {
    for (let n = 1; n <= N; n++) {
      const rootN = mth(data.slice(0, n));
      for (let m = 1; m <= n; m++) {
        const p = tree.consistencyProof(m, n);
        const expected = m === n ? [] : proof(m, data.slice(0, n));
        expect(hex(p), `PROOF(${m}, ${n})`).to.deep.equal(hex(expected));
        const rootM = mth(data.slice(0, m));
        expect(verifyConsistency(m, n, rootM, rootN, p), `verify ${m}->${n}`).to.equal(true);
        p.forEach((_, i) => expect(verifyConsistency(m, n, rootM, rootN, p.map((h, j) => (j === i ? flip(h) : h)))).to.equal(false));
        expect(verifyConsistency(m, n, flip(rootM), rootN, p)).to.equal(false);
        expect(verifyConsistency(m, n, rootM, flip(rootN), p)).to.equal(false);
        if (m < n) {
          expect(verifyConsistency(m, n, rootM, rootN, p.slice(0, -1))).to.equal(false);
          expect(verifyConsistency(m, n, rootM, rootN, [...p, rootN])).to.equal(false);
          if (m + 1 < n) expect(verifyConsistency(m + 1, n, rootM, rootN, p)).to.equal(false);
        }
      }
    }
  });

  it('rejects out-of-range requests', () => {
    expect(() => tree.inclusionProof(N, N)).to.throw(RangeError);
    expect(() => tree.inclusionProof(0, N + 1)).to.throw(RangeError);
    expect(() => tree.consistencyProof(0, N)).to.throw(RangeError);
    expect(() => tree.consistencyProof(5, 4)).to.throw(RangeError);
    expect(rootFromInclusionProof(-1, 3, hashLeaf(Buffer.alloc(1)), [])).to.equal(undefined);
  });

  it('serves an inclusion proof at 10^5 entries in well under a millisecond', () => {
    const big = new MerkleTree();
    for (let i = 0; i < 100_000; i++) big.appendLeafHash(randomBytes(32));
    const root = big.root();
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      const m = (i * 7919) % big.size;
      const p = big.inclusionProof(m);
      if (i % 100 === 0) expect(verifyInclusion(m, big.size, big.leafHash(m), p, root)).to.equal(true);
    }
    expect((performance.now() - t0) / 1000).to.be.below(1);
  });
});

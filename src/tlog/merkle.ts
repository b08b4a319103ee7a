import { createHash } from 'node:crypto';

// RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
//
// MerkleTree keeps every leaf hash (32 bytes each) and, level by level, the hash of every complete (perfect) subtree
// appended so far: level k holds the roots of the subtrees of 2^k leaves that start at multiples of 2^k. Appending a
// leaf adds O(1) amortised hashes. The hash of any subtree the RFC's recursions ask for is then either one read from
// a level (a perfect subtree) or, on the right border of a prefix, a fold of at most log2(n) perfect subtrees; so
// root(n), inclusion proofs and consistency proofs cost O(log n) reads and at most O(log n) hashes, never a
// recomputation over the leaves.

export const HASH_SIZE = 32;
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export function hashLeaf(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** MTH of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** Largest power of two strictly less than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPow2(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}

/** A growable array of 32-byte hashes in one Buffer. */
class HashArray {
  private buf: Buffer;
  length = 0;
  constructor(capacity = 1024) {
    this.buf = Buffer.allocUnsafe(capacity * HASH_SIZE);
  }
  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.length * HASH_SIZE);
      this.buf = bigger;
    }
    this.buf.set(hash, this.length * HASH_SIZE);
    this.length++;
  }
  /** A view (not a copy) of hash i. */
  at(i: number): Buffer {
    return this.buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

export class MerkleTree {
  /** levels[k].at(i) = hash of leaves [i·2^k, (i+1)·2^k) */
  private readonly levels: HashArray[] = [new HashArray()];
  /** memo of non-perfect right-border subtree hashes for the current size; cleared on append */
  private border = new Map<string, Buffer>();

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends the hash of a leaf (already hashed with hashLeaf). */
  appendLeafHash(leafHash: Uint8Array): void {
    if (leafHash.length !== HASH_SIZE) throw new Error('leaf hash must be 32 bytes');
    this.levels[0]!.push(leafHash);
    let level = 0;
    // while the newest node at this level completes a pair, hash the pair one level up
    while (this.levels[level]!.length % 2 === 0) {
      const arr = this.levels[level]!;
      const parent = hashChildren(arr.at(arr.length - 2), arr.at(arr.length - 1));
      level++;
      if (this.levels.length === level) this.levels.push(new HashArray(16));
      this.levels[level]!.push(parent);
    }
    if (this.border.size > 0) this.border = new Map();
  }

  appendLeaf(data: Uint8Array): Buffer {
    const h = hashLeaf(data);
    this.appendLeafHash(h);
    return h;
  }

  leafHash(index: number): Buffer {
    this.checkIndex(index, this.size);
    return Buffer.from(this.levels[0]!.at(index));
  }

  /** MTH(D[0:n]) for any 0 <= n <= size. */
  root(n: number = this.size): Buffer {
    this.checkSize(n);
    if (n === 0) return Buffer.from(EMPTY_ROOT);
    return Buffer.from(this.subtree(0, n));
  }

  /**
   * MTH(D[start:end]). The recursions of RFC 6962 only ask for ranges whose start is a multiple of the largest power of
   * two not above their length, so the range is either one perfect subtree (one read) or a fold along a right border.
   */
  private subtree(start: number, end: number): Buffer {
    const n = end - start;
    if (isPow2(n) && start % n === 0) {
      const level = Math.log2(n);
      return this.levels[level]!.at(start / n);
    }
    const key = `${start}:${end}`;
    const memo = this.border.get(key);
    if (memo) return memo;
    const k = splitPoint(n);
    const h = hashChildren(this.subtree(start, start + k), this.subtree(start + k, end));
    this.border.set(key, h);
    return h;
  }

  /** Audit path for leaf m in the tree of size n (RFC 6962 §2.1.1 PATH), leaf to root. */
  inclusionProof(m: number, n: number = this.size): Buffer[] {
    this.checkSize(n);
    this.checkIndex(m, n);
    const out: Buffer[] = [];
    this.path(m, 0, n, out);
    return out.map((b) => Buffer.from(b));
  }

  private path(m: number, start: number, end: number, out: Buffer[]): void {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.path(m, start, start + k, out);
      out.push(this.subtree(start + k, end));
    } else {
      this.path(m - k, start + k, end, out);
      out.push(this.subtree(start, start + k));
    }
  }

  /** Consistency proof between sizes m and n (RFC 6962 §2.1.2 PROOF), for 0 < m <= n <= size; empty when m == n. */
  consistencyProof(m: number, n: number = this.size): Buffer[] {
    this.checkSize(n);
    if (!Number.isSafeInteger(m) || m < 1 || m > n) throw new RangeError(`invalid first size ${m} for size ${n}`);
    const out: Buffer[] = [];
    if (m === n) return out;
    this.subproof(m, 0, n, true, out);
    return out.map((b) => Buffer.from(b));
  }

  private subproof(m: number, start: number, end: number, b: boolean, out: Buffer[]): void {
    const n = end - start;
    if (m === n) {
      if (!b) out.push(this.subtree(start, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.subproof(m, start, start + k, b, out);
      out.push(this.subtree(start + k, end));
    } else {
      this.subproof(m - k, start + k, end, false, out);
      out.push(this.subtree(start, start + k));
    }
  }

  private checkSize(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.size) throw new RangeError(`tree size ${n} out of range (size ${this.size})`);
  }

  private checkIndex(m: number, n: number): void {
    if (!Number.isSafeInteger(m) || m < 0 || m >= n) throw new RangeError(`leaf index ${m} out of range for tree size ${n}`);
  }
}

// ---- verification (RFC 9162 §2.1.3.2 and §2.1.4.2); these take nothing from the tree, only what a client has ----

function bitLength(n: number): number {
  return n === 0 ? 0 : Math.floor(Math.log2(n)) + 1;
}

function onesCount(n: number): number {
  let c = 0;
  while (n > 0) {
    c += n % 2;
    n = Math.floor(n / 2);
  }
  return c;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Root hash implied by an inclusion proof, or undefined when the proof has the wrong shape. */
export function rootFromInclusionProof(leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[]): Buffer | undefined {
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) return undefined;
  if (proof.some((h) => h.length !== HASH_SIZE) || leafHash.length !== HASH_SIZE) return undefined;
  // split the path where the paths to leafIndex and to the last leaf diverge (as RFC 9162's algorithm does)
  const inner = bitLength(xor(leafIndex, treeSize - 1));
  const border = onesCount(Math.floor(leafIndex / 2 ** inner));
  if (proof.length !== inner + border) return undefined;
  let h: Buffer = Buffer.from(leafHash);
  for (let i = 0; i < inner; i++) {
    h = Math.floor(leafIndex / 2 ** i) % 2 === 1 ? hashChildren(proof[i]!, h) : hashChildren(h, proof[i]!);
  }
  for (let i = inner; i < proof.length; i++) h = hashChildren(proof[i]!, h);
  return h;
}

/** XOR for non-negative safe integers (beyond 32 bits too). */
function xor(a: number, b: number): number {
  const hi = Math.floor(a / 2 ** 32) ^ Math.floor(b / 2 ** 32);
  const lo = (a % 2 ** 32) ^ (b % 2 ** 32);
  return (hi >>> 0) * 2 ** 32 + (lo >>> 0);
}

export function verifyInclusion(leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  return computed !== undefined && equal(computed, root);
}

/** RFC 9162 §2.1.4.2: does `proof` show that the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2) || size1 < 0 || size2 < size1) return false;
  if (proof.some((h) => h.length !== HASH_SIZE)) return false;
  if (size1 === size2) return proof.length === 0 && equal(root1, root2);
  if (size1 === 0) return proof.length === 0; // the empty tree is a prefix of everything
  if (proof.length === 0) return false;
  const path = isPow2(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(fr, root1) && equal(sr, root2);
}

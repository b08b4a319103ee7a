// Just enough of tar (POSIX ustar, pax and GNU long names) to say which members of two archives differ: each
// member's name, type, mode, owner, mtime and the sha256 of its content. Gzip-compressed archives are unpacked first.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';

export interface TarMember {
  name: string;
  /** tar typeflag: '0' file, '5' directory, '2' symlink... */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  sha256: string;
}

export function isGzip(data: Uint8Array): boolean {
  return data.length > 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** The bytes, gunzipped when they are gzip; undefined when they do not unpack. */
export function maybeGunzip(data: Buffer): Buffer | undefined {
  if (!isGzip(data)) return data;
  try {
    return gunzipSync(data);
  } catch {
    return undefined;
  }
}

function field(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? raw.length : nul).toString('utf8');
}

function octal(block: Buffer, offset: number, length: number): number {
  const text = field(block, offset, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === octal(block, 148, 8);
}

/** pax extended header records: "<len> <key>=<value>\n" */
function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = parseInt(data.subarray(i, space).toString('ascii'), 10);
    if (!Number.isInteger(len) || len <= 0) break;
    const record = data.subarray(space + 1, i + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** The members of a tar archive, or undefined when the bytes are not one. */
export function readTar(data: Buffer): TarMember[] | undefined {
  const members: TarMember[] = [];
  let offset = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + 512 <= data.length) {
    const block = data.subarray(offset, offset + 512);
    if (block.every((b) => b === 0)) return members;
    if (!checksumOk(block)) return undefined;
    const size = octal(block, 124, 12);
    const type = field(block, 156, 1) || '0';
    const body = data.subarray(offset + 512, offset + 512 + size);
    if (body.length < size) return undefined;
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      pax = paxRecords(body);
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') {
      longName = field(body, 0, body.length);
      continue;
    }
    const prefix = field(block, 345, 155);
    const name = pax['path'] ?? longName ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
    members.push({
      name,
      type,
      mode: octal(block, 100, 8),
      uid: octal(block, 108, 8),
      gid: octal(block, 116, 8),
      mtime: pax['mtime'] === undefined ? octal(block, 136, 12) : Number(pax['mtime']),
      size,
      linkname: pax['linkpath'] ?? field(block, 157, 100),
      sha256: createHash('sha256').update(body).digest('hex'),
    });
    longName = undefined;
    pax = {};
  }
  return members.length > 0 ? members : undefined;
}

export interface MemberDifference {
  name: string;
  /** what differs: content, mode, owner, mtime, type, link, only in the first, only in the second */
  what: string[];
}

/** Members that differ between two archives, by name, in the first archive's order (then those only in the second). */
export function diffTars(a: TarMember[], b: TarMember[]): MemberDifference[] {
  const byName = new Map(b.map((m) => [m.name, m]));
  const seen = new Set<string>();
  const out: MemberDifference[] = [];
  for (const m of a) {
    seen.add(m.name);
    const o = byName.get(m.name);
    if (o === undefined) {
      out.push({ name: m.name, what: ['only in the first build'] });
      continue;
    }
    const what: string[] = [];
    if (m.type !== o.type) what.push(`type ${m.type} vs ${o.type}`);
    if (m.sha256 !== o.sha256) what.push(`content (${String(m.size)} vs ${String(o.size)} bytes)`);
    if (m.mode !== o.mode) what.push(`mode ${m.mode.toString(8)} vs ${o.mode.toString(8)}`);
    if (m.uid !== o.uid || m.gid !== o.gid) what.push(`owner ${String(m.uid)}:${String(m.gid)} vs ${String(o.uid)}:${String(o.gid)}`);
    if (m.mtime !== o.mtime) what.push(`mtime ${String(m.mtime)} vs ${String(o.mtime)}`);
    if (m.linkname !== o.linkname) what.push(`link target ${m.linkname} vs ${o.linkname}`);
    if (what.length > 0) out.push({ name: m.name, what });
  }
  for (const o of b) if (!seen.has(o.name)) out.push({ name: o.name, what: ['only in the second build'] });
  const orderA = a.map((m) => m.name).join('\0');
  const orderB = b.map((m) => m.name).join('\0');
  if (out.length === 0 && orderA !== orderB) out.push({ name: '(archive)', what: ['member order'] });
  return out;
}

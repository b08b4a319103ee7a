// A CycloneDX 1.6 JSON SBOM of an npm project from its lockfile, built with the CycloneDX library's models and
// serializer and checked with its offline strict schema validator before anything is written. Reproducible: no
// timestamp, lists sorted, and the serial number is a name-based UUID (v5) of the BOM's own content.
import * as CDX from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import parseSpdx from 'spdx-expression-parse';
import { createHash } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { sha256Hex } from '../../common/digest.ts';
import type { Lockfile, LockPackage } from './lockfile.ts';

export const SPEC_VERSION = '1.6';
/** bom-ref of the project itself (metadata.component) */
export const ROOT_REF = 'root';

const HASH_ALGORITHMS: Record<string, CDX.Enums.HashAlgorithm> = {
  sha1: CDX.Enums.HashAlgorithm['SHA-1'],
  sha256: CDX.Enums.HashAlgorithm['SHA-256'],
  sha384: CDX.Enums.HashAlgorithm['SHA-384'],
  sha512: CDX.Enums.HashAlgorithm['SHA-512'],
};

/** `group` and `name` as CycloneDX writes npm packages: the scope is the group. */
export function splitScope(name: string): { group: string | undefined; name: string } {
  if (name.startsWith('@') && name.includes('/')) {
    const slash = name.indexOf('/');
    return { group: name.slice(0, slash), name: name.slice(slash + 1) };
  }
  return { group: undefined, name };
}

export function npmPurl(name: string, version: string | undefined): string {
  const { group, name: bare } = splitScope(name);
  return new PackageURL('npm', group, bare, version, undefined, undefined).toString();
}

/** SRI integrity (`sha512-<base64> sha1-<base64>`) as CycloneDX hashes (hex). */
export function integrityHashes(integrity: string | undefined): [CDX.Enums.HashAlgorithm, string][] {
  if (integrity === undefined) return [];
  const out: [CDX.Enums.HashAlgorithm, string][] = [];
  for (const part of integrity.trim().split(/\s+/)) {
    const dash = part.indexOf('-');
    const alg = HASH_ALGORITHMS[part.slice(0, dash)];
    if (dash === -1 || alg === undefined) continue;
    const hex = Buffer.from(part.slice(dash + 1).split('?')[0] ?? '', 'base64').toString('hex');
    if (hex.length > 0) out.push([alg, hex]);
  }
  return out;
}

/** The license as declared: one SPDX id, an SPDX expression, or (when neither parses) a named license. */
function licenseOf(declared: string | undefined): CDX.Models.License | undefined {
  if (declared === undefined || declared.trim() === '') return undefined;
  try {
    const ast = parseSpdx(declared);
    if ('license' in ast && ast.plus !== true && ast.exception === undefined && CDX.SPDX.isSupportedSpdxId(ast.license)) {
      return new CDX.Models.SpdxLicense(ast.license);
    }
    return new CDX.Models.LicenseExpression(declared);
  } catch {
    return new CDX.Models.NamedLicense(declared);
  }
}

function component(pkg: LockPackage): CDX.Models.Component {
  const { group, name } = splitScope(pkg.name);
  const c = new CDX.Models.Component(CDX.Enums.ComponentType.Library, name, {
    bomRef: pkg.key,
    ...(group === undefined ? {} : { group }),
    ...(pkg.version === undefined ? {} : { version: pkg.version }),
  });
  c.purl = npmPurl(pkg.name, pkg.version);
  for (const [alg, hex] of integrityHashes(pkg.integrity)) c.hashes.set(alg, hex);
  const license = licenseOf(pkg.license);
  if (license !== undefined) c.licenses.add(license);
  if (pkg.resolved !== undefined && /^https?:\/\//.test(pkg.resolved)) {
    c.externalReferences.add(new CDX.Models.ExternalReference(pkg.resolved, CDX.Enums.ExternalReferenceType.Distribution));
  }
  // property names of the CycloneDX property taxonomy for npm (cdx:npm:package:*), as cyclonedx-npm writes them
  c.properties.add(new CDX.Models.Property('cdx:npm:package:path', pkg.key));
  if (pkg.dev) c.properties.add(new CDX.Models.Property('cdx:npm:package:development', 'true'));
  if (pkg.optional) c.scope = CDX.Enums.ComponentScope.Optional;
  return c;
}

function serialize(bom: CDX.Models.Bom): string {
  const serializer = new CDX.Serialize.JsonSerializer(new CDX.Serialize.JSON.Normalize.Factory(CDX.Spec.Spec1dot6));
  return serializer.serialize(bom, { sortLists: true, space: 2 }) + '\n';
}

/** RFC 4122 name-based UUID (version 5, SHA-1) in the URL namespace. */
function uuidV5(name: string): string {
  const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(namespace).update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** Builds the SBOM's JSON text (byte-identical for the same lockfile). */
export function buildSbomJson(lock: Lockfile, tool: { name: string; version: string } = { name: 'vouch', version: '0.1.0' }): string {
  const bom = new CDX.Models.Bom();
  const rootComponent = new CDX.Models.Component(CDX.Enums.ComponentType.Application, splitScope(lock.root.name).name, {
    bomRef: ROOT_REF,
    ...(splitScope(lock.root.name).group === undefined ? {} : { group: splitScope(lock.root.name).group }),
    ...(lock.root.version === undefined ? {} : { version: lock.root.version }),
  });
  rootComponent.purl = npmPurl(lock.root.name, lock.root.version);
  const rootLicense = licenseOf(lock.root.license);
  if (rootLicense !== undefined) rootComponent.licenses.add(rootLicense);
  bom.metadata.component = rootComponent;
  bom.metadata.tools.components.add(new CDX.Models.Component(CDX.Enums.ComponentType.Application, tool.name, { version: tool.version }));

  const byKey = new Map<string, CDX.Models.Component>();
  for (const pkg of lock.packages) {
    const c = component(pkg);
    byKey.set(pkg.key, c);
    bom.components.add(c);
  }
  const refs = (keys: string[]): CDX.Models.BomRef[] =>
    keys.map((k) => {
      const c = byKey.get(k);
      if (c === undefined) throw new VouchError('INTERNAL', `dependency ${k} has no component`);
      return c.bomRef;
    });
  for (const ref of refs(lock.root.dependsOn)) rootComponent.dependencies.add(ref);
  for (const pkg of lock.packages) {
    const c = byKey.get(pkg.key)!;
    for (const ref of refs(pkg.dependsOn)) c.dependencies.add(ref);
  }
  // the serial number names the content: the same lockfile always gives the same BOM, bytes included
  const unnumbered = serialize(bom);
  bom.serialNumber = `urn:uuid:${uuidV5(`vouch-sbom:sha256:${sha256Hex(unnumbered)}`)}`;
  return serialize(bom);
}

/** Validates against the CycloneDX 1.6 JSON schema (bundled with the library, offline). */
let validator: CDX.Validation.JsonStrictValidator | undefined;

export async function validateSbomJson(json: string, source: string): Promise<void> {
  // one validator per process: it compiles the schema on first use (the costly part) and keeps it
  validator ??= new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6);
  let errors: unknown;
  try {
    errors = await validator.validate(json);
  } catch (err) {
    throw new VouchError('SBOM_INVALID', `${source}: cannot validate as CycloneDX ${SPEC_VERSION}: ${errorMessage(err)}`, { cause: err });
  }
  if (errors !== null && errors !== undefined) {
    throw new VouchError('SBOM_INVALID', `${source}: not valid CycloneDX ${SPEC_VERSION}: ${JSON.stringify(errors).slice(0, 1000)}`, {
      details: { source },
    });
  }
}

export interface WrittenSbom {
  path: string;
  /** sha256 of the file's bytes */
  digest: string;
  components: number;
}

/** Builds, validates, then writes atomically: an SBOM the schema refuses is never written. */
export async function writeSbom(lock: Lockfile, outPath: string): Promise<WrittenSbom> {
  const json = buildSbomJson(lock);
  await validateSbomJson(json, outPath);
  const tmp = `${outPath}.tmp-${String(process.pid)}`;
  try {
    writeFileSync(tmp, json);
    renameSync(tmp, outPath);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new VouchError('IO', `cannot write the SBOM to ${outPath}: ${errorMessage(err)}`, { cause: err });
  }
  return { path: outPath, digest: sha256Hex(json), components: lock.packages.length };
}

import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/common/config.ts';
import { formatSha256Digest, parseSha256Digest, sha256File, sha256Hex } from '../src/common/digest.ts';
import { VouchError, isVouchError } from '../src/common/errors.ts';
import { tempDirPerSuite } from './helpers/tmp.ts';

describe('common', () => {
  const dir = tempDirPerSuite();

  describe('digest', () => {
    it('hashes bytes and files alike', async () => {
      const f = join(dir(), 'a.txt');
      writeFileSync(f, 'hello\n');
      expect(await sha256File(f)).to.equal(sha256Hex('hello\n'));
      expect(sha256Hex('')).to.equal('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    });
    it('parses only well-formed sha256 digests', () => {
      const hex = sha256Hex('x');
      expect(parseSha256Digest(`sha256:${hex}`)).to.equal(hex);
      for (const bad of [hex, `sha256:${hex.toUpperCase()}`, `sha256:${hex}0`, `sha512:${hex}`, 'sha256:', '']) {
        expect(() => parseSha256Digest(bad), bad).to.throw(VouchError).with.property('code', 'DIGEST_INVALID');
      }
      expect(formatSha256Digest(hex)).to.equal(`sha256:${hex}`);
    });
    it('reports an unreadable file as IO', async () => {
      try {
        await sha256File(join(dir(), 'missing'));
        expect.fail('should throw');
      } catch (err) {
        expect(isVouchError(err, 'IO')).to.be.true;
      }
    });
  });

  describe('config', () => {
    it('has defaults, reads a file, resolves paths against it, and lets the environment win', () => {
      const f = join(dir(), 'vouch.yaml');
      writeFileSync(f, 'log:\n  level: debug\ntlog:\n  data: ./logdata\n');
      const c = loadConfig({ file: f, env: { VOUCH_REKOR_URL: 'http://127.0.0.1:3000' } });
      expect(c.log.level).to.equal('debug');
      expect(c.log.format).to.equal('auto');
      expect(c.tlog.data).to.equal(join(dir(), 'logdata'));
      expect(c.tlog.url).to.equal('http://127.0.0.1:3000');
      expect(loadConfig({ env: {} }).tlog.url).to.equal('');
    });
    it('resolves each path of a path list (sidecar.evidenceRoots) against the config file', () => {
      const f = join(dir(), 'roots.yaml');
      writeFileSync(f, 'sidecar:\n  evidenceRoots: "ws/a, /abs/b,,"\n');
      expect(loadConfig({ file: f, env: {} }).sidecar.evidenceRoots).to.equal(`${join(dir(), 'ws/a')},/abs/b`);
      expect(loadConfig({ env: {} }).sidecar.evidenceRoots).to.equal('');
    });
    it('rejects unknown sections and settings with file:line', () => {
      const f = join(dir(), 'bad.yaml');
      writeFileSync(f, 'log:\n  level: info\n  colour: blue\n');
      expect(() => loadConfig({ file: f, env: {} })).to.throw(/bad\.yaml:3:3: unknown setting "log\.colour"/);
      writeFileSync(f, 'lgo:\n  level: info\n');
      expect(() => loadConfig({ file: f, env: {} })).to.throw(/bad\.yaml:1:1: unknown section "lgo"/);
    });
    it('rejects malformed YAML, wrong kinds and values outside the allowed set', () => {
      const f = join(dir(), 'bad2.yaml');
      writeFileSync(f, 'log: [unclosed\n');
      expect(() => loadConfig({ file: f, env: {} })).to.throw(VouchError, /invalid YAML/);
      writeFileSync(f, 'log:\n  level: 3\n');
      expect(() => loadConfig({ file: f, env: {} })).to.throw(/log\.level must be a string/);
      expect(() => loadConfig({ env: { VOUCH_LOG_LEVEL: 'loud' } })).to.throw(/VOUCH_LOG_LEVEL must be one of/);
      expect(() => loadConfig({ file: join(dir(), 'nope.yaml'), env: {} })).to.throw(/cannot read config file/);
    });
  });
});

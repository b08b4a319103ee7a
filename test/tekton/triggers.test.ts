// Tekton Triggers as `vouch listen` interprets them: the real pipelines/triggers/ objects, real GitHub pull_request
// deliveries from ../shared/fixtures/github/ (signed here with a test secret), and what must be refused.
import { expect } from 'chai';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError } from '../../src/common/errors.ts';
import { loadTriggersDir, processEvent, signPayload, signatureMatches, type TriggerOutcome, type TriggerSet } from '../../src/tekton/triggers.ts';
import { REPO_ROOT, SHARED } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

const TRIGGERS = join(REPO_ROOT, 'pipelines/triggers');
const SECRET = 'test-webhook-secret';
const secrets = (name: string, key: string): string | undefined => (name === 'vouch-github-webhook' && key === 'secretToken' ? SECRET : undefined);

function delivery(file: string, options: { event?: string; signature?: string | null; secret?: string } = {}): { headers: Record<string, string>; body: Buffer; requestURL: string } {
  const body = readFileSync(join(SHARED, 'fixtures/github', file));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': options.event ?? 'pull_request' };
  if (options.signature !== null) headers['x-hub-signature-256'] = options.signature ?? signPayload(body, options.secret ?? SECRET);
  return { headers, body, requestURL: 'http://127.0.0.1/' };
}

function only(outcomes: TriggerOutcome[]): TriggerOutcome {
  expect(outcomes).to.have.length(1);
  return outcomes[0]!;
}

async function expectInvalid(dir: string, ...fragments: string[]): Promise<void> {
  try {
    await loadTriggersDir(dir);
  } catch (err) {
    expect(err).to.be.instanceOf(VouchError);
    expect((err as VouchError).code).to.equal('TEKTON_INVALID');
    for (const f of fragments) expect((err as Error).message).to.include(f);
    return;
  }
  expect.fail('expected TEKTON_INVALID');
}

describe('tekton/triggers (pipelines/triggers/ interpreted)', () => {
  let set: TriggerSet;
  before(async () => {
    set = await loadTriggersDir(TRIGGERS);
  });

  it('loads the EventListener, TriggerBinding and TriggerTemplate the cluster applies', () => {
    expect([...set.listeners.keys()]).to.deep.equal(['vouch-github']);
    expect([...set.bindings.keys()]).to.deep.equal(['vouch-github-pull-request']);
    expect([...set.templates.keys()]).to.deep.equal(['vouch-agent-pr-verify']);
  });

  for (const action of ['opened', 'synchronize', 'reopened']) {
    it(`a signed pull_request ${action} renders an agent-pr-verify PipelineRun with the payload's params`, () => {
      const payload = JSON.parse(readFileSync(join(SHARED, `fixtures/github/pull_request.${action}.json`), 'utf8')) as {
        number: number;
        repository: { clone_url: string };
        pull_request: { base: { sha: string }; head: { sha: string }; user: { login: string } };
      };
      const o = only(processEvent(set, 'vouch-github', delivery(`pull_request.${action}.json`), secrets));
      if (!o.fired) expect.fail(`not fired: ${o.reason}`);
      expect(o.resources).to.have.length(1);
      const pr = o.resources[0] as { apiVersion: string; kind: string; metadata: { generateName: string; labels: Record<string, string> }; spec: { pipelineRef: { name: string }; params: { name: string; value: string }[]; workspaces: { name: string }[] } };
      expect(pr.apiVersion).to.equal('tekton.dev/v1');
      expect(pr.kind).to.equal('PipelineRun');
      expect(pr.metadata.generateName).to.equal('agent-pr-verify-');
      expect(pr.spec.pipelineRef.name).to.equal('agent-pr-verify');
      expect(pr.spec.params).to.deep.equal([
        { name: 'repo-url', value: payload.repository.clone_url },
        { name: 'base-revision', value: payload.pull_request.base.sha },
        { name: 'head-revision', value: payload.pull_request.head.sha },
        { name: 'pr-number', value: String(payload.number) },
        // the pull request's author as a forge account: the gate and admission keep them from approving it
        { name: 'requested-by', value: `github:${payload.pull_request.user.login}` },
        { name: 'approvals', value: 'http://vouch-sidecar.vouch.svc.cluster.local' },
      ]);
      expect(pr.metadata.labels['vouch.dev/pull-request']).to.equal(String(payload.number));
      expect(pr.spec.workspaces.map((w) => w.name)).to.deep.equal(['source', 'osv-database']);
    });
  }

  for (const action of ['closed', 'labeled']) {
    it(`a signed pull_request ${action} is filtered out by the CEL interceptor`, () => {
      const o = only(processEvent(set, 'vouch-github', delivery(`pull_request.${action}.json`), secrets));
      expect(o.fired).to.equal(false);
      if (!o.fired) {
        expect(o.why).to.equal('filtered');
        expect(o.reason).to.include('CEL filter');
      }
    });
  }

  it('a signed ping (another event type) is filtered out by the github interceptor', () => {
    const o = only(processEvent(set, 'vouch-github', delivery('ping.json', { event: 'ping' }), secrets));
    expect(o).to.include({ fired: false, why: 'filtered' });
  });

  it('no signature: unauthenticated; a wrong secret or a tampered body: forbidden', () => {
    expect(only(processEvent(set, 'vouch-github', delivery('pull_request.opened.json', { signature: null }), secrets))).to.include({ fired: false, why: 'unauthenticated' });
    expect(only(processEvent(set, 'vouch-github', delivery('pull_request.opened.json', { secret: 'not-the-secret' }), secrets))).to.include({ fired: false, why: 'forbidden' });
    const tampered = delivery('pull_request.opened.json');
    const sig = tampered.headers['x-hub-signature-256']!;
    const body = Buffer.from(tampered.body.toString('utf8').replace('"opened"', '"reopened"'));
    expect(only(processEvent(set, 'vouch-github', { ...tampered, body, headers: { ...tampered.headers, 'x-hub-signature-256': sig } }, secrets))).to.include({ fired: false, why: 'forbidden' });
    // the signature is checked before the event type: an unsigned ping learns nothing about the filters
    expect(only(processEvent(set, 'vouch-github', delivery('ping.json', { event: 'ping', signature: null }), secrets))).to.include({ why: 'unauthenticated' });
  });

  it('signatureMatches: only sha256=<64 hex> of the exact bytes with the exact secret', () => {
    const body = Buffer.from('{"a":1}');
    const good = signPayload(body, 's');
    expect(signatureMatches(good, body, 's')).to.equal(true);
    expect(signatureMatches(good.toUpperCase().replace('SHA256=', 'sha256='), body, 's')).to.equal(true);
    expect(signatureMatches(good, body, 't')).to.equal(false);
    expect(signatureMatches(good, Buffer.from('{"a":2}'), 's')).to.equal(false);
    expect(signatureMatches(good.slice(0, -2), body, 's')).to.equal(false);
    expect(signatureMatches(`sha1=${good.slice(7)}`, body, 's')).to.equal(false);
    expect(signatureMatches('', body, 's')).to.equal(false);
  });

  it('a body that is not JSON is INPUT_INVALID; a missing secret is CONFIG_INVALID', () => {
    const d = delivery('pull_request.opened.json');
    const body = Buffer.from('not json');
    expect(() => processEvent(set, 'vouch-github', { ...d, body, headers: { ...d.headers, 'x-hub-signature-256': signPayload(body, SECRET) } }, secrets)).to.throw(VouchError).with.property('code', 'INPUT_INVALID');
    expect(() => processEvent(set, 'vouch-github', d, () => undefined)).to.throw(VouchError).with.property('code', 'CONFIG_INVALID');
  });

  it('a fired trigger whose binding names a field the payload lacks is TRIGGER_FAILED', () => {
    const d = delivery('pull_request.opened.json');
    const payload = JSON.parse(d.body.toString('utf8')) as { pull_request: Record<string, unknown> };
    delete payload.pull_request['head'];
    const body = Buffer.from(JSON.stringify(payload));
    expect(() => processEvent(set, 'vouch-github', { ...d, body, headers: { ...d.headers, 'x-hub-signature-256': signPayload(body, SECRET) } }, secrets))
      .to.throw(VouchError, /failed to find field \$\(body\.pull_request\.head\.sha\)/)
      .with.property('code', 'TRIGGER_FAILED');
  });

  describe('bad Triggers YAML is refused with file:line', () => {
    const tmp = tempDirPerSuite('vouch-triggers-');
    let n = 0;
    const variant = (edit: (files: Map<string, string>) => void): string => {
      const dir = join(tmp(), String(++n));
      mkdirSync(dir);
      const files = new Map(readdirSync(TRIGGERS).map((f) => [f, readFileSync(join(TRIGGERS, f), 'utf8')]));
      edit(files);
      for (const [f, text] of files) writeFileSync(join(dir, f), text);
      return dir;
    };

    it('an unknown field (a typo)', async () => {
      await expectInvalid(variant((f) => f.set('eventlistener.yaml', f.get('eventlistener.yaml')!.replace('      bindings:', '      bindigs:'))), 'eventlistener.yaml:', 'unknown field "bindigs"');
    });
    it('a binding or template ref that resolves to nothing', async () => {
      await expectInvalid(variant((f) => f.set('eventlistener.yaml', f.get('eventlistener.yaml')!.replace('ref: vouch-agent-pr-verify', 'ref: nope'))), 'no TriggerTemplate named "nope"');
      await expectInvalid(variant((f) => f.delete('triggerbinding.yaml')), 'no TriggerBinding named "vouch-github-pull-request"');
    });
    it('a template param nobody binds, and a $(tt.params.X) the template does not declare', async () => {
      await expectInvalid(variant((f) => f.set('triggerbinding.yaml', f.get('triggerbinding.yaml')!.replace('name: head-revision', 'name: head-rev'))), 'param "head-revision" has no default and no binding gives it');
      await expectInvalid(variant((f) => f.set('triggertemplate.yaml', f.get('triggertemplate.yaml')!.replace('$(tt.params.repo-url)', '$(tt.params.repo)'))), 'triggertemplate.yaml:', 'declares no param "repo"');
    });
    it('an interceptor that does not run locally, and malformed interceptor params', async () => {
      await expectInvalid(variant((f) => f.set('eventlistener.yaml', f.get('eventlistener.yaml')!.replace('name: cel', 'name: gitlab'))), 'interceptor "gitlab" is not supported locally');
      await expectInvalid(variant((f) => f.set('eventlistener.yaml', f.get('eventlistener.yaml')!.replace('secretKey: secretToken', 'secretKey: [x]'))), 'secretRef must be {secretName: string, secretKey: string}');
    });
    it('a YAML syntax error and a wrong apiVersion', async () => {
      await expectInvalid(variant((f) => f.set('triggerbinding.yaml', `${f.get('triggerbinding.yaml')!}\n  - : [\n`)), 'triggerbinding.yaml:', 'YAML');
      await expectInvalid(variant((f) => f.set('triggerbinding.yaml', f.get('triggerbinding.yaml')!.replace('triggers.tekton.dev/v1beta1', 'triggers.tekton.dev/v1alpha1'))), 'expected triggers.tekton.dev/v1beta1');
    });
  });
});

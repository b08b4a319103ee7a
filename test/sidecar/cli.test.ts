// `vouch sidecar` as a user runs it: its URL on stdout, clear refusals of incomplete config, SIGTERM exits 0.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { generateKeyPair, writeKeyPair } from '../../src/attest/keys.ts';
import { runVouch, stopProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { LocalStore } from '../../src/store/local.ts';
import { FakeApiServer } from '../kube/apiserver.ts';
import { eventsOf, makeRun, post, TOKEN } from './helpers.ts';
import { startSidecarProcess } from './procs.ts';

describe('sidecar: the vouch sidecar command', function () {
  this.timeout(60_000);
  let dir = '';
  let config = '';
  before(async () => {
    dir = tempDir('vouch-sidecar-cli-');
    const { keyPath } = await writeKeyPair(join(dir, 'signing'));
    config = join(dir, 'vouch.yaml');
    writeFileSync(config, [`signing: { key: ${keyPath} }`, `tlog: { data: ${join(dir, 'tlog')} }`, 'sidecar:', '  listen: 127.0.0.1:0', `  data: ${join(dir, 'data')}`, `  store: ${join(dir, 'store')}`, ''].join('\n'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints its URL, answers health and metrics, and exits 0 on SIGTERM', async () => {
    const child = await startSidecarProcess(config);
    try {
      expect((await fetch(`${child.url}/healthz`)).status).to.equal(200);
      expect(await (await fetch(`${child.url}/metrics`)).text()).to.include('vouch_sidecar_events_accepted_total 0');
      const res = await fetch(`${child.url}/events`, { method: 'POST', body: '{}' });
      expect(res.status).to.equal(401);
    } finally {
      expect(await stopProcess(child.proc, 'SIGTERM')).to.equal(0);
    }
  });

  it('cluster mode: no token needed; runs are re-read from the API server, attested, stored', async () => {
    const api = new FakeApiServer();
    await api.start();
    const set = makeRun('cli-cluster', 1);
    for (const o of [set.pr, ...set.trs]) api.add(o as unknown as Parameters<FakeApiServer['add']>[0]);
    const reviewers = join(dir, 'reviewers');
    mkdirSync(reviewers);
    writeFileSync(join(reviewers, 'alice.pub'), generateKeyPair().publicKeyPem);
    const child = await startSidecarProcess(config, { VOUCH_SINK_TOKEN: '', VOUCH_SIDECAR_MODE: 'cluster', VOUCH_SIDECAR_REVIEWER_KEYS: reviewers, VOUCH_KUBECONFIG: api.writeKubeconfig(dir), VOUCH_SIDECAR_DATA: join(dir, 'cluster-data') });
    try {
      for (const ev of eventsOf(set)) expect(await post(child.url, ev, null)).to.be.oneOf([200, 202]);
      const store = new LocalStore(join(dir, 'store'));
      const deadline = Date.now() + 20_000;
      while ((await store.list(set.image.sha256)).length === 0) {
        if (Date.now() > deadline) throw new Error('not attested');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(api.requests.some((r) => r.path.endsWith(`/pipelineruns/${set.pr.metadata.name!}`))).to.equal(true);
    } finally {
      expect(await stopProcess(child.proc, 'SIGTERM')).to.equal(0);
      await api.stop();
    }
  });

  it('refuses to start in local mode without the token, in cluster mode without a token or reviewer keys, or without a signing key', async () => {
    const noToken = await runVouch(['--config', config, 'sidecar'], { env: { VOUCH_SINK_TOKEN: '' } });
    expect(noToken.code).to.equal(2);
    expect(noToken.stderr).to.match(/VOUCH_SINK_TOKEN.*\[CONFIG_INVALID\]/);
    const noKey = await runVouch(['--config', config, 'sidecar'], { env: { VOUCH_SINK_TOKEN: TOKEN, VOUCH_SIGNING_KEY: join(dir, 'missing.pem') } });
    expect(noKey.code).to.equal(3);
    expect(noKey.stderr).to.match(/cannot read private key/);
    const badMode = await runVouch(['--config', config, 'sidecar'], { env: { VOUCH_SINK_TOKEN: TOKEN, VOUCH_SIDECAR_MODE: 'both' } });
    expect(badMode.code).to.equal(2);
    expect(badMode.stderr).to.match(/local, cluster/);
    // cluster mode with neither a token nor reviewer keys would take approvals from anyone
    const open = await runVouch(['--config', config, 'sidecar'], { env: { VOUCH_SINK_TOKEN: '', VOUCH_SIDECAR_MODE: 'cluster' } });
    expect(open.code).to.equal(2);
    expect(open.stderr).to.match(/cluster mode needs sidecar\.reviewerKeys .* or a bearer token in the environment variable VOUCH_SINK_TOKEN.*\[CONFIG_INVALID\]/);
  });
});

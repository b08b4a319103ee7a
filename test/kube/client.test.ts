import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient, loadKubeConfig } from '../../src/kube/client.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { FakeApiServer, recordedPipelineRun, recordedTaskRun } from './apiserver.ts';
import { createServer } from 'node:net';
import { rejectsWith } from '../helpers/errors.ts';


describe('kube: client over a loopback API server', () => {
  const dir = tempDirPerSuite('vouch-kube-');
  const api = new FakeApiServer();
  let client: KubeClient;
  const pr = recordedPipelineRun();
  const tr = recordedTaskRun();

  before(async () => {
    await api.start();
    api.add(pr);
    api.add(tr);
    for (let i = 0; i < 5; i++) {
      api.add({ ...pr, metadata: { ...pr.metadata, name: `run-${i}`, uid: `uid-${i}`, labels: { 'tekton.dev/pipeline': i % 2 ? 'other' : 'simple-build', 'app.kubernetes.io/part-of': 'vouch' } } });
    }
    client = KubeClient.load({ kubeconfig: api.writeKubeconfig(dir()), timeoutMs: 5000 });
  });
  after(async () => api.stop());

  it('reads a PipelineRun and a TaskRun (tekton.dev/v1) as the API server sent them, with the bearer token', async () => {
    api.requests.length = 0;
    const got = await client.getPipelineRun('default', pr.metadata.name);
    expect(got).to.deep.equal(pr);
    expect(await client.getTaskRun('default', tr.metadata.name)).to.deep.equal(tr);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).to.deep.equal([
      `GET /apis/tekton.dev/v1/namespaces/default/pipelineruns/${pr.metadata.name}`,
      `GET /apis/tekton.dev/v1/namespaces/default/taskruns/${tr.metadata.name}`,
    ]);
    expect(api.requests.every((r) => r.headers.authorization === `Bearer ${api.token}`)).to.equal(true);
  });

  it('lists PipelineRuns by label selector, following continue tokens across pages', async () => {
    api.requests.length = 0;
    const all = await client.listPipelineRuns('default');
    expect(all.map((o) => o.metadata.name).sort()).to.deep.equal([pr.metadata.name, 'run-0', 'run-1', 'run-2', 'run-3', 'run-4'].sort());
    expect(api.requests).to.have.length(3);
    const some = await client.listPipelineRuns('default', { labelSelector: 'tekton.dev/pipeline=simple-build,app.kubernetes.io/part-of=vouch' });
    expect(some.map((o) => o.metadata.name)).to.deep.equal(['run-0', 'run-2', 'run-4']);
    expect(api.requests.at(-1)!.query.get('labelSelector')).to.equal('tekton.dev/pipeline=simple-build,app.kubernetes.io/part-of=vouch');
    expect(await client.listPipelineRuns('empty-ns')).to.deep.equal([]);
  });

  it('merge-patches annotations (application/merge-patch+json, {"metadata":{"annotations":…}}) and keeps the others', async () => {
    api.requests.length = 0;
    const patched = await client.patchAnnotations('PipelineRun', 'default', 'run-0', { 'chains.tekton.dev/signed': 'true', 'example.com/x': 'y' });
    expect(patched.metadata.annotations).to.deep.equal({ 'chains.tekton.dev/signed': 'true', 'example.com/x': 'y' });
    const req = api.requests[0]!;
    expect(req.method).to.equal('PATCH');
    expect(req.path).to.equal('/apis/tekton.dev/v1/namespaces/default/pipelineruns/run-0');
    expect(req.headers['content-type']).to.equal('application/merge-patch+json');
    expect(JSON.parse(req.body)).to.deep.equal({ metadata: { annotations: { 'chains.tekton.dev/signed': 'true', 'example.com/x': 'y' } } });
    const removed = await client.patchAnnotations('PipelineRun', 'default', 'run-0', { 'example.com/x': null });
    expect(removed.metadata.annotations).to.deep.equal({ 'chains.tekton.dev/signed': 'true' });
    await rejectsWith(client.patchAnnotations('PipelineRun', 'default', 'run-0', { 'bad key!': 'x' }), 'KUBE_REJECTED', /annotation key/);
  });

  it('404 is KUBE_NOT_FOUND naming the object', async () => {
    await rejectsWith(client.getPipelineRun('default', 'gone'), 'KUBE_NOT_FOUND', /PipelineRun default\/gone not found.*pipelineruns\.tekton\.dev "gone" not found/);
    await rejectsWith(client.patchAnnotations('TaskRun', 'default', 'gone', { a: 'b' }), 'KUBE_NOT_FOUND');
  });

  it('403 and 401 are KUBE_FORBIDDEN with a hint, without the token', async () => {
    const err = await rejectsWith(client.getPipelineRun('locked', 'x'), 'KUBE_FORBIDDEN', /permission denied \(403\).*RBAC/);
    expect(err.message).to.include('cannot get resource "pipelineruns"');
    const wrong = KubeClient.load({ kubeconfig: api.writeKubeconfig(dir(), { token: 'not-the-token-42' }) });
    const e401 = await rejectsWith(wrong.getPipelineRun('default', pr.metadata.name), 'KUBE_FORBIDDEN', /did not accept our credentials \(401\)/);
    expect(e401.message).to.not.include('not-the-token-42');
    expect(e401.message).to.not.include(api.token);
  });

  it('an unreachable API server is KUBE_UNAVAILABLE; a 500 too', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => { resolve(p); });
      });
    });
    const down = KubeClient.load({ kubeconfig: api.writeKubeconfig(dir(), { server: `http://127.0.0.1:${port}` }) });
    await rejectsWith(down.getPipelineRun('default', 'x'), 'KUBE_UNAVAILABLE', /unreachable: ECONNREFUSED/);
    await rejectsWith(down.listPipelineRuns('default'), 'KUBE_UNAVAILABLE');
    api.failing = true;
    try {
      await rejectsWith(client.getTaskRun('default', tr.metadata.name), 'KUBE_UNAVAILABLE', /answered 500.*etcdserver/);
    } finally {
      api.failing = false;
    }
  });

  it('refuses names that are not DNS-1123 before any request (no path games)', async () => {
    api.requests.length = 0;
    for (const bad of ['../secrets', 'a/b', 'UPPER', '', 'x'.repeat(300)]) {
      await rejectsWith(client.getPipelineRun('default', bad), 'KUBE_REJECTED', /not a valid/);
      await rejectsWith(client.listPipelineRuns(bad), 'KUBE_REJECTED', /not a valid namespace/);
    }
    expect(api.requests).to.deep.equal([]);
  });

  it('kubeconfig problems are KUBE_CONFIG_INVALID', () => {
    expect(() => loadKubeConfig({ kubeconfig: join(dir(), 'missing') })).to.throw(/does not exist/);
    const broken = join(dir(), 'broken');
    writeFileSync(broken, 'apiVersion: v1\nkind: Config\nclusters: [\n');
    expect(() => loadKubeConfig({ kubeconfig: broken })).to.throw(/cannot load the Kubernetes configuration/);
    expect(() => loadKubeConfig({ kubeconfig: api.writeKubeconfig(dir()), context: 'nope' })).to.throw(/context/);
    expect(() => loadKubeConfig({}, { HOME: dir() })).to.throw(/no Kubernetes configuration/);
  });
});

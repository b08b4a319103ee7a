import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { kubePullSecrets } from '../../src/cli/sidecar.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { FakeApiServer } from '../kube/apiserver.ts';
import { rejectsWith } from '../helpers/errors.ts';
import { tempDir } from '../helpers/tmp.ts';
import { credentialsFromSecret, normalizeRegistryKey, pullCredentials, type PullSecretSource, type SecretData } from '../../src/admission/credentials.ts';

const b64 = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
const dockerconfig = (auths: Record<string, unknown>): SecretData => ({ type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64({ auths }) } });

describe('admission: registry credentials from pull secrets', () => {
  it('reads Secrets and ServiceAccounts from the API server (vouch sidecar in cluster mode)', async () => {
    const api = new FakeApiServer();
    await api.start();
    const dir = tempDir('vouch-pullsecrets-');
    try {
      api.add({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app', namespace: 'prod', uid: 'u1' }, imagePullSecrets: [{ name: 'regcred' }] });
      api.add({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'regcred', namespace: 'prod', uid: 'u2' }, ...dockerconfig({ 'registry.example': { auth: b64('robot:pw') } }) });
      const source = kubePullSecrets(KubeClient.load({ kubeconfig: api.writeKubeconfig(dir) }));
      expect(await pullCredentials(source, 'prod', { serviceAccountName: 'app', imagePullSecrets: [{ name: 'gone' }] }, 'registry.example')).to.deep.equal({ username: 'robot', password: 'pw' });
      expect(await pullCredentials(source, 'prod', {}, 'registry.example')).to.equal(undefined);
      await rejectsWith(pullCredentials(source, 'locked', {}, 'registry.example'), 'KUBE_FORBIDDEN');
    } finally {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads .dockerconfigjson (username/password or auth) and legacy .dockercfg, by normalized registry', () => {
    expect(credentialsFromSecret(dockerconfig({ 'registry.example:5000': { username: 'u', password: 'p' } }), 'registry.example:5000')).to.deep.equal({ username: 'u', password: 'p' });
    expect(credentialsFromSecret(dockerconfig({ 'https://registry.example/v2/': { auth: b64('robot:s3:cret') } }), 'registry.example')).to.deep.equal({ username: 'robot', password: 's3:cret' });
    expect(credentialsFromSecret(dockerconfig({ 'https://index.docker.io/v1/': { auth: b64('hub:pw') } }), 'docker.io')).to.deep.equal({ username: 'hub', password: 'pw' });
    expect(credentialsFromSecret({ data: { '.dockercfg': b64({ 'quay.io': { username: 'q', password: 'w' } }) } }, 'quay.io')).to.deep.equal({ username: 'q', password: 'w' });
    expect(credentialsFromSecret(dockerconfig({ 'other.example': { username: 'u', password: 'p' } }), 'registry.example')).to.equal(undefined);
    expect(normalizeRegistryKey('registry-1.docker.io')).to.equal('docker.io');
  });

  it('malformed secrets give no credentials, never an exception', () => {
    expect(credentialsFromSecret({ data: { '.dockerconfigjson': 'not base64 json' } }, 'r')).to.equal(undefined);
    expect(credentialsFromSecret({}, 'r')).to.equal(undefined);
    expect(credentialsFromSecret(dockerconfig({ r: { auth: b64('no-colon') } }), 'r')).to.equal(undefined);
    expect(credentialsFromSecret(dockerconfig({ r: 'x' }), 'r')).to.equal(undefined);
  });

  it("the pod's imagePullSecrets first, then its ServiceAccount's (default when none is named)", async () => {
    const asked: string[] = [];
    const source: PullSecretSource = {
      secret: (ns, name) => {
        asked.push(`secret ${ns}/${name}`);
        return Promise.resolve(name === 'sa-secret' ? dockerconfig({ 'registry.example': { username: 'sa', password: 'x' } }) : name === 'pod-secret' ? dockerconfig({ 'other.example': { username: 'pod', password: 'y' } }) : undefined);
      },
      serviceAccountPullSecrets: (ns, sa) => {
        asked.push(`sa ${ns}/${sa}`);
        return Promise.resolve(['sa-secret']);
      },
    };
    expect(await pullCredentials(source, 'prod', { imagePullSecrets: [{ name: 'pod-secret' }] }, 'registry.example')).to.deep.equal({ username: 'sa', password: 'x' });
    expect(asked).to.deep.equal(['sa prod/default', 'secret prod/pod-secret', 'secret prod/sa-secret']);
    expect(await pullCredentials(source, 'prod', { imagePullSecrets: [{ name: 'pod-secret' }], serviceAccountName: 'app' }, 'other.example')).to.deep.equal({ username: 'pod', password: 'y' });
  });
});

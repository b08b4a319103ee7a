import { expect } from 'chai';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createStore, FanOutStore, LocalStore, OciStore, TektonStore } from '../../src/store/index.ts';
import { defaultConfig } from '../../src/common/config.ts';
import { isVouchError } from '../../src/common/errors.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { hex, newSigner, type Signer } from './helpers.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { FakeApiServer } from '../kube/apiserver.ts';

describe('store: createStore and fan-out', () => {
  const dir = tempDirPerSuite('vouch-store-index-');
  let signer: Signer;
  before(async () => (signer = await newSigner()));
  after(async () => signer.close());

  it('builds the backends named in store.backends', async () => {
    const config = defaultConfig();
    expect(createStore(config, { localDir: dir() })).to.be.instanceOf(LocalStore);
    config.store.backends = 'local, oci';
    const fan = createStore(config, { localDir: dir() });
    if (!(fan instanceof FanOutStore)) throw new Error('expected a FanOutStore');
    expect(fan.stores.map((s) => s.kind)).to.deep.equal(['local', 'oci']);
    expect(fan.stores[1]).to.be.instanceOf(OciStore);
    const api = new FakeApiServer();
    await api.start();
    try {
      config.store.backends = 'tekton';
      config.kube.kubeconfig = api.writeKubeconfig(dir());
      expect(createStore(config, { localDir: dir() })).to.be.instanceOf(TektonStore);
      expect(createStore(config, { localDir: dir(), kube: KubeClient.load({ kubeconfig: config.kube.kubeconfig }) })).to.be.instanceOf(TektonStore);
    } finally {
      await api.stop();
    }
    for (const bad of ['s3', 'local,local', '']) {
      config.store.backends = bad;
      expect(() => createStore(config, { localDir: dir() }), bad).to.throw(/unknown backend|twice|at least one/);
    }
  });

  it('fan-out writes every backend; a failure in one is completed by the retry without duplicates', async () => {
    const a = new LocalStore(join(dir(), 'a'));
    const bPath = join(dir(), 'b');
    writeFileSync(bPath, 'not a directory');
    const fan = new FanOutStore([a, new LocalStore(bPath)]);
    const record = await signer.record({ name: 'x', sha256: hex(1) });
    try {
      await fan.put(record);
      expect.fail('put should fail while b is broken');
    } catch (err) {
      expect(isVouchError(err, 'STORE_UNAVAILABLE'), String(err)).to.equal(true);
    }
    rmSync(bPath);
    const loc = await fan.put(record);
    expect(loc.kind).to.equal('local');
    expect(await a.list(hex(1))).to.have.length(1);
    expect(await new LocalStore(bPath).list(hex(1))).to.have.length(1);
    expect(await fan.list(hex(1))).to.deep.equal([record]);
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { ForwardProxy } from '../support/forward-proxy';
import { KmsTestClient } from '../support/kms-client';
import { markedPlaintext } from '../support/leak-capture';
import { RealServer } from '../support/real-server';
import { PluginFixture } from '../support/plugin-fixture';
import { PluginProcess, eventually, goPluginCommand, sleep, tempSocketDir } from '../support/plugin-process';
import { SpireDeployment } from '../support/spire';
import { TcpForwarder } from '../support/tcp-forwarder';

/**
 * The built CLI with -auth-method=jwt -jwt-token-source=spiffe, as an operator
 * runs it: JWT-SVIDs from a real SPIRE agent (this test process's uid is the
 * registered workload, which the plugin it starts inherits), logins to real
 * OpenBao jwt auth that trusts the SPIRE server's JWT signing keys.
 */
const KMS_ID = 'spiffe://kms.test/vault-kubernetes-kms';
const AUDIENCE = 'vault-kms';

let spire: SpireDeployment;
let bao: RealServer;
const plugins = new PluginFixture();

before(async () => {
  spire = await SpireDeployment.start({ trustDomain: 'kms.test', entries: [{ spiffeId: KMS_ID }] });
  bao = await RealServer.start();
  const pems = (await spire.jwtSigningKeys()).map((k) => createPublicKey({ key: k, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString());
  await bao.mustOk('POST', 'sys/auth/jwt', { type: 'jwt' });
  await bao.mustOk('POST', 'auth/jwt/config', { jwt_validation_pubkeys: pems });
  for (const [role, ttl] of [['kms', { token_ttl: '1h' }], ['kms-short', { token_ttl: '4s', token_max_ttl: '8s' }]] as const) {
    await bao.mustOk('POST', `auth/jwt/role/${role}`, { role_type: 'jwt', bound_audiences: [AUDIENCE], user_claim: 'sub', bound_subject: KMS_ID, token_policies: ['kms'], ...ttl });
  }
});
after(async () => {
  await plugins.stopAll();
  await bao?.close();
  await spire?.close();
});

const spiffeFlags = (role: string) => [
  `-vault-address=${bao.url}`,
  '-auth-method=jwt',
  `-jwt-role=${role}`,
  '-jwt-token-source=spiffe',
  `-jwt-spiffe-endpoint=${spire.endpoint}`,
  `-jwt-spiffe-audience=${AUDIENCE}`,
  `-jwt-spiffe-id=${KMS_ID}`,
];

async function roundTrip(client: KmsTestClient, n: number): Promise<void> {
  const enc = await client.encrypt(markedPlaintext(n), `uid-${n}`);
  assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, markedPlaintext(n));
}

/** No JWT (a JWT-SVID is one: header.payload.signature, base64url JSON) in anything the plugin printed. */
function assertNoJwtIn(p: PluginProcess): void {
  const out = [...p.stdout, ...p.stderr].join('\n');
  assert.doesNotMatch(out, /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/, 'a JWT in the plugin output');
}

describe('-jwt-token-source=spiffe: the built CLI with a real SPIRE agent and real OpenBao', () => {
  it('the Go plugin v1.4.0 and ours both serve with the same -jwt-spiffe-* flags', async () => {
    const { client, p } = await plugins.start(spiffeFlags('kms'));
    await roundTrip(client, 500);
    assert.ok(p.logs().some((l) => l.message === 'authenticated to Vault'));
    const start = p.logs().find((l) => l.message === 'starting kms plugin') ?? {};
    assert.equal(start['jwt-token-source'], 'spiffe');
    assert.equal(start['jwt-spiffe-id'], KMS_ID);
    assertNoJwtIn(p);

    const socket = join(tempSocketDir(), 'vaultkms.socket');
    const go = plugins.adopt(new PluginProcess([...spiffeFlags('kms'), `-socket=unix://${socket}`, `-health-port=${await TcpForwarder.freePort()}`], {}, undefined, goPluginCommand()));
    await go.waitForSocket(socket, 30_000);
    const goClient = new KmsTestClient(socket);
    try {
      await roundTrip(goClient, 501);
    } finally {
      goClient.close();
    }
  });

  it('short Vault token TTL: a fresh JWT-SVID at every re-login, zero failed requests across expiries', async () => {
    const { client, p } = await plugins.start([...spiffeFlags('kms-short'), '-token-refresh-interval=1s']);
    bao.resetStats();
    let served = 0;
    const errors: string[] = [];
    const until = Date.now() + 18_000; // more than two max TTLs
    while (Date.now() < until) {
      try {
        await roundTrip(client, 600 + served);
        served++;
      } catch (e) {
        errors.push((e as Error).message);
      }
      await sleep(50);
    }
    assert.equal(errors.length, 0, `failed requests across expiries: ${errors.length} of ${served + errors.length}: ${errors.slice(0, 3).join('; ')}`);
    assert.ok((bao.stats()['jwt.login'] ?? 0) >= 2, `logged in again past the max TTL: ${JSON.stringify(bao.stats())}`);
    assertNoJwtIn(p);
    await p.stop();
  });

  it('a tcp:// Workload API endpoint never goes through an HTTP proxy, whatever grpc_proxy, https_proxy, http_proxy and NO_PROXY say (issue 22 item 1)', async () => {
    // SPIRE serves unix sockets only: a relay in this process carries TCP to the agent's socket (the agent still
    // attests the plugin by its uid, this process's). The proxy tunnels what it is asked to, as a real one would:
    // before the fix, the login worked and the JWT-SVID crossed the proxy at every login.
    const open = new Set<Socket>();
    const relay = createServer((client) => {
      const agentSide = connect(spire.agentSocket);
      for (const s of [client, agentSide]) {
        open.add(s);
        s.on('error', () => {});
        s.on('close', () => (client.destroy(), agentSide.destroy(), open.delete(s)));
      }
      client.pipe(agentSide).pipe(client);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const proxy = await new ForwardProxy().start();
    try {
      const endpoint = `tcp://127.0.0.1:${(relay.address() as AddressInfo).port}`;
      const env = { grpc_proxy: proxy.url, https_proxy: proxy.url, http_proxy: proxy.url, HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' };
      const flags = spiffeFlags('kms').map((f) => (f.startsWith('-jwt-spiffe-endpoint=') ? `-jwt-spiffe-endpoint=${endpoint}` : f));
      const { client, p } = await plugins.start(flags, { env });
      await roundTrip(client, 800);
      assert.ok(p.logs().some((l) => l.message === 'authenticated to Vault'));
      assert.equal(proxy.connections, 0, `the proxy saw ${proxy.connections} connection(s): ${JSON.stringify(proxy.requests)}`);
      await p.stop();

      // The Go plugin v1.4.0 on the same attack: grpc-go never proxies a loopback address either.
      const socket = join(tempSocketDir(), 'vaultkms.socket');
      const go = plugins.adopt(new PluginProcess([...flags, `-socket=unix://${socket}`, `-health-port=${await TcpForwarder.freePort()}`], env, undefined, goPluginCommand()));
      await go.waitForSocket(socket, 30_000);
      const goClient = new KmsTestClient(socket);
      try {
        await roundTrip(goClient, 801);
      } finally {
        goClient.close();
        await go.stop();
      }
      assert.equal(proxy.connections, 0, `the Go plugin sent ${proxy.connections} connection(s) to the proxy`);
    } finally {
      for (const s of open) s.destroy();
      relay.close();
      await proxy.close();
    }
  });

  it('-jwt-spiffe-endpoint that is no Workload API address: exit 2 naming the flag and env var', async () => {
    const p = plugins.adopt(new PluginProcess([...spiffeFlags('kms').filter((f) => !f.startsWith('-jwt-spiffe-endpoint')), '-jwt-spiffe-endpoint=unix:relative/agent.sock']));
    assert.equal(await p.exited, 2);
    assert.match(p.stderr.join('\n'), /-jwt-spiffe-endpoint \(VAULT_KMS_JWT_SPIFFE_ENDPOINT, default SPIFFE_ENDPOINT_SOCKET\): the socket path must be absolute/);
  });

  it('the agent down: the plugin stays up, health names the Workload API socket and what to check; it logs in once the agent is back', async () => {
    await spire.stopAgent();
    const { client, p } = await plugins.start(spiffeFlags('kms'), { waitHealthy: false });
    const s = await eventually(() => client.status(), (x) => /SPIFFE Workload API/.test(x.healthz), 20_000);
    assert.ok(s.healthz.includes(spire.agentSocket), s.healthz);
    assert.match(s.healthz, /not reachable \(is the SPIFFE agent running/);
    assert.equal(p.pid !== undefined && (await Promise.race([p.exited, sleep(500).then(() => 'running')])), 'running');

    await spire.restartAgent();
    await eventually(() => client.status(), (x) => x.healthz === 'ok', 30_000);
    await roundTrip(client, 700);
    assertNoJwtIn(p);
  });
});

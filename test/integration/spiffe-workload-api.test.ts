import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { SpiffeJwtSource } from '../../src/adapters/spiffe/spiffe-jwt-source';
import { VaultHttpClient } from '../../src/adapters/vault/vault-http-client';
import { VaultTransitAdapter } from '../../src/adapters/vault/vault-transit.adapter';
import { authData } from '../../src/adapters/vault/schemas';
import { parseOk } from '../../src/adapters/vault/vault-errors';
import { NO_DEADLINE, withTimeout, type CallContext } from '../../src/ports/call-context';
import { KmsError, type KmsErrorKind } from '../../src/ports/errors';
import { KmsTestClient } from '../support/kms-client';
import { captureSecret, markedPlaintext } from '../support/leak-capture';
import { RealServer } from '../support/real-server';
import { PluginFixture } from '../support/plugin-fixture';
import { PluginProcess, goPluginCommand, tempSocketDir } from '../support/plugin-process';
import { TcpForwarder } from '../support/tcp-forwarder';
import { SpireDeployment } from '../support/spire';

/**
 * The SPIFFE JWT source against a real SPIRE server and agent (built by
 * `npm run tools`), and its JWT-SVIDs against real OpenBao jwt auth. This
 * test process is the workload: the agent's unix attestor identifies it by
 * its uid. The agent is paused and stopped by the last tests, so the suites
 * run in this order.
 */
const TRUST_DOMAIN = 'kms.test';
const KMS_ID = `spiffe://${TRUST_DOMAIN}/vault-kubernetes-kms`;
/** A second identity of this same process: the agent hands out both when no SPIFFE ID is asked for. */
const SECOND_ID = `spiffe://${TRUST_DOMAIN}/second-identity`;
/** Registered, but for a uid this process does not run as. */
const FOREIGN_ID = `spiffe://${TRUST_DOMAIN}/another-workload`;
const AUDIENCE = 'vault-kms';

let spire: SpireDeployment;
const sources: SpiffeJwtSource[] = [];
before(async () => {
  const foreignUid = (process.getuid?.() ?? 0) + 4242;
  spire = await SpireDeployment.start({
    trustDomain: TRUST_DOMAIN,
    entries: [{ spiffeId: KMS_ID }, { spiffeId: SECOND_ID }, { spiffeId: FOREIGN_ID, selectors: [`unix:uid:${foreignUid}`] }],
  });
});
after(async () => {
  for (const s of sources) s.close();
  await spire?.close();
});

function source(opts: { endpoint?: string; audience?: string; spiffeId?: string } = {}): SpiffeJwtSource {
  const s = new SpiffeJwtSource({ endpoint: opts.endpoint ?? spire.endpoint, audience: opts.audience ?? AUDIENCE, spiffeId: 'spiffeId' in opts ? opts.spiffeId : KMS_ID });
  sources.push(s);
  return s;
}

const ctx = (ms = 20_000): CallContext => withTimeout(Date.now(), ms);

async function fetched(s: SpiffeJwtSource, c: CallContext = ctx()): Promise<string> {
  const token = await s.fetchToken(c);
  captureSecret(token);
  return token;
}

function claims(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: decode(h), payload: decode(p) };
}

async function rejection(p: Promise<unknown>): Promise<KmsError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KmsError, `expected a KmsError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the fetch to fail');
}

function assertKind(e: KmsError, kind: KmsErrorKind, message: RegExp): void {
  assert.equal(e.kind, kind, e.message);
  assert.match(e.message, message);
}

describe('SpiffeJwtSource against a real SPIRE agent', () => {
  it('fetches a JWT-SVID whose sub is the requested SPIFFE ID and whose aud is the audience', async () => {
    const token = await fetched(source());
    const { header, payload } = claims(token);
    assert.equal(payload.sub, KMS_ID);
    assert.deepEqual([payload.aud].flat(), [AUDIENCE]);
    assert.ok(typeof payload.exp === 'number' && payload.exp * 1000 > Date.now(), 'not expired');
    assert.ok(typeof header.kid === 'string' && typeof header.alg === 'string', 'signed with a key of the trust bundle');
  });

  it('fetches a fresh token per call (the agent caches by audience; a new audience is a new token)', async () => {
    const s = source({ audience: 'another-audience' });
    const { payload } = claims(await fetched(s));
    assert.deepEqual([payload.aud].flat(), ['another-audience']);
    assert.equal(payload.sub, KMS_ID);
  });

  it('accepts every SPIFFE_ENDPOINT_SOCKET form of the same socket', async () => {
    for (const endpoint of [`unix://${spire.agentSocket}`, `unix:${spire.agentSocket}`, spire.agentSocket]) {
      assert.equal(claims(await fetched(source({ endpoint }))).payload.sub, KMS_ID, endpoint);
    }
  });

  it('tcp://<ip>:<port>, the spec\'s other endpoint form, reaches the same agent', async () => {
    // SPIRE serves unix sockets only: a relay in this process carries TCP to the agent's socket (so the agent still attests this process).
    const open = new Set<Socket>();
    const relay = createServer((client) => {
      const agent = connect(spire.agentSocket);
      for (const s of [client, agent]) {
        open.add(s);
        s.on('error', () => {});
        s.on('close', () => (client.destroy(), agent.destroy(), open.delete(s)));
      }
      client.pipe(agent).pipe(client);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `tcp://127.0.0.1:${(relay.address() as AddressInfo).port}`;
      assert.equal(claims(await fetched(source({ endpoint }))).payload.sub, KMS_ID);
    } finally {
      for (const s of open) s.destroy();
      relay.close();
    }
  });

  it('without a SPIFFE ID, takes the first of the identities the agent returns (the default identity)', async () => {
    const sub = claims(await fetched(source({ spiffeId: undefined }))).payload.sub;
    assert.ok(sub === KMS_ID || sub === SECOND_ID, `one of this workload's identities, got ${String(sub)}`);
    assert.equal(claims(await fetched(source({ spiffeId: SECOND_ID }))).payload.sub, SECOND_ID, 'and either one on request');
  });

  it('a SPIFFE ID registered for another workload: permission-denied, saying no entry matches', async () => {
    const e = await rejection(source({ spiffeId: FOREIGN_ID }).fetchToken(ctx()));
    assertKind(e, 'permission-denied', /issued no JWT-SVID for the SPIFFE ID spiffe:\/\/kms\.test\/another-workload to this process \(no identity issued\)/);
    assert.match(e.message, /no registration entry matches this workload/);
    assert.ok(e.message.includes(spire.agentSocket), 'names the socket');
  });

  it('a SPIFFE ID nobody registered: the same clear permission-denied', async () => {
    const e = await rejection(source({ spiffeId: `spiffe://${TRUST_DOMAIN}/nobody` }).fetchToken(ctx()));
    assertKind(e, 'permission-denied', /no identity issued/);
  });

  it('a caller that already gave up gets its own reason, and no request is sent', async () => {
    const controller = new AbortController();
    controller.abort(new KmsError('cancelled', 'the caller cancelled the request'));
    const e = await rejection(source().fetchToken({ deadline: Date.now() + 10_000, signal: controller.signal }));
    assertKind(e, 'cancelled', /caller cancelled/);
  });

  it('no agent at the endpoint: unavailable at once, naming the socket and what to check', async () => {
    const missing = join(tmpdir(), `kms-no-agent-${process.pid}.sock`);
    const e = await rejection(source({ endpoint: `unix://${missing}` }).fetchToken(ctx(30_000)));
    assertKind(e, 'unavailable', /is not reachable \(is the SPIFFE agent running, and its socket mounted/);
    assert.ok(e.message.includes(missing));
  });
});

describe('a JWT-SVID from the real agent logs in to real OpenBao jwt auth', () => {
  let bao: RealServer;
  before(async () => {
    bao = await RealServer.start();
    // OpenBao checks the signature against the SPIRE server's JWT signing keys (its trust bundle, JWKS), as PEM.
    const keys = await spire.jwtSigningKeys();
    assert.ok(keys.length > 0, 'the trust bundle has a jwt-svid key');
    const pems = keys.map((k) => createPublicKey({ key: k, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString());
    await bao.mustOk('POST', 'sys/auth/jwt', { type: 'jwt' });
    await bao.mustOk('POST', 'auth/jwt/config', { jwt_validation_pubkeys: pems });
    await bao.mustOk('POST', 'auth/jwt/role/kms', {
      role_type: 'jwt',
      bound_audiences: [AUDIENCE],
      user_claim: 'sub',
      bound_subject: KMS_ID,
      token_policies: ['kms'],
      token_ttl: '10m',
    });
  });
  const plugins = new PluginFixture();
  after(async () => {
    await plugins.stopAll();
    await bao?.close();
  });

  const login = (jwt: string) => bao.api('POST', 'auth/jwt/login', { role: 'kms', jwt });

  it('the SVID for the bound subject and audience gets a Vault token with the kms policy', async () => {
    const res = await login(await fetched(source()));
    assert.equal(res.status, 200, JSON.stringify(res.json));
    captureSecret(res.json.auth.client_token);
    assert.ok(res.json.auth.policies.includes('kms'));
    assert.equal(res.json.auth.metadata.role, 'kms');
  });

  it('an SVID for another audience or another identity of the workload is refused by OpenBao', async () => {
    const wrongAudience = await login(await fetched(source({ audience: 'not-vault' })));
    assert.equal(wrongAudience.status, 400, JSON.stringify(wrongAudience.json));
    assert.match(JSON.stringify(wrongAudience.json.errors), /audience/i);
    const wrongSubject = await login(await fetched(source({ spiffeId: SECOND_ID })));
    assert.equal(wrongSubject.status, 400, JSON.stringify(wrongSubject.json));
    assert.match(JSON.stringify(wrongSubject.json.errors), /sub/i);
  });

  it('the real Go plugin v1.4.0 with these -jwt-* flags logs in through the same agent and role, and serves KMS v2', async () => {
    // The happy path of the Go plugin this project replaces, on the same SPIRE and OpenBao: the flag set is its.
    bao.resetStats();
    const socket = join(tempSocketDir(), 'vaultkms.socket');
    const goPlugin = plugins.adopt(
      new PluginProcess(
        [
          `-vault-address=${bao.url}`,
          '-auth-method=jwt',
          '-jwt-role=kms',
          '-jwt-token-source=spiffe',
          `-jwt-spiffe-endpoint=${spire.endpoint}`,
          `-jwt-spiffe-audience=${AUDIENCE}`,
          `-jwt-spiffe-id=${KMS_ID}`,
          `-socket=unix://${socket}`,
          `-health-port=${await TcpForwarder.freePort()}`,
        ],
        {},
        undefined,
        goPluginCommand(),
      ),
    );
    await goPlugin.waitForSocket(socket, 30_000);
    const client = new KmsTestClient(socket);
    try {
      const sealed = await client.encrypt(markedPlaintext(41), 'uid-spiffe-go');
      assert.deepEqual((await client.decrypt(sealed.ciphertext, sealed.key_id)).plaintext, markedPlaintext(41));
      assert.ok((bao.stats()['jwt.login'] ?? 0) >= 1, 'the Go plugin logged in at auth/jwt/login');
    } finally {
      client.close();
      await goPlugin.stop();
    }
  });

  it('end to end through the plugin\'s own Vault client: SpiffeJwtSource -> auth/jwt/login -> transit encrypt and decrypt', async () => {
    // What the jwt auth strategy does with a spiffe token source: a fresh SVID for every login.
    const http = new VaultHttpClient({ address: bao.url, skipVerify: false, timeoutMs: 10_000, maxRetries: 0 }, { now: () => Date.now() });
    const jwt = source();
    const loginOnce = async (c: CallContext): Promise<string> => {
      const res = await http.request('POST', 'auth/jwt/login', { role: 'kms', jwt: await fetched(jwt, c) }, c, { authenticated: false });
      const token = parseOk(res, authData, { what: 'JWT login', path: 'auth/jwt/login', capability: 'update' }).auth.client_token;
      captureSecret(token);
      return token;
    };
    const first = await loginOnce(ctx());
    const second = await loginOnce(ctx());
    assert.notEqual(first, second, 'each login is a new Vault token');

    http.setToken(second);
    const transit = new VaultTransitAdapter(http, 'transit', 'kms');
    const [sealed] = await transit.encrypt([{ plaintext: Buffer.from('spiffe-plaintext') }], NO_DEADLINE);
    assert.ok(sealed.ok, sealed.ok ? '' : sealed.error.message);
    const [opened] = await transit.decrypt([sealed.ciphertext], NO_DEADLINE);
    assert.ok(opened.ok && Buffer.from(opened.plaintext).toString() === 'spiffe-plaintext');
  });
});

describe('the agent stops answering (these run last: they pause, stop and restart the agent)', () => {
  it('a frozen agent: deadline-exceeded once the caller\'s deadline passes, then works again when it resumes', async () => {
    const s = source();
    await fetched(s); // connected before the freeze
    spire.pauseAgent();
    try {
      const started = Date.now();
      const e = await rejection(s.fetchToken(ctx(1500)));
      assertKind(e, 'deadline-exceeded', /deadline|did not answer in time/);
      assert.ok(Date.now() - started >= 1400, 'not before the deadline');
    } finally {
      spire.resumeAgent();
    }
    assert.equal(claims(await fetched(s)).payload.sub, KMS_ID);
  });

  it('a frozen agent and a caller that goes away: cancelled, not left hanging', async () => {
    const s = source();
    spire.pauseAgent();
    try {
      const controller = new AbortController();
      const pending = rejection(s.fetchToken({ deadline: Number.POSITIVE_INFINITY, signal: controller.signal }));
      setTimeout(() => controller.abort(new KmsError('cancelled', 'the caller cancelled the request')), 300);
      assertKind(await pending, 'cancelled', /caller cancelled/);
    } finally {
      spire.resumeAgent();
    }
  });

  it('close() cancels a fetch in flight, and the source fetches no more', async () => {
    const s = source();
    spire.pauseAgent();
    try {
      const pending = rejection(s.fetchToken(ctx(60_000)));
      setTimeout(() => s.close(), 300);
      assertKind(await pending, 'cancelled', /SPIFFE JWT source is closed/);
    } finally {
      spire.resumeAgent();
    }
    assertKind(await rejection(s.fetchToken(ctx())), 'cancelled', /closed/);
  });

  it('the agent stopped: unavailable well before the deadline, naming the socket; a restarted agent serves the same source at once', async () => {
    const s = source();
    await fetched(s);
    await spire.stopAgent();
    const e = await rejection(s.fetchToken(ctx(60_000)));
    assertKind(e, 'unavailable', /is not reachable \(is the SPIFFE agent running/);
    assert.ok(e.message.includes(spire.agentSocket));
    assertKind(await rejection(s.fetchToken(ctx(60_000))), 'unavailable', /not reachable/);

    await spire.restartAgent();
    // No reconnect backoff carried over from the failures: the next login after the agent is back succeeds.
    assert.equal(claims(await fetched(s)).payload.sub, KMS_ID);
  });
});

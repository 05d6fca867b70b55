import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { credentials, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { KmsTestClient } from '../support/kms-client';
import { startInProcessPlugin } from '../support/in-process-plugin';

/**
 * Hostile input on every KMS request field, over a real socket: every answer
 * is a success or a precise status (never UNKNOWN or INTERNAL), and the
 * server keeps serving.
 */
const ACCEPTABLE = new Set([status.OK, status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED]);

let plugin: Awaited<ReturnType<typeof startInProcessPlugin>>;
let client: KmsTestClient;
let raw: Client;

before(async () => {
  plugin = await startInProcessPlugin();
  client = new KmsTestClient(plugin.socket);
  // A client that sends arbitrary bytes as the request message, even malformed protobuf.
  const identity = (b: Buffer) => b;
  const Raw = makeGenericClientConstructor(
    Object.fromEntries(
      ['/v2.KeyManagementService/Encrypt', '/v2.KeyManagementService/Decrypt', '/v1beta1.KeyManagementService/Encrypt', '/v1beta1.KeyManagementService/Decrypt'].map((path) => [
        path,
        { path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
      ]),
    ),
    'Raw',
  );
  raw = new Raw(`unix:${plugin.socket}`, credentials.createInsecure());
});
after(async () => {
  client.close();
  raw.close();
  await plugin.stop();
});

const codeOf = async (p: Promise<unknown>): Promise<number> => p.then(() => status.OK, (e: ServiceError) => e.code);
const rawCall = (path: string, body: Buffer) =>
  new Promise<void>((resolve, reject) =>
    (raw as unknown as Record<string, (b: Buffer, o: object, cb: (e: ServiceError | null) => void) => void>)[path](body, { deadline: Date.now() + 3000 }, (e) => (e ? reject(e) : resolve())),
  );

describe('hostile gRPC input (property-based)', () => {
  it('v2 Encrypt: any plaintext size, any uid', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 70_000, size: 'large' }), fc.string({ maxLength: 2000 }), async (plaintext, uid) => {
        const code = await codeOf(client.encrypt(plaintext, uid));
        assert.ok(ACCEPTABLE.has(code), `code ${code}`);
        if (plaintext.length === 0 || plaintext.length > 64 * 1024) assert.notEqual(code, status.OK);
      }),
      { numRuns: 60 },
    );
  });

  it('v2 Decrypt: any ciphertext, key_id and annotations', async () => {
    const annotations = fc.dictionary(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 5000 }).map((b) => Buffer.from(b)), { maxKeys: 12 });
    const ciphertext = fc.oneof(
      fc.uint8Array({ maxLength: 4000 }),
      fc.base64String({ maxLength: 400 }).map((b) => Buffer.from(`vault:v1:${b}`)),
      fc.tuple(fc.nat(), fc.uint8Array({ minLength: 28, maxLength: 200 })).map(([v, b]) => Buffer.from(`vault:v${v}:${Buffer.from(b).toString('base64')}`)),
    );
    await fc.assert(
      fc.asyncProperty(ciphertext, fc.string({ maxLength: 1500 }), annotations, async (ct, keyId, ann) => {
        const code = await codeOf(client.decrypt(ct, keyId, ann));
        assert.ok(code === status.INVALID_ARGUMENT || code === status.RESOURCE_EXHAUSTED, `code ${code}`);
      }),
      { numRuns: 150 },
    );
  });

  it('v1 Encrypt/Decrypt: any version string and payload', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 100 }), fc.uint8Array({ maxLength: 3000 }), async (version, payload) => {
        const enc = await codeOf(client['call'](client['v1'], 'Encrypt', { version, plain: Buffer.from(payload) }));
        const dec = await codeOf(client['call'](client['v1'], 'Decrypt', { version, cipher: Buffer.from(payload) }));
        assert.ok(ACCEPTABLE.has(enc), `encrypt code ${enc}`);
        assert.ok(dec === status.INVALID_ARGUMENT, `decrypt code ${dec}`);
      }),
      { numRuns: 80 },
    );
  });

  it('any bytes as a whole request message (malformed protobuf, invalid UTF-8 in strings)', async () => {
    const paths = ['/v2.KeyManagementService/Encrypt', '/v2.KeyManagementService/Decrypt', '/v1beta1.KeyManagementService/Encrypt', '/v1beta1.KeyManagementService/Decrypt'];
    // A uid field (2) of invalid UTF-8, beside a valid plaintext field (1).
    const invalidUtf8Uid = Buffer.concat([Buffer.from([0x0a, 0x04]), Buffer.from('abcd'), Buffer.from([0x12, 0x03, 0xc3, 0x28, 0xff])]);
    await assert.doesNotReject(rawCall(paths[0], invalidUtf8Uid));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.uint8Array({ maxLength: 2000 }), async (path, bytes) => {
        const code = await codeOf(rawCall(path, Buffer.from(bytes)));
        assert.ok(ACCEPTABLE.has(code), `code ${code} for ${path}`);
      }),
      { numRuns: 200 },
    );
  });

  it('still serves after all of it', async () => {
    const s = await client.status();
    assert.equal(s.version, 'v2');
    const enc = await client.encrypt(Buffer.alloc(32, 1));
    assert.deepEqual((await client.decrypt(enc.ciphertext, enc.key_id)).plaintext, Buffer.alloc(32, 1));
  });
});

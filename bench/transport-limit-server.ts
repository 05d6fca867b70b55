/**
 * The transport limit, a reference target and not a model of anything: a bare
 * grpc-js server on a unix socket, messages (de)serialized with protobufjs from
 * the repository's proto/ files, answering every KMS v2 and v1beta1 call from
 * memory (no Vault, no logging, no metrics, no deadlines). Whatever a grpc-js
 * plugin does on top of this is its own per-call cost.
 *
 * Encrypt prefixes the plaintext with a marker, Decrypt strips it, so the load
 * generator's plaintext checks pass unchanged.
 *
 *   node dist/bench/transport-limit-server.js <socket path>
 */
import { join, resolve } from 'node:path';
import * as protobuf from 'protobufjs';
import { Server, ServerCredentials, status as grpcStatus, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from '@grpc/grpc-js';

const PROTO_DIR = resolve(__dirname, '../../proto');
const MARKER = Buffer.from('mem:');

function serviceOf(file: string, pkg: string, methods: ReadonlyArray<[string, string, string]>): ServiceDefinition {
  const root = protobuf.loadSync(join(PROTO_DIR, file));
  root.resolveAll();
  const def: Record<string, unknown> = {};
  for (const [name, req, res] of methods) {
    const reqType = root.lookupType(`${pkg}.${req}`);
    const resType = root.lookupType(`${pkg}.${res}`);
    def[name] = {
      path: `/${pkg}.KeyManagementService/${name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (v: object) => Buffer.from(reqType.encode(reqType.fromObject(v)).finish()),
      requestDeserialize: (b: Buffer) => reqType.toObject(reqType.decode(b), { defaults: true }),
      responseSerialize: (v: object) => Buffer.from(resType.encode(resType.fromObject(v)).finish()),
      responseDeserialize: (b: Buffer) => resType.toObject(resType.decode(b), { defaults: true }),
    };
  }
  return def as unknown as ServiceDefinition;
}

type Unary = (call: ServerUnaryCall<Record<string, unknown>, unknown>, cb: sendUnaryData<unknown>) => void;

const seal = (plain: unknown): Buffer => Buffer.concat([MARKER, plain as Buffer]);
const open = (cipher: unknown, cb: sendUnaryData<unknown>, field: string): void => {
  const c = cipher as Buffer;
  if (c.length < MARKER.length || !c.subarray(0, MARKER.length).equals(MARKER)) cb({ code: grpcStatus.INVALID_ARGUMENT, details: 'not a ciphertext of this server' });
  else cb(null, { [field]: c.subarray(MARKER.length) });
};

const STATUS = { version: 'v2', healthz: 'ok', keyId: '1' };
const v2: Record<string, Unary> = {
  Status: (_call, cb) => cb(null, STATUS),
  Encrypt: (call, cb) => cb(null, { ciphertext: seal(call.request.plaintext), keyId: '1' }),
  Decrypt: (call, cb) => open(call.request.ciphertext, cb, 'plaintext'),
};
const v1: Record<string, Unary> = {
  Version: (_call, cb) => cb(null, { version: 'v1beta1', runtimeName: 'transport-limit', runtimeVersion: '0' }),
  Encrypt: (call, cb) => cb(null, { cipher: seal(call.request.plain) }),
  Decrypt: (call, cb) => open(call.request.cipher, cb, 'plain'),
};

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: transport-limit-server.js <socket path>\n');
  process.exit(2);
}
const server = new Server();
server.addService(serviceOf('v2/api.proto', 'v2', [['Status', 'StatusRequest', 'StatusResponse'], ['Decrypt', 'DecryptRequest', 'DecryptResponse'], ['Encrypt', 'EncryptRequest', 'EncryptResponse']]), v2);
server.addService(serviceOf('v1beta1/api.proto', 'v1beta1', [['Version', 'VersionRequest', 'VersionResponse'], ['Decrypt', 'DecryptRequest', 'DecryptResponse'], ['Encrypt', 'EncryptRequest', 'EncryptResponse']]), v1);
server.bindAsync(`unix:${path}`, ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`bind failed: ${err.message}\n`);
    process.exit(1);
  }
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

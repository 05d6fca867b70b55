import * as protobuf from 'protobufjs';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { PROTO_SOURCES } from './proto-sources.generated';

/**
 * The KMS message types, parsed once from the embedded proto/ sources with
 * snake_case field names as on the wire. A request that fails to decode is not
 * thrown out of the deserializer (grpc-js would answer INTERNAL); it becomes a
 * MalformedRequest that the handler answers with INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

function parseRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const source of Object.values(PROTO_SOURCES)) protobuf.parse(source, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = parseRoot();
const TO_OBJECT: protobuf.IConversionOptions = { defaults: true, objects: true };

function method(service: string, name: string, req: string, res: string): MethodDefinition<unknown, unknown> {
  const reqType = root.lookupType(req);
  const resType = root.lookupType(res);
  return {
    path: `/${service}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: unknown) => Buffer.from(reqType.encode(reqType.fromObject(v as object)).finish()),
    requestDeserialize: (buf: Buffer) => {
      try {
        return reqType.toObject(reqType.decode(buf), TO_OBJECT);
      } catch {
        return new MalformedRequest(`request is not a valid ${req} message`);
      }
    },
    responseSerialize: (v: unknown) => Buffer.from(resType.encode(resType.fromObject(v as object)).finish()),
    responseDeserialize: (buf: Buffer) => resType.toObject(resType.decode(buf), TO_OBJECT),
  };
}

function service(pkg: string, methods: ReadonlyArray<[string, string, string]>): ServiceDefinition {
  const svc = `${pkg}.KeyManagementService`;
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, req, res] of methods) def[name] = method(svc, name, `${pkg}.${req}`, `${pkg}.${res}`);
  return def as ServiceDefinition;
}

export const KMS_V2_SERVICE = service('v2', [
  ['Status', 'StatusRequest', 'StatusResponse'],
  ['Decrypt', 'DecryptRequest', 'DecryptResponse'],
  ['Encrypt', 'EncryptRequest', 'EncryptResponse'],
]);

export const KMS_V1_SERVICE = service('v1beta1', [
  ['Version', 'VersionRequest', 'VersionResponse'],
  ['Decrypt', 'DecryptRequest', 'DecryptResponse'],
  ['Encrypt', 'EncryptRequest', 'EncryptResponse'],
]);

// Message shapes as the handlers see them (bytes as Buffer, absent fields defaulted).
export interface V2EncryptRequest { plaintext: Buffer; uid: string }
export interface V2DecryptRequest { ciphertext: Buffer; uid: string; key_id: string; annotations: Record<string, Buffer> }
export interface V1EncryptRequest { version: string; plain: Buffer }
export interface V1DecryptRequest { version: string; cipher: Buffer }

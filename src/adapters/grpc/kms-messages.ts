import type { MethodDefinition, ServiceDefinition, handleUnaryCall } from '@grpc/grpc-js';
import { Reader } from 'protobufjs/minimal';
import { v1beta1, v2 } from './generated/kms-proto';

/**
 * The KMS services over the code protobufjs generates from proto/
 * (scripts/gen-proto.mjs): snake_case field names as on the wire, and one
 * TypeScript type per message, so a handler that answers with a misspelled
 * field does not compile. A request that fails to decode is not thrown out of
 * the deserializer (grpc-js would answer INTERNAL); it becomes a
 * MalformedRequest that the handler answers with INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** What the generated code offers for one message type. */
interface MessageCodec<T, I> {
  encode(message: I): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
  fromObject(object: Record<string, unknown>): T;
  toObject(message: T, options: { defaults: boolean; objects: boolean }): Record<string, unknown>;
}

const TO_OBJECT = { defaults: true, objects: true };

function method<Req, ReqI, Res, ResI>(
  path: string,
  name: string,
  request: MessageCodec<Req, ReqI>,
  response: MessageCodec<Res, ResI>,
): MethodDefinition<ReqI, ResI> {
  return {
    path,
    requestStream: false,
    responseStream: false,
    // The client side (the test client) sends plain objects; fromObject also accepts base64 text for bytes.
    requestSerialize: (v: ReqI) => Buffer.from(request.encode(request.fromObject(v as Record<string, unknown>) as unknown as ReqI).finish()),
    // grpc-js declares one request type for both sides; the server side decodes to the generated class.
    requestDeserialize: (buf: Buffer): ReqI => {
      try {
        checkWireTypes(name, buf);
        return request.decode(buf) as unknown as ReqI;
      } catch {
        return new MalformedRequest(`request is not a valid ${name} message`) as unknown as ReqI;
      }
    },
    responseSerialize: (v: ResI) => Buffer.from(response.encode(v).finish()),
    responseDeserialize: (buf: Buffer) => response.toObject(response.decode(buf), TO_OBJECT) as ResI,
  };
}

export type KmsV2Handlers = {
  Status: handleUnaryCall<v2.StatusRequest | MalformedRequest, v2.IStatusResponse>;
  Decrypt: handleUnaryCall<v2.DecryptRequest | MalformedRequest, v2.IDecryptResponse>;
  Encrypt: handleUnaryCall<v2.EncryptRequest | MalformedRequest, v2.IEncryptResponse>;
};

export type KmsV1Handlers = {
  Version: handleUnaryCall<v1beta1.VersionRequest | MalformedRequest, v1beta1.IVersionResponse>;
  Decrypt: handleUnaryCall<v1beta1.DecryptRequest | MalformedRequest, v1beta1.IDecryptResponse>;
  Encrypt: handleUnaryCall<v1beta1.EncryptRequest | MalformedRequest, v1beta1.IEncryptResponse>;
};

const V2 = '/v2.KeyManagementService';
const V1 = '/v1beta1.KeyManagementService';

export const KMS_V2_SERVICE = {
  Status: method(`${V2}/Status`, 'v2.StatusRequest', v2.StatusRequest, v2.StatusResponse),
  Decrypt: method(`${V2}/Decrypt`, 'v2.DecryptRequest', v2.DecryptRequest, v2.DecryptResponse),
  Encrypt: method(`${V2}/Encrypt`, 'v2.EncryptRequest', v2.EncryptRequest, v2.EncryptResponse),
} satisfies ServiceDefinition;

export const KMS_V1_SERVICE = {
  Version: method(`${V1}/Version`, 'v1beta1.VersionRequest', v1beta1.VersionRequest, v1beta1.VersionResponse),
  Decrypt: method(`${V1}/Decrypt`, 'v1beta1.DecryptRequest', v1beta1.DecryptRequest, v1beta1.DecryptResponse),
  Encrypt: method(`${V1}/Encrypt`, 'v1beta1.EncryptRequest', v1beta1.EncryptRequest, v1beta1.EncryptResponse),
} satisfies ServiceDefinition;

/**
 * protobufjs decodes a known field without checking its wire type (a varint
 * where bytes belong is read as a length). This walk rejects such a message
 * before it is decoded, so it is answered INVALID_ARGUMENT like any other
 * malformed request. Unknown fields are skipped, as protobuf requires.
 *
 * Every field of every KMS request is a string, bytes or map<string, bytes>,
 * so each known field, and each field of a map entry, must be
 * length-delimited. test/unit/wire-types.test.ts checks this table against proto/.
 */
const LENGTH_DELIMITED = 2;

interface RequestFields {
  /** Field numbers of the message. */
  readonly fields: readonly number[];
  /** Those that are maps (their entries are checked too). */
  readonly maps: readonly number[];
}

export const REQUEST_FIELDS: Readonly<Record<string, RequestFields>> = {
  'v2.StatusRequest': { fields: [], maps: [] },
  'v2.EncryptRequest': { fields: [1, 2], maps: [] },
  'v2.DecryptRequest': { fields: [1, 2, 3, 4], maps: [4] },
  'v1beta1.VersionRequest': { fields: [1], maps: [] },
  'v1beta1.EncryptRequest': { fields: [1, 2], maps: [] },
  'v1beta1.DecryptRequest': { fields: [1, 2], maps: [] },
};

/** Throws when a known field of the request arrives with a wire type it cannot have. */
export function checkWireTypes(message: string, buf: Uint8Array): void {
  const spec = REQUEST_FIELDS[message];
  if (!spec) throw new Error(`no wire-type table for ${message}`);
  walk(buf, (id, wire, reader) => {
    if (!spec.fields.includes(id)) return false;
    if (wire !== LENGTH_DELIMITED) throw new Error(`field ${id} has wire type ${wire}`);
    if (!spec.maps.includes(id)) return false;
    walk(reader.bytes(), (entryField, entryWire) => {
      if ((entryField === 1 || entryField === 2) && entryWire !== LENGTH_DELIMITED) throw new Error(`map entry field ${entryField} has wire type ${entryWire}`);
      return false;
    });
    return true;
  });
}

/** Calls visit for every field; visit returns true when it consumed the field's value itself. */
function walk(buf: Uint8Array, visit: (id: number, wire: number, reader: Reader) => boolean): void {
  const reader = Reader.create(buf);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (!visit(tag >>> 3, tag & 7, reader)) reader.skipType(tag & 7);
  }
}

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { REQUEST_FIELDS, checkWireTypes } from '../../src/adapters/grpc/kms-messages';
import { v2 } from '../../src/adapters/grpc/generated/kms-proto';

/** The wire-type table of issue 10 item 11, checked against the .proto files themselves. */
const ROOT = join(__dirname, '../../..');

describe('wire-type check of KMS requests', () => {
  it('the table lists exactly the fields of each request in proto/, all strings, bytes or map<string, bytes>', () => {
    const root = protobuf.loadSync([join(ROOT, 'proto/v2/api.proto'), join(ROOT, 'proto/v1beta1/api.proto')]);
    for (const [name, spec] of Object.entries(REQUEST_FIELDS)) {
      const type = root.lookupType(name);
      assert.deepEqual(type.fieldsArray.map((f) => f.id).sort(), [...spec.fields].sort(), name);
      assert.deepEqual(type.fieldsArray.filter((f) => f.map).map((f) => f.id), [...spec.maps], name);
      for (const f of type.fieldsArray) {
        if (f instanceof protobuf.MapField) assert.deepEqual([f.keyType, f.type], ['string', 'bytes'], `${name}.${f.name}`);
        else assert.ok(['string', 'bytes'].includes(f.type) && !f.repeated, `${name}.${f.name} is ${f.type}`);
      }
    }
  });

  it('accepts what the generated encoder writes, and refuses a known field with another wire type', () => {
    const ok = v2.DecryptRequest.encode({ ciphertext: Buffer.from('c'), uid: 'u', key_id: '1', annotations: { a: Buffer.from('b') } }).finish();
    checkWireTypes('v2.DecryptRequest', ok);
    checkWireTypes('v2.DecryptRequest', Buffer.from([0x28, 0x01])); // unknown field 5 as a varint: skipped
    assert.throws(() => checkWireTypes('v2.EncryptRequest', Buffer.from([0x08, 0x20])), /field 1 has wire type 0/);
    assert.throws(() => checkWireTypes('v2.DecryptRequest', Buffer.from([0x22, 0x02, 0x08, 0x01])), /map entry field 1/);
  });
});

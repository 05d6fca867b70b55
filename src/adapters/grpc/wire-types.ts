import { Reader } from 'protobufjs/minimal';

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

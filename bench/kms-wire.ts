/**
 * A minimal protobuf codec for the KMS messages the load generator sends and
 * reads. Hand-written so that the client side costs the same few microseconds
 * for every target and never becomes the bottleneck (the plugin's own
 * protobufjs code is not reused on purpose: the client must not share code
 * paths with one of the things it measures).
 *
 * Only length-delimited fields are written; on reading, varint, fixed32/64 and
 * length-delimited fields are understood and unknown fields skipped.
 */

/** Field number → encoded bytes, in order. */
export type WireFields = ReadonlyArray<readonly [number, Buffer | string | undefined]>;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Encodes a message of bytes/string fields (empty values are omitted, as proto3 does). */
export function encodeMessage(fields: WireFields): Buffer {
  const parts: Array<[number, Buffer]> = [];
  let size = 0;
  for (const [no, value] of fields) {
    if (value === undefined || value.length === 0) continue;
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    parts.push([no, bytes]);
    size += varintSize(no << 3) + varintSize(bytes.length) + bytes.length;
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const [no, bytes] of parts) {
    pos = writeVarint(out, pos, (no << 3) | 2);
    pos = writeVarint(out, pos, bytes.length);
    pos += bytes.copy(out, pos);
  }
  return out;
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  throw new Error('varint too long');
}

/** Length-delimited fields by number (the last occurrence wins; repeated/map fields are not needed here). */
export function decodeMessage(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    let key: number;
    [key, pos] = readVarint(buf, pos);
    const no = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        [, pos] = readVarint(buf, pos);
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        let len: number;
        [len, pos] = readVarint(buf, pos);
        if (pos + len > buf.length) throw new Error('truncated field');
        out.set(no, buf.subarray(pos, pos + len));
        pos += len;
        break;
      }
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return out;
}

export const EMPTY = Buffer.alloc(0);

/**
 * base64.StdEncoding.DecodeString as Go does it, including the exact byte
 * offset in "illegal base64 data at input byte N". Node's Buffer.from(x,
 * 'base64') silently accepts garbage, which would hide client bugs that real
 * Vault reports as 400s.
 */

export type Base64Decoded = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly offset: number };

// Fast path: canonical padded base64 decodes identically in Node and Go.
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const NEWLINES = /[\r\n]/g;

const LF = 0x0a;
const CR = 0x0d;
const PAD = 0x3d; // '='

function isAlphabetByte(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x30 && b <= 0x39) || // 0-9
    b === 0x2b || // +
    b === 0x2f // /
  );
}

function isNewline(b: number): boolean {
  return b === LF || b === CR;
}

/** Go skips \r and \n anywhere; Node decodes the rest the same way once they are gone. */
function decodeAccepted(text: string): Base64Decoded {
  return { ok: true, bytes: Buffer.from(text.replace(NEWLINES, ''), 'base64') };
}

/** Walks quanta of four symbols exactly like Go's decodeQuantum to find the first bad byte. */
function scanLikeGo(text: string): Base64Decoded {
  const src = Buffer.from(text, 'utf8');
  const n = src.length;
  let si = 0;
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === n) {
        if (j === 0) return decodeAccepted(text);
        // StdEncoding requires padding, so a short final quantum is an error.
        return { ok: false, offset: si - j };
      }
      const b = src[si]!;
      si++;
      if (isAlphabetByte(b)) continue;
      if (isNewline(b)) {
        j--;
        continue;
      }
      if (b !== PAD) return { ok: false, offset: si - 1 };
      if (j === 0 || j === 1) return { ok: false, offset: si - 1 };
      if (j === 2) {
        // "==" expected; the first '=' is consumed already.
        while (si < n && isNewline(src[si]!)) si++;
        if (si === n) return { ok: false, offset: n };
        if (src[si] !== PAD) return { ok: false, offset: si - 1 };
        si++;
      }
      while (si < n && isNewline(src[si]!)) si++;
      if (si < n) return { ok: false, offset: si }; // trailing garbage after padding
      return decodeAccepted(text);
    }
  }
}

export function decodeGoBase64(text: string): Base64Decoded {
  if (CANONICAL_BASE64.test(text)) return { ok: true, bytes: Buffer.from(text, 'base64') };
  return scanLikeGo(text);
}

export function illegalBase64Message(offset: number): string {
  return `illegal base64 data at input byte ${offset}`;
}

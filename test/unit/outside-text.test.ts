import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HealthState, MAX_HEALTH_REASON_CHARS } from '../../src/domain/model/health-state';
import { OUTSIDE_TEXT_MAX_CHARS, hasUnprintable, outsideList, outsideText, printable } from '../../src/domain/model/outside-text';

/** issue 22 items 3 and 4: text another party chose is shown as one bounded line of visible characters. */
describe('outside text', () => {
  it('replaces every C0 control, DEL, C1 control, line separator and bidi control by a visible escape', () => {
    const every = [...Array.from({ length: 0x20 }, (_, i) => i), 0x7f, ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i), 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202e, 0x2066, 0x2069];
    for (const code of every) {
      const shown = printable(`a${String.fromCharCode(code)}b`);
      assert.equal(hasUnprintable(shown), false, `U+${code.toString(16)}`);
      assert.match(shown, /^a\\(x[0-9a-f]{2}|u[0-9a-f]{4}|n|r|t)b$/, `U+${code.toString(16)} -> ${shown}`);
    }
  });

  it('keeps a forged line and an OSC-8 link on the line they came in, readable as evidence', () => {
    const forged = 'permission denied\n✓ authentication: token login succeeded\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07\r';
    const shown = outsideText(forged);
    assert.equal(shown, 'permission denied\\n✓ authentication: token login succeeded\\x1b]8;;https://evil.example/\\x07click\\x1b]8;;\\x07\\r');
    assert.equal(shown.split('\n').length, 1);
  });

  it('leaves ordinary text, accents and emoji alone', () => {
    assert.equal(outsideText('Vault a refusé la requête ✓ 🔑 (code 403)'), 'Vault a refusé la requête ✓ 🔑 (code 403)');
  });

  it('cuts a long text to a few hundred characters and says how long it was, without scanning it whole', () => {
    const huge = 'A'.repeat(3_600_000);
    const shown = outsideText(huge);
    assert.ok(shown.length < OUTSIDE_TEXT_MAX_CHARS + 40, `${shown.length} characters`);
    assert.match(shown, /^A{300}… \(3,600,000 characters in all\)$/);
    assert.equal(outsideText('\x1b'.repeat(1000), 10), '\\x1b\\x1b\\x… (1,000 characters in all)', 'escapes count toward the bound');
  });

  it('does not split a surrogate pair at the cut', () => {
    assert.equal(outsideText(`ab${'🔑'.repeat(5)}`, 3), 'ab… (12 characters in all)');
  });

  it('names at most a few items of a list and counts the rest', () => {
    const ids = Array.from({ length: 60_000 }, (_, i) => `spiffe://evil.test/workload-${i}`);
    assert.equal(outsideList(ids), 'spiffe://evil.test/workload-0, spiffe://evil.test/workload-1, spiffe://evil.test/workload-2 and 59,997 more');
    assert.equal(outsideList(['a\nb', 'c']), 'a\\nb, c');
    assert.equal(outsideList([]), '');
  });
});

describe('health state serves outside text bounded and printable', () => {
  it('a failure reason quoting a hostile peer: one line, at most MAX_HEALTH_REASON_CHARS (plus the length note)', () => {
    const h = new HealthState(1000);
    h.record(false, `Vault failed: ${'x'.repeat(5_000_000)}\n\x1b[2J✓ ok`, 1);
    const { reason } = h.snapshot(2);
    assert.ok(reason.length < MAX_HEALTH_REASON_CHARS + 40, `${reason.length}`);
    assert.equal(hasUnprintable(reason), false);
  });

  it('an address detail: printable and cut', () => {
    const h = new HealthState(1000);
    h.recordAddresses([{ address: 'https://vault-1:8200', ok: false, detail: `sealed\r\n${'y'.repeat(10_000)}` }]);
    const [a] = h.snapshot(2).addresses ?? [];
    assert.ok(a.detail.startsWith('sealed\\r\\n'));
    assert.ok(a.detail.length < OUTSIDE_TEXT_MAX_CHARS + 40);
  });
});

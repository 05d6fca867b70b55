/**
 * Text that another party chose (a Vault error body, a name or version Vault
 * returned, a SPIFFE agent's status details or SPIFFE IDs, a JWT's claims) as
 * the plugin may show it: in a log line, in `check`'s output, in /health and in
 * KMS Status. Two rules, so that a hostile or broken peer can neither forge
 * output nor flood it:
 *
 * - **One line of visible characters.** C0 (line breaks, ESC, ...), DEL, C1,
 *   the Unicode line and paragraph separators and the bidirectional controls
 *   are replaced by a visible escape (`\n`, `\x1b`, `\u202e`): a forged
 *   "\n✓ authentication" stays on the line it came in, an OSC-8 link or a
 *   colour code is printed, not obeyed, and the evidence is still readable.
 * - **Bounded.** A text is cut to a few hundred characters and says how long it
 *   was; a list names its first few items and counts the rest.
 *
 * Pure functions of the model: every adapter that passes on outside text, and
 * the health state that serves it, use this one definition.
 */

/** How much of one outside text is shown by default: enough for any real error message. */
export const OUTSIDE_TEXT_MAX_CHARS = 300;
/** How many items of an outside list are named; the rest are counted. */
const OUTSIDE_LIST_MAX_ITEMS = 3;
/** How much of each named item is shown (a SPIFFE ID, a policy name). */
export const OUTSIDE_ITEM_MAX_CHARS = 100;

/** C0, DEL, C1, LRM/RLM, LS/PS, the bidi embeddings, overrides and isolates. */
const UNPRINTABLE_CLASS = '[\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]';
const UNPRINTABLE = new RegExp(UNPRINTABLE_CLASS, 'g');
const ANY_UNPRINTABLE = new RegExp(UNPRINTABLE_CLASS);
const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escape(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every control character replaced by a visible escape; nothing cut. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escape);
}

/** True when the text holds a character `printable` would replace. */
export function hasUnprintable(text: string): boolean {
  return ANY_UNPRINTABLE.test(text);
}

/**
 * Outside text as it may be shown: printable, and at most `maxChars` of it
 * (then "… (N characters in all)").
 */
export function outsideText(text: string, maxChars = OUTSIDE_TEXT_MAX_CHARS): string {
  // Cut before escaping: a 3 MB answer is never scanned whole.
  let end = Math.min(text.length, maxChars);
  // Never split a surrogate pair (it would print as U+FFFD).
  if (end < text.length && end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
  const escaped = printable(text.slice(0, end));
  const cut = end < text.length || escaped.length > maxChars;
  const shown = escaped.length > maxChars ? escaped.slice(0, maxChars) : escaped;
  return cut ? `${shown}… (${text.length.toLocaleString('en-US')} characters in all)` : shown;
}

/**
 * A list another party chose, named in a message: its first `maxItems` items
 * (each as outsideText of `itemChars`), and how many more there are:
 * "a, b, c and 59,997 more".
 */
export function outsideList(items: readonly string[], maxItems = OUTSIDE_LIST_MAX_ITEMS, itemChars = OUTSIDE_ITEM_MAX_CHARS): string {
  const named = items.slice(0, maxItems).map((item) => outsideText(item, itemChars));
  const more = items.length - named.length;
  return more > 0 ? `${named.join(', ')} and ${more.toLocaleString('en-US')} more` : named.join(', ');
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The messages docs/troubleshooting.md and docs/ha.md quote are the plugin's
 * real ones (issue 23 item 14): every quoted text is explained by the string
 * literals and templates in src/, each `${...}` of a template standing for a
 * value (an address, a path, a number, an error code, a quoted name), another
 * literal, or another template's text. A quote may leave parts out with "...";
 * each part must then be explained on its own. Texts of other programs
 * (kube-apiserver, the kubelet, Vault) and commands are listed below.
 */
const ROOT = resolve(__dirname, '../../..');
const DOCS = ['docs/troubleshooting.md', 'docs/ha.md'];

/** Quoted in the docs but not ours: commands, configuration, and what other programs print. */
const NOT_OURS = [
  /^(kubectl|vault|bao|npm|grep|chown|rm|ls|curl|vault-kubernetes-kms) /, // commands
  / = |^[a-zA-Z_]+: [a-z0-9]+$|^user_lockout |^storage "/, // HCL and YAML
  /^(dial unix|connect: |context deadline exceeded|got unexpected healthz status)/, // kube-apiserver's gRPC client
  /^hostPath type check failed/, // the kubelet
  /^(permission denied$|1 error occurred|invalid role or secret ID$)/, // Vault's own error text
];

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'generated') sourceFiles(p, out);
    } else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every string literal and template literal in the source (nested ones too), as [literal parts]: a template's ${...} splits it. */
function stringsOf(code: string): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (c === '/' && code[i + 1] === '/') {
      i = code.indexOf('\n', i);
      if (i < 0) break;
      continue;
    }
    if (c === '/' && code[i + 1] === '*') {
      i = code.indexOf('*/', i + 2) + 1;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') i = readString(code, i, out);
  }
  return out;
}

/** Reads the string that starts at code[start] into out; returns the index of its closing quote. */
function readString(code: string, start: number, out: string[][]): number {
  const q = code[start];
  const parts: string[] = [];
  let cur = '';
  let j = start + 1;
  for (; j < code.length && code[j] !== q; j++) {
    if (code[j] === '\\') {
      cur += code[j + 1] === 'n' ? '\n' : code[j + 1];
      j++;
    } else if (q === '`' && code[j] === '$' && code[j + 1] === '{') {
      parts.push(cur);
      cur = '';
      let depth = 1;
      j += 2;
      for (; j < code.length && depth > 0; j++) {
        const d = code[j];
        if (d === '{') depth++;
        else if (d === '}') depth--;
        else if (d === "'" || d === '"' || d === '`') j = readString(code, j, out);
      }
      j--;
    } else if (q !== '`' && code[j] === '\n') break;
    else cur += code[j];
  }
  parts.push(cur);
  out.push(parts);
  return j;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

class Explainer {
  private readonly literals = new Set<string>();
  private readonly literalText: string[] = [];
  private readonly templates: { re: RegExp; literal: number }[] = [];
  /** Each template with \u0000 where its ${...} are: what a quote with example values is matched against. */
  private readonly skeletons: string[] = [];
  private readonly memo = new Map<string, boolean>();

  constructor(strings: string[][]) {
    for (const parts of strings) {
      if (parts.length === 1) {
        this.literals.add(parts[0]);
        this.literalText.push(parts[0]);
      } else {
        const literal = parts.join('').length;
        this.templates.push({ re: new RegExp(`^${parts.map(escape).join('([\\s\\S]+?)')}$`), literal });
        this.skeletons.push(parts.join('\u0000'));
        for (const p of parts) if (p.trim().length >= 8) this.literalText.push(p);
      }
    }
  }

  /** A whole text (or a template's ${...}) is explained by the source. */
  whole(text: string, depth = 0): boolean {
    const t = text.trim();
    if (t === '' || isValue(t) || this.literals.has(text) || this.literals.has(t)) return true;
    if (depth > 4) return false;
    const key = `${depth}:${text}`;
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    this.memo.set(key, false);
    let ok = false;
    for (const { re, literal } of this.templates) {
      if (literal === 0) continue;
      const m = re.exec(text);
      if (m && m.slice(1).every((g) => this.whole(g, depth + 1))) {
        ok = true;
        break;
      }
    }
    this.memo.set(key, ok);
    return ok;
  }

  /** A part of a message next to a "...": explained whole, or the start or end of a literal or of a template's text. */
  part(text: string, cutBefore: boolean, cutAfter: boolean): boolean {
    if (this.whole(text)) return true;
    // Example values (addresses, paths, numbers, codes) may stand where a template has a ${...}.
    const withValues = text.trim().replace(VALUE_TOKEN, '\u0001');
    if (withValues.includes('\u0001')) {
      const re = new RegExp(withValues.split('\u0001').map(escape).join('[^\\n]*?'));
      if (this.skeletons.some((k) => re.test(k))) return true;
    }
    if (!cutBefore && !cutAfter) return false;
    if (this.literalText.some((l) => l.includes(text.trim()))) return true;
    // The longest prefix (or suffix) the source explains whole, with the rest inside a literal.
    const t = text.trim();
    for (let n = t.length - 1; n > 0; n--) {
      const head = cutAfter ? t.slice(0, n) : t.slice(t.length - n);
      const rest = cutAfter ? t.slice(n) : t.slice(0, t.length - n);
      if (this.whole(head) && this.literalText.some((l) => (cutAfter ? l.startsWith(rest) || l.includes(rest) : l.endsWith(rest) || l.includes(rest)))) return true;
    }
    return false;
  }
}

const VALUE_TOKEN = /(?:https?|unix):\/\/[^\s),;]+|\/[\w./-]+|"[^"]*"|\b[A-Z][A-Z0-9_]{2,}\b|\b\d+\b/g;

/** Example values the docs put where the plugin prints the real one. */
function isValue(t: string): boolean {
  return (
    /^(https?|unix):\/\/\S+$/.test(t) ||
    /^\/\S*$/.test(t) ||
    /^\d+(\.\d+)?( s)?$/.test(t) ||
    /^0[0-7]{3,4}$/.test(t) ||
    /^[A-Z][A-Z0-9_]{2,}$/.test(t) ||
    /^"[^"]*"$/.test(t) ||
    /^-[a-z0-9-]+ \([A-Z0-9_, ]+\)$/.test(t) // an option with its environment variables
  );
}

export function quotesIn(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  const out: string[] = [];
  for (const m of prose.matchAll(/`([^`]+)`/g)) {
    const q = m[1].replace(/\s*\n\s*/g, ' ');
    if (!q.includes(' ') || q.length < 12) continue; // flags, names, single words
    if (NOT_OURS.some((re) => re.test(q))) continue;
    out.push(q);
  }
  return out;
}

const explainer = new Explainer(sourceFiles(join(ROOT, 'src')).flatMap((f) => stringsOf(readFileSync(f, 'utf8'))));

/** Docs quote the start of a long message too: each piece may be cut on either side. */
function explained(quote: string): boolean {
  const pieces = quote.split(/\s*(?:\.\.\.|…)\s*/);
  return pieces.every((p) => p.trim() === '' || explainer.part(p, true, true));
}

describe('messages quoted by the docs are the plugin\'s real ones', () => {
  for (const doc of DOCS) {
    it(`${doc}: every quoted message is made of the source's texts`, () => {
      const quotes = quotesIn(readFileSync(join(ROOT, doc), 'utf8'));
      assert.ok(quotes.length >= 1, `found only ${quotes.length} quotes`);
      const wrong = quotes.filter((q) => !explained(q));
      assert.deepEqual(wrong, [], `quoted in ${doc} but not what the plugin says`);
    });
  }

  it('can fail: an invented message and a real one with a changed word are not explained', () => {
    assert.equal(explained('Vault unavailable: no address answers'), false, 'invented');
    assert.equal(explained('no Vault address is usable: https://vault.example.com:8200 unreachable (ECONNREFUSED)'), true);
    assert.equal(explained('no Vault address is usable: https://vault.example.com:8200 unreachable at all (ECONNREFUSED)'), false);
    assert.equal(explained('removed stale socket left by a previous run'), true);
    assert.equal(explained('removed a stale socket left by a previous run'), false);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/config';
import { asksForHelp, parseCheckFlags, parseClientFlags, parsePluginFlags } from '../../src/config/command-line';

const refused = (run: () => unknown, message: RegExp) => assert.throws(run, (e: unknown) => e instanceof ConfigError && message.test(e.message));

describe('the command line (one parser: the plugin, check and client)', () => {
  it('plugin: Go flag syntax, every value a string, the last one given wins', () => {
    const flags = parsePluginFlags(['-vault-address', 'https://a', '--auth-method=token', '-debug', '-vault-address=https://b']);
    assert.equal(flags['vault-address'], 'https://b');
    assert.equal(flags['auth-method'], 'token');
    assert.equal(flags.debug, 'true');
    refused(() => parsePluginFlags(['-no-such-flag=1']), /^Unknown argument: no-such-flag$/);
    refused(() => parsePluginFlags(['-dev', 'stray']), /^unexpected argument at position 2 \(value not shown\)/);
  });

  it('check: its own -output and -strict, anywhere among the flags; the plugin options are left as given', () => {
    const line = parseCheckFlags(['-vault-address', 'https://v', '-output', 'json', '-debug', '-strict', '-token-file=/t']);
    assert.deepEqual(line.options, { output: 'json', strict: true });
    assert.deepEqual(line.pluginArgs, ['-vault-address', 'https://v', '-debug', '-token-file=/t']);
    assert.deepEqual(parseCheckFlags(['--output=text', '-strict=false', '-dev', 'stray', '-output=json']), { options: { output: 'text', strict: false }, pluginArgs: ['-dev', 'stray', '-output=json'] });
    assert.deepEqual(parseCheckFlags([]).options, { output: 'text', strict: false });
  });

  it('check: its own flags are usage errors; a bad plugin option is left for the check to report', () => {
    refused(() => parseCheckFlags(['-output']), /^-output needs a value$/);
    refused(() => parseCheckFlags(['-output=xml']), /^-output must be text or json, not "xml"$/);
    refused(() => parseCheckFlags(['-strict=maybe']), /^-strict is a boolean: give -strict or -strict=false$/);
    refused(() => parseCheckFlags(['-strict= true']), /^-strict is a boolean/);
    assert.deepEqual(parseCheckFlags(['-no-such-flag=1', '-output=json']).pluginArgs, ['-no-such-flag=1']);
  });

  it('client: the action first, then flags and operands mixed; "-" is an operand', () => {
    assert.deepEqual(parseClientFlags(['encrypt', 'hello world', '-socket', '/s', '-timeout=1s', '-api=v1']), {
      action: 'encrypt', operands: ['hello world'], socket: '/s', api: 'v1', keyId: undefined, output: undefined, timeout: '1s',
    });
    assert.deepEqual(parseClientFlags(['decrypt', '-key-id=7', '-', '--output', 'json']).operands, ['-']);
    assert.deepEqual(parseClientFlags(['status', '-socket=/a', '-socket=/b']).socket, '/b');
    refused(() => parseClientFlags(['rotate']), /^unknown command "rotate": use status, encrypt or decrypt$/);
    refused(() => parseClientFlags(['status', '-sockett=x']), /^unknown option -sockett$/);
    refused(() => parseClientFlags(['status', '-timeout']), /^-timeout needs a value$/);
  });

  it('help anywhere: -h, -help, --help', () => {
    assert.equal(asksForHelp(['status', '--help']), true);
    assert.equal(asksForHelp(['-h']), true);
    assert.equal(asksForHelp(['-helpful']), false);
  });
});

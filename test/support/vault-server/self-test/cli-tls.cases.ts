/**
 * The CLI contract (one JSON line, exit 0 on SIGTERM) and the HTTPS option.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startVaultTestServer } from '../index';

const CLI = join(__dirname, '..', 'cli.js');

/** Resolves with everything printed up to and including the first newline. */
function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) resolve(text);
    });
    child.once('exit', (code) => reject(new Error(`cli exited early with ${code}: ${text}`)));
  });
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

export function cliAndTlsCases(): void {
  describe('cli', () => {
    test('prints exactly one JSON line, serves, exits 0 on SIGTERM', async () => {
      const child = spawn(process.execPath, [CLI, '--port', '0', '--flavor=openbao', '--latency-ms', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const printed = await firstLine(child);
      assert.ok(printed.endsWith('\n'));
      assert.equal(printed.trimEnd().split('\n').length, 1);
      const info = JSON.parse(printed);
      assert.deepEqual(Object.keys(info), ['url', 'rootToken', 'kmsToken', 'roleId', 'secretId']);
      assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${info.url}/v1/auth/token/lookup-self`, { headers: { 'X-Vault-Token': info.kmsToken } });
      const body = (await res.json()) as { mount_type?: string };
      assert.equal(res.status, 200);
      assert.equal(body.mount_type, undefined, 'openbao flavor');
      let rest = '';
      child.stdout!.on('data', (chunk: string) => (rest += chunk));
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
      assert.equal(rest, '', 'nothing else on stdout');
    });

    test('rejects bad arguments with exit code 2', () => {
      const res = spawnSync(process.execPath, [CLI, '--flavor', 'consul'], { encoding: 'utf8' });
      assert.equal(res.status, 2);
      assert.equal(res.stdout, '');
      assert.match(res.stderr, /--flavor must be vault or openbao/);
    });
  });

  describe('tls', () => {
    test('serves HTTPS with a given certificate and key', { skip: hasOpenssl ? false : 'openssl not installed' }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vault-test-tls-'));
      try {
        const keyPath = join(dir, 'key.pem');
        const certPath = join(dir, 'cert.pem');
        const made = spawnSync('openssl', [
          'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
          '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=127.0.0.1',
          '-addext', 'subjectAltName=IP:127.0.0.1',
        ]);
        assert.equal(made.status, 0, made.stderr?.toString());
        const cert = readFileSync(certPath, 'utf8');
        // One as a path, one as PEM text: both forms are accepted.
        const server = await startVaultTestServer({ tls: { cert, key: keyPath } });
        try {
          assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
          const res = await httpsGet(`${server.url}/v1/sys/health`, cert);
          assert.equal(res.status, 200);
          assert.equal(JSON.parse(res.body).sealed, false);
        } finally {
          await server.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

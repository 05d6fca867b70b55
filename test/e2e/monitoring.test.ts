/**
 * deploy/monitoring/: the Grafana dashboard and the Prometheus alert rules query only metrics and
 * labels a running plugin exports. The built CLI (or, with KMS_PLUGIN_BIN, the artifact) runs
 * against a real OpenBao with a short-lived token (so it renews), serves KMS v1 and v2 traffic
 * including a failing request, and its /metrics is scraped; then every metric name in every
 * query, every label in a selector or a `by (...)`, and every literal label value must be there.
 * The rules and every dashboard query are also parsed by promtool (the real Prometheus parser),
 * installed by `npm run tools`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenBaoServer } from '../support/openbao';
import { PluginFixture } from '../support/plugin-fixture';
import { PluginProcess, REPO_ROOT, eventually, tempSocketDir } from '../support/plugin-process';

const MONITORING = join(REPO_ROOT, 'deploy/monitoring');
const PREFIX = 'vault_kubernetes_kms_';
/** Labels Prometheus adds at scrape time, and the histogram bucket label. */
const SCRAPE_LABELS = new Set(['instance', 'job', 'le']);

interface Query {
  readonly where: string;
  readonly expr: string;
}

/** Every `expr:` of the rules file: one-line values and `|` blocks (the only two forms it uses). */
function ruleQueries(): Query[] {
  const lines = readFileSync(join(MONITORING, 'prometheus-rules.yaml'), 'utf8').split('\n');
  const out: Query[] = [];
  let alert = '';
  for (let i = 0; i < lines.length; i++) {
    const a = /^\s*- alert: (\S+)$/.exec(lines[i]);
    if (a) alert = a[1];
    const m = /^(\s*)expr: (.*)$/.exec(lines[i]);
    if (!m) continue;
    if (m[2] !== '|') {
      out.push({ where: alert, expr: m[2] });
      continue;
    }
    const block: string[] = [];
    while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > m[1].length)) block.push(lines[++i].trim());
    out.push({ where: alert, expr: block.join(' ').trim() });
  }
  const alerts = lines.filter((l) => /^\s*- alert: /.test(l)).length;
  assert.equal(out.length, alerts, 'one expr per alert');
  return out;
}

/** Every query of the dashboard (panel targets and annotations), with Grafana's variables filled in. */
function dashboardQueries(): Query[] {
  const dash = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8'));
  const out: Query[] = [];
  for (const p of dash.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const a of dash.annotations?.list ?? []) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: a.expr });
  for (const v of dash.templating?.list ?? []) if (v.query?.query) out.push({ where: `variable ${v.name}`, expr: /^label_values\((\w+)/.exec(v.query.query)?.[1] ?? v.query.query });
  return out.map((q) => ({ ...q, expr: q.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*') }));
}

/** Sample names -> the label names and values seen on them, from a text exposition. */
function parseExposition(text: string): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? /.exec(line);
    if (!m) continue;
    const labels = out.get(m[1]) ?? new Map<string, Set<string>>();
    out.set(m[1], labels);
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      const values = labels.get(l[1]) ?? new Set<string>();
      values.add(l[2]);
      labels.set(l[1], values);
    }
  }
  return out;
}

function promtool(): string {
  const bin = process.env.KMS_TEST_PROMTOOL || join(REPO_ROOT, '.tools/bin/promtool');
  assert.ok(existsSync(bin), `promtool not found at ${bin}: run \`npm run tools\``);
  return bin;
}

describe('dashboard and alert rules against a running plugin', () => {
  const plugins = new PluginFixture();
  let bao: OpenBaoServer;
  let exported: Map<string, Map<string, Set<string>>>;
  const queries = [...ruleQueries(), ...dashboardQueries()];

  before(async () => {
    bao = await OpenBaoServer.start();
    // Short-lived, and under a policy without auth/token/renew-self: within seconds the plugin tries to renew
    // it, fails, and exports the failure the renewal alert watches (and Vault 4xx answers for the error panels).
    const policy = readFileSync(join(REPO_ROOT, 'manifests/kms-policy.hcl'), 'utf8').replace(/path "auth\/token\/renew-self" \{[^}]*\}/, '');
    assert.ok(!policy.includes('renew-self'), 'renew-self removed from the policy');
    await bao.writePolicy('kms-no-renew', policy);
    const { token } = await bao.createToken({ policies: ['kms-no-renew'], no_default_policy: true, ttl: '20s', renewable: true });
    const { p, client } = await plugins.start(
      [`-vault-address=${bao.url}`, '-auth-method=token', `-token=${token}`, '-disable-v1=false', '-token-refresh-interval=1s', '-token-renewal=3600'],
    );
    // KMS v2 and v1 traffic, concurrent identical Decrypts (batching, single-flight), and one failing Decrypt.
    const enc = await client.encrypt(Buffer.from('monitoring'));
    await Promise.all(Array.from({ length: 8 }, () => client.decrypt(enc.ciphertext, enc.key_id)));
    await Promise.all(Array.from({ length: 4 }, (_, i) => client.encrypt(Buffer.from(`batch-${i}`))));
    await assert.rejects(client.decrypt(Buffer.from('vault:v1:bm90LWEtY2lwaGVydGV4dA=='), enc.key_id));
    const v1 = await client.v1Encrypt(Buffer.from('monitoring-v1'));
    await client.v1Decrypt(v1.cipher);
    const port = await p.healthPort();
    const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    exported = await eventually(scrape, (m) => m.get(`${PREFIX}token_renewals_total`)?.get('outcome')?.has('failure') === true, 60_000, 250);
  });

  after(async () => {
    await plugins.stopAll();
    await bao?.close();
  });

  it('has queries for request rate, latency, Vault, batching, single-flight, token, key version and health', () => {
    const all = queries.map((q) => q.expr).join('\n');
    for (const metric of ['grpc_requests_total', 'encryption_operation_duration_seconds_bucket', 'decryption_operation_duration_seconds_bucket',
      'vault_requests_duration_seconds_count', 'vault_batch_size_sum', 'decrypt_single_flight_hits_total', 'token_expiry_seconds',
      'token_renewals_total', 'transit_key_version', 'healthy']) {
      assert.ok(all.includes(PREFIX + metric), `a query uses ${PREFIX}${metric}`);
    }
  });

  it('every metric, label and literal label value queried is exported by the plugin', () => {
    const problems: string[] = [];
    for (const q of queries) {
      const names = [...q.expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)].filter((m) => m[1].startsWith(PREFIX));
      // `up` is Prometheus' own series of the plugin's scrape job (the plugin-down alerts).
      if (names.length === 0 && /\bup\{job="vault-kubernetes-kms"\}/.test(q.expr)) continue;
      assert.ok(names.length > 0, `${q.where}: queries no plugin metric: ${q.expr}`);
      const labelsOfQuery = new Set<string>();
      for (const [, name, selector] of names) {
        const labels = exported.get(name);
        if (!labels) {
          problems.push(`${q.where}: ${name} is not exported`);
          continue;
        }
        for (const l of labels.keys()) labelsOfQuery.add(l);
        for (const [, label, op, value] of (selector ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
          if (SCRAPE_LABELS.has(label)) continue;
          const values = labels.get(label);
          if (!values) problems.push(`${q.where}: ${name} has no label ${label}`);
          else if ((op === '=' || op === '!=') && !values.has(value)) problems.push(`${q.where}: ${name}{${label}="${value}"} never seen (values: ${[...values].join(', ')})`);
        }
      }
      for (const m of q.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const label of m[1].split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!SCRAPE_LABELS.has(label) && !labelsOfQuery.has(label)) problems.push(`${q.where}: groups by ${label}, which none of its metrics has`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('promtool accepts the rules file and parses every dashboard query', () => {
    const out = execFileSync(promtool(), ['check', 'rules', join(MONITORING, 'prometheus-rules.yaml')], { encoding: 'utf8' });
    assert.match(out, /SUCCESS: \d+ rules found/);
    for (const q of dashboardQueries()) {
      try {
        execFileSync(promtool(), ['--experimental', 'promql', 'format', q.expr], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        assert.fail(`${q.where}: promtool cannot parse ${q.expr}: ${(e as { stderr?: string }).stderr ?? e}`);
      }
    }
  });

  it('the alerts fire when they should and stay quiet otherwise (promtool test rules)', () => {
    const out = execFileSync(promtool(), ['test', 'rules', join(MONITORING, 'prometheus-rules.test.yaml')], { encoding: 'utf8' });
    assert.match(out, /SUCCESS/);
  });
});

/**
 * The plugin-down and restart alerts against a real plugin process: it is started four times and finally killed,
 * scraped like Prometheus would (a failed scrape is up=0), and the scrapes, one per minute of promtool's clock,
 * are evaluated by promtool with the real rules file.
 */
describe('plugin-down and restart alerts against a killed plugin (issue 23 item 10)', () => {
  it('a plugin restarted three times, then killed: VaultKmsPluginRestarting and VaultKmsPluginDown fire from real scrapes', async () => {
    const up: number[] = [];
    const startTimes: string[] = [];
    const scrape = async (port: number) => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
        const m = new RegExp(`^${PREFIX}process_start_time_seconds (\\S+)$`, 'm').exec(text);
        assert.ok(m, 'the plugin exports its process start time');
        up.push(1);
        startTimes.push(m[1]);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        up.push(0);
        startTimes.push('_');
      }
    };
    let port = 0;
    for (let run = 0; run < 4; run++) {
      const socket = join(tempSocketDir(), 'vaultkms.socket');
      const p = new PluginProcess(['-dev', `-socket=unix://${socket}`, '-health-port=127.0.0.1:0']);
      try {
        port = await p.healthPort();
        await scrape(port);
        await scrape(port);
      } finally {
        if (run < 3) await p.stop();
        else {
          p.signal('SIGKILL');
          await p.exited;
        }
      }
      // prom-client reports the start time in whole seconds: the next start must fall in another second.
      if (run < 3) await new Promise((r) => setTimeout(r, 1100));
    }
    for (let i = 0; i < 4; i++) await scrape(port);
    assert.deepEqual(up, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], 'up: the scrape succeeds while the plugin runs and fails once it is killed');
    assert.equal(new Set(startTimes.filter((t) => t !== '_')).size, 4, `four processes, four start times: ${startTimes.join(' ')}`);

    const dir = mkdtempSync(join(tmpdir(), 'kms-alerts-'));
    const series = (name: string, values: readonly (string | number)[]) => `      - series: '${name}{instance="node-1:8080", job="vault-kubernetes-kms"}'\n        values: '${values.join(' ')}'\n`;
    const alert = (name: string, severity: string, value: number) =>
      `      - expr: ALERTS{alertname="${name}", alertstate="firing"}\n        eval_time: 11m\n        exp_samples:\n          - labels: 'ALERTS{alertname="${name}", alertstate="firing", instance="node-1:8080", job="vault-kubernetes-kms", severity="${severity}"}'\n            value: ${value}\n`;
    writeFileSync(
      join(dir, 'killed-plugin.test.yaml'),
      `rule_files:\n  - ${join(MONITORING, 'prometheus-rules.yaml')}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n` +
        series('up', up) +
        series(`${PREFIX}process_start_time_seconds`, startTimes) +
        `    promql_expr_test:\n` +
        alert('VaultKmsPluginDown', 'critical', 1) +
        alert('VaultKmsPluginRestarting', 'warning', 1) +
        `      - expr: ALERTS{alertname="VaultKmsPluginDown"}\n        eval_time: 9m\n        exp_samples:\n          - labels: 'ALERTS{alertname="VaultKmsPluginDown", alertstate="pending", instance="node-1:8080", job="vault-kubernetes-kms", severity="critical"}'\n            value: 1\n`,
    );
    const out = execFileSync(promtool(), ['test', 'rules', join(dir, 'killed-plugin.test.yaml')], { encoding: 'utf8' });
    assert.match(out, /SUCCESS/);
  });
});


/** What docs/monitoring.md promises of the dashboard itself (issue 23 item 11). */
describe('the dashboard', () => {
  const dash = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8'));
  const panels: { id: number; type: string; title: string; targets?: { expr: string }[]; fieldConfig?: any }[] = dash.panels;

  it('has no two panels with the same queries, and no two with one id', () => {
    const seen = new Map<string, string>();
    for (const p of panels.filter((x) => x.type !== 'row')) {
      const key = (p.targets ?? []).map((t) => t.expr).sort().join('\n');
      assert.ok(!seen.has(key), `"${p.title}" repeats "${seen.get(key)}"`);
      seen.set(key, p.title);
    }
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length);
  });

  it('has the per-address panels docs/monitoring.md lists (vault_address_healthy, vault_address_in_use, by address)', () => {
    for (const metric of ['vault_address_healthy', 'vault_address_in_use']) {
      const p = panels.find((x) => (x.targets ?? []).some((t) => t.expr.includes(PREFIX + metric)));
      assert.ok(p, `a panel shows ${PREFIX}${metric}`);
      assert.ok((p.targets ?? []).some((t) => /address/.test(JSON.stringify(t))), `${p.title} tells the addresses apart`);
    }
  });

  it('Token TTL: a periodic 1 h token renewed every minute is green, below the alert threshold orange, close to expiry red, 0 (no expiry) green', () => {
    const stat = panels.find((x) => x.type === 'stat' && x.title === 'Token TTL');
    assert.ok(stat);
    const steps: { color: string; value: number | null }[] = stat.fieldConfig.defaults.thresholds.steps;
    const colorOf = (v: number) => steps.filter((s) => s.value === null || v >= s.value).at(-1)?.color;
    for (const ttl of [3540, 3600, 1800, 86_400, 0]) assert.equal(colorOf(ttl), 'green', `${ttl} s`);
    assert.equal(colorOf(600), 'orange');
    assert.equal(colorOf(120), 'red');
  });
});

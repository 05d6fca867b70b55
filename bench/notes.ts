import { median } from './load';
import { medianOf, type ReportInput } from './report';
import type { TargetName, TargetResult } from './scenarios';

/**
 * The explanations under the tables. Every sentence is built from the
 * measured numbers of this run, so the text cannot drift from the table.
 */
export function notesFor(input: ReportInput): string[] {
  const { results, cfg, references } = input;
  const notes: string[] = [];
  const m = (t: TargetName, l: number, get: (r: TargetResult) => number | undefined) => medianOf(results, t, l, get);
  const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '—');
  const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '—');
  const f0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
  const lats = cfg.latencies;
  const hi = lats.includes(2) ? 2 : lats[lats.length - 1]!;
  const lo = lats.includes(0) ? 0 : lats[0]!;
  const hasGo = results.some((r) => r.target === 'go');
  const hasFloor = results.some((r) => r.target === 'floor');
  const ref = (server: 'grpc-js' | 'grpc-go', k: 'p50' | 'p99' | 'startupMs' | 'idleRssMb') => median(references.filter((r) => r.server === server).map((r) => r[k]));

  // Status: served from memory, so it measures the gRPC hop.
  const jsP50 = ref('grpc-js', 'p50');
  const jsP99 = ref('grpc-js', 'p99');
  const goP99 = ref('grpc-go', 'p99');
  const stP50 = m('plugin', lo, (r) => r.seq.status.p50);
  const stP99 = m('plugin', lo, (r) => r.seq.status.p99);
  if (Number.isFinite(jsP50)) {
    notes.push(
      `**Status** is answered from memory (${f2(m('plugin', lo, (r) => r.seq.status.vaultPerOp))} Vault requests per call at every latency), so its latency is the cost of one gRPC round trip: ` +
        `p50 ${f3(stP50)} / p99 ${f3(stP99)} ms against ${f3(jsP50)} / ${f3(jsP99)} ms for a grpc-js server that answers a constant` +
        (Number.isFinite(goP99) ? ` (grpc-go: ${f3(ref('grpc-go', 'p50'))} / ${f3(goP99)} ms)` : '') +
        '. ' +
        (stP99 >= 1 && Math.min(jsP99, Number.isFinite(goP99) ? goP99 : Infinity) >= 1
          ? 'The 1 ms p99 target is missed because on this machine even an empty gRPC server has a p99 above 1 ms (scheduling of the processes on the shared CPUs)' +
            (stP99 <= jsP99 * 1.25 ? '; the plugin adds nothing measurable to the grpc-js hop, and Vault latency does not move it.' : `; the plugin adds ${f3(stP99 - jsP99)} ms to the grpc-js hop at p99.`)
          : stP99 >= 1
            ? 'The p99 is above 1 ms while an empty grpc-js server stays below it: the difference is the plugin\'s own per-call work and garbage collection in a process that has just served the Encrypt and Decrypt phases (the empty server allocates almost nothing).'
            : 'That is within the 1 ms p99 target.'),
    );
  }

  // Decrypt vs floor.
  if (hasFloor) {
    const parts: string[] = [];
    const rests: string[] = [];
    for (const l of lats) {
      const p = m('plugin', l, (r) => r.seq.decrypt.p50);
      const f = m('floor', l, (r) => r.seq.decrypt.p50);
      const g = m('go', l, (r) => r.seq.decrypt.p50);
      if (!Number.isFinite(p) || !Number.isFinite(f)) continue;
      parts.push(`at ${l} ms floor ${f3(f)}, plugin ${f3(p)} (+${f3(p - f)})` + (hasGo ? `, Go plugin model ${f3(g)} (+${f3(g - f)})` : ''));
      rests.push(
        `${f3(p - f - jsP50)} ms at ${l} ms` + (hasGo && Number.isFinite(ref('grpc-go', 'p50')) ? ` (Go model after its grpc-go hop: ${f3(g - f - ref('grpc-go', 'p50'))} ms)` : ''),
      );
    }
    const worst = Math.max(...lats.map((l) => m('plugin', l, (r) => r.seq.decrypt.p50) - m('floor', l, (r) => r.seq.decrypt.p50)));
    if (parts.length > 0) {
      notes.push(
        `**Decrypt p50** (ms): ${parts.join('; ')}. The floor is one HTTP request from the bench process; a plugin adds a gRPC round trip ` +
          (Number.isFinite(jsP50) ? `(${f3(jsP50)} ms p50 for an empty grpc-js server here, see the reference table) ` : '') +
          'and a second process that must be woken twice per call. ' +
          (worst <= 0.3
            ? 'Within the 0.3 ms target.'
            : Number.isFinite(jsP50) && jsP50 >= 0.3
              ? 'The 0.3 ms target is smaller than the gRPC hop alone here, so it is missed by construction on this machine.'
              : `What remains after the hop is the plugin's own per-call work (gRPC handler, deadline and cancellation wiring, the undici request to Vault, JSON parsing and validation) and the extra wake-ups: ${rests.join('; ')}.`),
      );
    }
  }

  // v2 storm request count.
  const v2Counts = lats
    .map((l) => ({ l, req: m('plugin', l, (r) => r.v2Storm.vaultRequests), batches: m('plugin', l, (r) => r.v2Storm.vaultStats['transit.decrypt.batch'] ?? 0) }))
    .filter((x) => Number.isFinite(x.req));
  if (v2Counts.length > 0) {
    const over = v2Counts.some((x) => x.req > cfg.v2StormDistinct);
    const list = v2Counts.map((x) => `${f0(x.req)} at ${x.l} ms (${f0(x.batches)} of them batches)`).join(', ');
    notes.push(
      over
        ? `**v2 storm Vault requests**: ${list} for ${f0(cfg.v2StormTotal)} Decrypts of ${cfg.v2StormDistinct} ciphertexts` +
            (hasGo ? ` (Go plugin model: ${f0(m('go', hi, (r) => r.v2Storm.vaultRequests))})` : '') +
            `, so more than the ${cfg.v2StormDistinct} distinct ciphertexts. The plugin's single-flight shares one Vault request only among identical Decrypts that are in flight ` +
            'at the same moment, and it deliberately keeps no plaintext once that request settles (src/domain/single-flight.ts). The benchmark keeps 200 Decrypts in flight in a closed loop, ' +
            'so a ciphertext whose request has just finished is asked for again at once and needs a new Vault request. Meeting "≤ distinct ciphertexts" needs the plugin to remember a result ' +
            'for a short while after its request settles. (kube-apiserver itself caches a DEK once a Decrypt returns, so in a real cold start the repeats come only from concurrent misses.)'
        : `**v2 storm Vault requests**: ${list} for ${cfg.v2StormDistinct} distinct ciphertexts: identical Decrypts share one Vault request.`,
    );
  }

  // Storm wall time: what bounds it.
  if (hasGo) {
    const v2p = m('plugin', hi, (r) => r.v2Storm.wallMs);
    const v2g = m('go', hi, (r) => r.v2Storm.wallMs);
    const v1p = m('plugin', hi, (r) => r.v1Storm.wallMs);
    const v1g = m('go', hi, (r) => r.v1Storm.wallMs);
    const v2f = m('floor', hi, (r) => r.v2Storm.wallMs);
    const cpuP = m('plugin', hi, (r) => r.v1Storm.cpuPerOp.kms);
    const cpuG = m('go', hi, (r) => r.v1Storm.cpuPerOp.kms);
    const cli2 = m('plugin', hi, (r) => r.v2Storm.cpuPerOp.client);
    const cli1 = m('plugin', hi, (r) => r.v1Storm.cpuPerOp.client);
    const vaultG = m('go', hi, (r) => r.v1Storm.cpuPerOp.vault);
    const vaultP = m('plugin', hi, (r) => r.v1Storm.cpuPerOp.vault);
    const floor2 = cfg.v2StormTotal * cli2;
    const cpuTotal2 =
      cfg.v2StormTotal * (m('plugin', hi, (r) => r.v2Storm.cpuPerOp.kms) + m('plugin', hi, (r) => r.v2Storm.cpuPerOp.vault) + cli2);
    const floor1 = cfg.v1StormTotal * cli1;
    notes.push(
      `**Storm wall times at ${hi} ms** (v2: plugin ${f0(v2p)} ms vs Go plugin model ${f0(v2g)} ms; v1: ${f0(v1p)} ms vs ${f0(v1g)} ms) are bound by CPU, not by Vault. ` +
        `The Vault test server adds its ${hi} ms as a timer per request and answers hundreds of concurrent requests in parallel` +
        (Number.isFinite(v2f) ? ` (the floor sends all ${f0(cfg.v2StormTotal)} Decrypts straight to it in ${f0(v2f)} ms)` : '') +
        `, so the Go model's one request per Decrypt costs it little wall time. Per v1 Decrypt the plugin process used ${f3(cpuP)} ms CPU, the Go model ${f3(cpuG)} ms; ` +
        `the Vault server ${f3(vaultP)} ms behind the plugin (batched) and ${f3(vaultG)} ms behind the Go model (one request each); the load generator ${f3(cli1)} ms. ` +
        `All of it shares ${input.machine.nproc} CPUs: for the v2 storm the three processes used ${f0(cpuTotal2)} ms of CPU in all, at least ${f0(cpuTotal2 / input.machine.nproc)} ms of wall time on ${input.machine.nproc} CPUs, ` +
        `so the run was CPU-saturated. The load generator is a single event loop, so no target can finish these storms faster than about ` +
        `${f0(floor2)} ms (v2) and ${f0(floor1)} ms (v1) here; against the Go model's times that caps any plugin at about ${f2(v2g / floor2)}× (v2) and ${f2(v1g / floor1)}× (v1) on this machine, ` +
        'below the ≥10× / ≥5× targets, which presuppose a Vault whose per-request cost dominates (a real Vault spends far more CPU and I/O per Transit request than this test server, ' +
        'and that is where the plugin\'s cut in Vault requests, shown in the table, pays off).',
    );
  }

  // Memory and start-up.
  const idle = m('plugin', lo, (r) => r.idleRssMb);
  const idleGo = m('go', lo, (r) => r.idleRssMb);
  const peak = m('plugin', lo, (r) => r.peakRssMb);
  if (Number.isFinite(idle)) {
    notes.push(
      `**Memory**: idle RSS ${f2(idle)} MiB (${f2(idle * 1.048576)} MB)` +
        (hasGo ? ` against ${f2(idleGo)} MiB for the Go plugin model` : '') +
        `; of the idle figure ${f2(m('plugin', lo, (r) => r.idleAnonMb))} MiB is anonymous memory (heaps) and ${f2(m('plugin', lo, (r) => r.idleFileMb))} MiB file-backed pages of the executable ` +
        (input.pluginDescription.includes('artifact')
          ? '(the single-executable artifact is a copy of the node binary with the bundle embedded; those pages are shared and reclaimable)'
          : '(the node binary and libraries; shared and reclaimable)') +
        `; peak ${f2(peak)} MiB under the storms and the sustained load.` +
        (hasGo ? ' The Go model\'s memory and start-up are a lower estimate for the real Go binary, which links more (vault/api, the other auth methods).' : '') +
        (Number.isFinite(ref('grpc-js', 'idleRssMb'))
          ? ` A bare Node.js process with only grpc-js loaded (the reference server, run by the node binary) already holds ${f2(ref('grpc-js', 'idleRssMb'))} MiB; the rest is the plugin's code, its dependencies (undici, winston, prom-client, zod, yargs, tsyringe) and, for the artifact, the single-executable packaging.`
          : ''),
    );
  }
  const start = m('plugin', lo, (r) => (r.startupMs ? median([...r.startupMs]) : undefined));
  if (Number.isFinite(start)) {
    notes.push(
      `**Start-up**: ${f0(start)} ms from spawn to the socket file` +
        (hasGo ? ` (Go plugin model: ${f0(m('go', lo, (r) => (r.startupMs ? median([...r.startupMs]) : undefined)))} ms, which includes its lookup-self to Vault)` : '') +
        (Number.isFinite(ref('grpc-js', 'startupMs'))
          ? `; a bare Node.js process that only loads grpc-js and binds a socket needs ${f0(ref('grpc-js', 'startupMs'))} ms, so most of the rest is loading and compiling the plugin's JavaScript.`
          : '.'),
    );
  }
  return notes;
}

import type { ChaosResult } from './chaos';

/** The per-fault table (Markdown), one row per fault and plugin, in run order. */
export function faultTable(r: ChaosResult): string {
  const rows = [
    '| plugin | fault | at (s) | fault lasted (s) | failed writes | failed reads | first success (s) | recovered (s) | plugin restarts |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const f of r.faults)
    rows.push(
      `| ${f.plugin === 'ours' ? 'ours' : 'Go v1.4.0'} | ${f.fault} | ${f.at} | ${f.faultSeconds} | ${f.failedWrites} of ${f.writes} | ${f.failedReads} of ${f.reads} | ` +
        `${f.firstSuccessSeconds ?? '–'} | ${f.recovered ? f.recoverySeconds : 'not'} | ${f.pluginRestarts} |`,
    );
  return rows.join('\n');
}

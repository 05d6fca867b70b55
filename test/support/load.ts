import { status } from '@grpc/grpc-js';
import type { KmsTestClient } from './kms-client';

export interface LoadReport {
  ok: number;
  byCode: Record<number, number>;
  /** Answers that came later than deadline + slack. */
  late: number;
  /** Decrypts that returned different bytes than were encrypted. */
  corrupted: number;
}

/**
 * Encrypt→Decrypt round trips from `workers` loops until stop() is called.
 * Bounded: each loop runs at most maxIterations. Records every outcome.
 */
export function runLoad(client: KmsTestClient, opts: { workers: number; deadlineMs: number; maxIterations?: number }) {
  const report: LoadReport = { ok: 0, byCode: {}, late: 0, corrupted: 0 };
  let stopped = false;
  const timed = async <T>(p: () => Promise<T>): Promise<T | undefined> => {
    const t0 = Date.now();
    try {
      return await p();
    } catch (e) {
      const code = (e as { code?: number }).code ?? -1;
      report.byCode[code] = (report.byCode[code] ?? 0) + 1;
      return undefined;
    } finally {
      if (Date.now() - t0 > opts.deadlineMs + 500) report.late++;
    }
  };
  const worker = async (w: number) => {
    for (let i = 0; i < (opts.maxIterations ?? 100_000) && !stopped; i++) {
      const plain = Buffer.from(`load-${w}-${i}`);
      const enc = await timed(() => client.encrypt(plain, `uid-${w}-${i}`, opts.deadlineMs));
      if (!enc) continue;
      const dec = await timed(() => client.decrypt(enc.ciphertext, enc.key_id, {}, opts.deadlineMs));
      if (!dec) continue;
      if (!dec.plaintext.equals(plain)) report.corrupted++;
      else report.ok++;
    }
  };
  const done = Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
  return {
    report,
    stop: async () => {
      stopped = true;
      await done;
      return report;
    },
  };
}

export const UNAVAILABLE_OR_DEADLINE = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

/**
 * The load generator: a closed loop with a fixed number of operations in
 * flight, bounded by an operation count and (optionally) a duration. The
 * same code drives every target; only the operation function differs.
 */
export interface LoopOptions {
  readonly concurrency: number;
  /** Hard upper bound on operations started. */
  readonly maxOps: number;
  /** Stop starting new operations after this long (ms). */
  readonly durationMs?: number;
  /** Operation i; throwing (or rejecting) counts as an error. */
  readonly op: (i: number) => Promise<unknown>;
  /** Operation class of i (for per-class latencies), 0..255. */
  readonly kindOf?: (i: number) => number;
}

export interface LoopResult {
  readonly count: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly wallMs: number;
  /** Latency of operation i in ms (index = operation number). */
  readonly latMs: Float64Array;
  readonly kinds: Uint8Array;
}

export async function closedLoop(o: LoopOptions): Promise<LoopResult> {
  const latMs = new Float64Array(o.maxOps);
  const kinds = new Uint8Array(o.maxOps);
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = process.hrtime.bigint();
  const stopAt = o.durationMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + o.durationMs;
  const worker = async () => {
    while (next < o.maxOps && performance.now() < stopAt) {
      const i = next++;
      if (o.kindOf) kinds[i] = o.kindOf(i);
      const t0 = process.hrtime.bigint();
      try {
        await o.op(i);
      } catch (e) {
        errors++;
        firstError ??= describe(e);
      }
      latMs[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { count: next, errors, firstError, wallMs, latMs: latMs.subarray(0, next), kinds: kinds.subarray(0, next) };
}

function describe(e: unknown): string {
  const err = e as { code?: number; details?: string; message?: string };
  return (err.details ?? err.message ?? String(e)).slice(0, 300) + (err.code !== undefined ? ` (grpc code ${err.code})` : '');
}

export interface LatencySummary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  readonly max: number;
}

/** Nearest-rank percentiles. */
export function summarize(lat: Float64Array | number[]): LatencySummary {
  const s = Float64Array.from(lat).sort();
  if (s.length === 0) return { n: 0, p50: NaN, p99: NaN, mean: NaN, max: NaN };
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, p50: rank(0.5), p99: rank(0.99), mean: sum / s.length, max: s[s.length - 1]! };
}

export function select(lat: Float64Array, kinds: Uint8Array, kind: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < lat.length; i++) if (kinds[i] === kind) out.push(lat[i]!);
  return out;
}

/** Small deterministic PRNG (mulberry32), so every target gets the same operation sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

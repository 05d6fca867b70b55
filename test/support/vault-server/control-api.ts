/**
 * The /_test/* control API (no auth, plain JSON, never counted in stats):
 * how out-of-process users (Go harness, benchmarks, e2e scripts) drive the
 * emulator. README.md documents every route.
 */
import { z } from 'zod';
import type { Reply } from './envelope';
import { FaultRuleError } from './faults';
import type { VaultState } from './vault-state';

const latencyBody = z.object({ ms: z.number().int().nonnegative() });
const faultsBody = z.object({ rules: z.array(z.unknown()) });
const clockBody = z.object({ advanceSeconds: z.number().optional(), freeze: z.boolean().optional() });
const lockBody = z.object({ locked: z.boolean() });

function json(status: number, value: unknown): Reply {
  return { status, body: JSON.stringify(value) + '\n' };
}

function badControlRequest(message: string): Reply {
  return json(400, { error: message });
}

function parseJson(rawBody: string): unknown {
  if (rawBody.trim() === '') return {};
  return JSON.parse(rawBody);
}

function validated<T>(schema: z.ZodType<T>, rawBody: string): { ok: true; value: T } | { ok: false; reply: Reply } {
  let raw: unknown;
  try {
    raw = parseJson(rawBody);
  } catch (err) {
    return { ok: false, reply: badControlRequest(`invalid JSON: ${(err as Error).message}`) };
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    return { ok: false, reply: badControlRequest(detail) };
  }
  return { ok: true, value: result.data };
}

function clockState(state: VaultState): Record<string, unknown> {
  return { ok: true, now: state.clock.nowSeconds(), frozen: state.clock.frozen };
}

/** `route` is the path after /_test/ (e.g. "stats/reset"). */
export function handleControl(state: VaultState, method: string, route: string, rawBody: string): Reply {
  const key = `${method} ${route.replace(/\/+$/, '')}`;
  switch (key) {
    case 'POST reset':
      return json(200, { ok: true, ...state.reset() });
    case 'GET credentials':
      return json(200, state.credentials);
    case 'GET stats':
      return json(200, state.stats.snapshot());
    case 'POST stats/reset':
      state.stats.reset();
      return json(200, { ok: true });
    case 'POST seal':
      state.seal();
      return json(200, { ok: true, sealed: true });
    case 'POST unseal':
      state.unseal();
      return json(200, { ok: true, sealed: false });
    case 'POST latency': {
      const body = validated(latencyBody, rawBody);
      if (!body.ok) return body.reply;
      state.latencyMs = body.value.ms;
      return json(200, { ok: true, ms: state.latencyMs });
    }
    case 'GET faults':
      return json(200, { rules: state.faults.list() });
    case 'POST faults': {
      const body = validated(faultsBody, rawBody);
      if (!body.ok) return body.reply;
      try {
        state.faults.add(body.value.rules);
      } catch (err) {
        if (err instanceof FaultRuleError) return badControlRequest(err.message);
        throw err;
      }
      return json(200, { ok: true, active: state.faults.size });
    }
    case 'DELETE faults':
      state.faults.clear();
      return json(200, { ok: true, active: 0 });
    case 'GET clock':
      return json(200, clockState(state));
    case 'POST clock': {
      const body = validated(clockBody, rawBody);
      if (!body.ok) return body.reply;
      if (body.value.freeze === true) state.clock.freeze();
      if (body.value.freeze === false) state.clock.unfreeze();
      if (body.value.advanceSeconds !== undefined) state.clock.advance(body.value.advanceSeconds);
      return json(200, clockState(state));
    }
    case 'POST approle/lock': {
      const body = validated(lockBody, rawBody);
      if (!body.ok) return body.reply;
      state.approle.locked = body.value.locked;
      return json(200, { ok: true, locked: state.approle.locked });
    }
    default:
      return json(404, { error: `unknown control route ${key}` });
  }
}

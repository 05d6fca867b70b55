import type { Dispatcher } from 'undici';
import { abortReason, onAbort, type CallContext } from '../../ports/call-context';
import { KmsError } from '../../ports/errors';

interface HttpExchange {
  readonly origin: string;
  readonly path: string;
  readonly method: Dispatcher.HttpMethod;
  /** Flat [name, value, name, value, ...] list, lower-case names. */
  readonly headers: readonly string[];
  readonly body: string | undefined;
  /** The answer's body is refused (and the connection dropped) once it grows past this many bytes. */
  readonly maxBodyBytes: number;
}

interface HttpAnswer {
  readonly statusCode: number;
  /** The Location and Retry-After headers: the only ones the Vault client reads. */
  readonly location: string | undefined;
  readonly retryAfter: string | undefined;
  /** The whole body as UTF-8 text. */
  readonly text: string;
}

/**
 * Sends one HTTP request with undici's `dispatcher.request()` and collects its
 * body into one buffer. undici's headers/body timeouts are off: the caller's
 * deadline and VAULT_CLIENT_TIMEOUT bound every request through `ctx`, whose
 * abort settles the exchange at once with the context's reason (on Node 20,
 * undici's request() can stay pending after an abort when the server closes
 * the connection at once).
 */
export async function exchange(dispatcher: Dispatcher, req: HttpExchange, ctx: CallContext): Promise<HttpAnswer> {
  if (ctx.signal.aborted) throw abortReason(ctx);
  let stopListening = () => {};
  const aborted = new Promise<never>((_resolve, reject) => {
    stopListening = onAbort(ctx, () => reject(abortReason(ctx)));
  });
  const work = (async (): Promise<HttpAnswer> => {
    const res = await dispatcher.request({
      origin: req.origin,
      path: req.path,
      method: req.method,
      headers: req.headers as string[],
      body: req.body ?? null,
      signal: ctx.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += (chunk as Buffer).length;
      if (total > req.maxBodyBytes) {
        res.body.destroy();
        throw new KmsError('internal', `Vault's answer is larger than ${req.maxBodyBytes} bytes; refusing to read it (a broken or hostile server, or something between)`);
      }
      chunks.push(chunk as Buffer);
    }
    return { statusCode: res.statusCode, location: firstOf(res.headers.location), retryAfter: firstOf(res.headers['retry-after']), text: Buffer.concat(chunks, total).toString('utf8') };
  })();
  try {
    return await Promise.race([work, aborted]);
  } finally {
    stopListening();
    work.catch(() => {}); // settled by the abort: undici's own rejection is of no interest
  }
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

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
 * Sends one HTTP request on an undici Dispatcher and collects its body into
 * one buffer. This is undici's raw dispatch interface: no Request/Response
 * objects, no body stream, no AbortSignal and no per-request timers (undici's
 * headers/body timeouts are off: the caller's deadline and VAULT_CLIENT_TIMEOUT
 * bound every request through `ctx`, which rejects with the context's abort
 * reason). About 100 µs of CPU less per request than `dispatcher.request()`
 * with a streamed body.
 */
export function exchange(dispatcher: Dispatcher, req: HttpExchange, ctx: CallContext): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    let abortRequest: ((err?: Error) => void) | undefined;
    let settled = false;
    let statusCode = 0;
    let location: string | undefined;
    let retryAfter: string | undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      stopListening();
      reject(err);
    };
    const stopListening = onAbort(ctx, () => {
      const err = abortReason(ctx);
      if (abortRequest) abortRequest(err);
      fail(err);
    });
    if (ctx.signal.aborted) {
      fail(abortReason(ctx));
      return;
    }
    const handler: Dispatcher.DispatchHandlers = {
      onConnect(abort) {
        if (settled) abort(new Error('request abandoned'));
        else abortRequest = abort;
      },
      onHeaders(status, rawHeaders) {
        statusCode = status;
        for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!;
          // Only two names matter; compare lengths first so most headers cost no string conversion.
          if (name.length === 8 && name.toString('latin1').toLowerCase() === 'location') location = rawHeaders[i + 1]!.toString('latin1');
          else if (name.length === 11 && name.toString('latin1').toLowerCase() === 'retry-after') retryAfter = rawHeaders[i + 1]!.toString('latin1');
        }
        return true;
      },
      onData(chunk) {
        total += chunk.length;
        if (total > req.maxBodyBytes) {
          const err = new KmsError('internal', `Vault's answer is larger than ${req.maxBodyBytes} bytes; refusing to read it (a broken or hostile server, or something between)`);
          abortRequest?.(err);
          fail(err);
          return false;
        }
        chunks.push(chunk);
        return true;
      },
      onComplete() {
        if (settled) return;
        settled = true;
        stopListening();
        const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, total).toString('utf8');
        resolve({ statusCode, location, retryAfter, text });
      },
      onError(err) {
        fail(err);
      },
    };
    dispatcher.dispatch(
      { origin: req.origin, path: req.path, method: req.method, headers: req.headers as string[], body: req.body ?? null, headersTimeout: 0, bodyTimeout: 0 },
      handler,
    );
  });
}

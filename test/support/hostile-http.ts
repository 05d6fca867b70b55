import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A deliberately hostile HTTP server for attacks a real Vault cannot be made
 * to perform (a 1 GB answer, a redirect to another origin). It records every
 * request it receives, headers and body, so a test can prove what a secret
 * was, or was not, sent to.
 */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export type HostileHandler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export class HostileHttpServer {
  readonly requests: RecordedRequest[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly handler: HostileHandler) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        this.handler(req, res, body);
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/**
 * Streams up to `totalBytes` of a never-ending JSON string, honouring
 * backpressure; resolves with the bytes actually written when the client goes
 * away or everything was sent.
 */
export function streamHugeBody(res: ServerResponse, totalBytes: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 'A');
  let sent = 0;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"data":{"x":"');
  return new Promise((resolve) => {
    const finish = () => resolve(sent);
    res.once('close', finish);
    const pump = () => {
      while (sent < totalBytes && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end('"}}');
    };
    pump();
  });
}

import 'reflect-metadata';
import { strict as assert } from 'node:assert';
import { connect as connectHttp2 } from 'node:http2';
import { connect as connectNet } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { KmsGrpcServer, STREAM_WINDOW_BYTES } from '../../src/adapters/grpc/grpc-server';
import { MemoryLogger } from '../support/fakes';
import { tempSocketDir } from '../support/plugin-process';

/**
 * The 16 KiB HTTP/2 stream window is set through a field grpc-js does not publish
 * (grpc-server.ts, setStreamWindow). This pins it: an upgrade of grpc-js that moves
 * the field makes the window Node's default again, and this test fails instead of
 * the in-flight memory bound quietly growing.
 */
test('the gRPC server announces the 16 KiB stream window to its clients (pins the private grpc-js field)', async () => {
  const log = new MemoryLogger();
  const socket = join(tempSocketDir(), 'kms.socket');
  const server = new KmsGrpcServer({ socket: { path: socket, abstract: false }, socketMode: 0o600, forceOverwrite: false }, log);
  await server.start();
  const session = connectHttp2('http://localhost', { createConnection: () => connectNet(socket) });
  try {
    const settings = await new Promise<{ initialWindowSize?: number }>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    assert.equal(settings.initialWindowSize, STREAM_WINDOW_BYTES);
    assert.equal(log.lines.filter((l) => l.message.includes('stream window')).length, 0, 'no warning that the window could not be set');
  } finally {
    session.destroy();
    await server.stop(1000);
  }
});

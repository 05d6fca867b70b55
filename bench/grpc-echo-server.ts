/**
 * Reference for the benchmark, not a model of anything: a grpc-js server on a
 * unix socket whose KMS v2 Status answers a constant from memory (no Vault, no
 * logging, no metrics). It measures what one grpc-js round trip costs on the
 * machine; bench/go-upstream-model/echo is the same for grpc-go.
 *
 *   node dist/bench/grpc-echo-server.js <socket path>
 */
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { encodeMessage } from './kms-wire';

const identity = (b: Buffer): Buffer => b;
const STATUS = encodeMessage([[1, 'v2'], [2, 'ok'], [3, '1']]);

const service = {
  Status: {
    path: '/v2.KeyManagementService/Status',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as unknown as ServiceDefinition;

const impl: UntypedServiceImplementation = {
  Status: (_call: unknown, callback: (err: null, res: Buffer) => void) => callback(null, STATUS),
};

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: grpc-echo-server.js <socket path>\n');
  process.exit(2);
}
const server = new Server();
server.addService(service, impl);
server.bindAsync(`unix:${path}`, ServerCredentials.createInsecure(), (err) => {
  if (err) {
    process.stderr.write(`bind failed: ${err.message}\n`);
    process.exit(1);
  }
});
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

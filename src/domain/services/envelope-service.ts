import { inject, injectable } from 'tsyringe';
import type { ClockPort } from '../../ports/clock.port';
import type { DecryptInput, EncryptResult, KmsServicePort, StatusResult } from '../../ports/kms-service.port';
import type { MetricsPort } from '../../ports/metrics.port';
import { TOKENS } from '../../ports/tokens';
import type { TransitPort } from '../../ports/transit.port';
import type { CallContext } from '../../ports/call-context';
import { KmsError, asKmsError } from '../../ports/errors';
import { KeyVersionTracker } from '../model/key-version-tracker';
import { LIMITS } from '../model/limits';
import { parseVaultCiphertext } from '../model/vault-ciphertext';
import { retryAfterRelogin, type TokenRejectionHandler } from './credentials';
import { HealthMonitor } from './health-monitor';
import { SingleFlight } from './coalescing-transit';

/**
 * The KMS envelope operations, transport-neutral: the v2 and v1 gRPC adapters
 * are thin translators over this. Encrypt costs exactly one backend request,
 * Status none.
 */
@injectable()
export class EnvelopeService implements KmsServicePort {
  private readonly decrypts: SingleFlight<Uint8Array>;

  constructor(
    @inject(TOKENS.Transit) private readonly transit: TransitPort,
    @inject(KeyVersionTracker) private readonly keys: KeyVersionTracker,
    @inject(HealthMonitor) private readonly health: HealthMonitor,
    @inject(TOKENS.Clock) private readonly clock: ClockPort,
    @inject(TOKENS.Metrics) metrics: MetricsPort,
    @inject(TOKENS.TokenRejectionHandler) private readonly tokens: TokenRejectionHandler,
  ) {
    this.decrypts = new SingleFlight<Uint8Array>(() => metrics.singleFlightHit());
  }

  async encrypt(plaintext: Uint8Array, ctx: CallContext): Promise<EncryptResult> {
    if (plaintext.length === 0) throw new KmsError('invalid-argument', 'plaintext is empty');
    if (plaintext.length > LIMITS.maxPlaintextBytes) {
      throw new KmsError('invalid-argument', `plaintext is ${plaintext.length} bytes, over the limit of ${LIMITS.maxPlaintextBytes}`);
    }
    // Pinned to the version Status reports: kube-apiserver requires Encrypt's key_id to equal
    // Status' key_id, so a rotation takes effect for both at once, when the background check sees it.
    const keyVersion = this.keys.current();
    const sealed = await this.withRelogin(() => this.transit.encrypt({ plaintext, keyVersion }, ctx));
    this.keys.observe(sealed.keyVersion, 'encrypt');
    return { ciphertext: Buffer.from(sealed.ciphertext, 'latin1'), keyId: String(sealed.keyVersion) };
  }

  async decrypt(input: DecryptInput, ctx: CallContext): Promise<Uint8Array> {
    validateKeyIdAndAnnotations(input);
    const parsed = parseVaultCiphertext(input.ciphertext, LIMITS.maxCiphertextBytes);
    // Identical concurrent Decrypts (a cold-start storm) share one backend request.
    return this.decrypts.run(parsed.text, ctx, (shared) => this.withRelogin(() => this.transit.decrypt(parsed.text, shared)));
  }

  async status(ctx: CallContext): Promise<StatusResult> {
    // Only until the first verdict: kube-apiserver primes its KMS state with one Status at start.
    if (!this.health.state.hasVerdict()) await this.health.waitForFirstVerdict(ctx.deadline - this.clock.now() - STATUS_ANSWER_MARGIN_MS);
    const snap = this.health.state.snapshot(this.clock.now());
    return { version: 'v2', healthz: snap.healthy ? 'ok' : snap.reason, keyId: this.keys.keyId() };
  }

  private withRelogin<T>(op: () => Promise<T>): Promise<T> {
    return retryAfterRelogin(this.tokens, op);
  }
}

/** Time kept back from the caller's deadline to send the Status answer. */
const STATUS_ANSWER_MARGIN_MS = 100;

function validateKeyIdAndAnnotations(input: DecryptInput): void {
  if (input.keyId !== undefined && Buffer.byteLength(input.keyId, 'utf8') > LIMITS.maxKeyIdBytes) {
    throw new KmsError('invalid-argument', `key_id is longer than ${LIMITS.maxKeyIdBytes} bytes`);
  }
  if (input.annotations) {
    let total = 0;
    for (const [k, v] of input.annotations) total += Buffer.byteLength(k, 'utf8') + v.length;
    if (total > LIMITS.maxAnnotationBytes) {
      throw new KmsError('invalid-argument', `annotations total ${total} bytes, over the limit of ${LIMITS.maxAnnotationBytes}`);
    }
  }
}

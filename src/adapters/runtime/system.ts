import { randomBytes } from 'node:crypto';
import type { ClockPort } from '../../ports/clock.port';
import type { RandomPort } from '../../ports/random.port';

export const SYSTEM_CLOCK: ClockPort = { now: () => Date.now() };

export const CRYPTO_RANDOM: RandomPort = { bytes: (n) => randomBytes(n) };

/** A backend whose key the operator may rotate at will (the -dev backend, on SIGUSR2). */
export interface KeyRotationPort {
  /** Makes a new key version the latest; returns its number. */
  rotate(): number;
}

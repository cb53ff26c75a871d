import { AhenkError } from '../../errors.ts';

export type PairingErrorCode =
  /** The scanned text is not a well-formed pairing code. */
  | 'INVALID_QR'
  /** The code's signature does not match the device it names. */
  | 'BAD_SIGNATURE'
  /** The challenge's time ran out. */
  | 'EXPIRED'
  /** The device that showed the code cannot be reached at any of its addresses. */
  | 'UNREACHABLE'
  /** No pending challenge has this nonce, or it was used already. */
  | 'UNKNOWN_CHALLENGE'
  /** The new device's proof of its key does not verify. */
  | 'BAD_PROOF'
  /** The authorizer refused the device (revoked key, another user's key). */
  | 'REFUSED'
  /** A message of the pairing protocol is malformed or out of bounds. */
  | 'PROTOCOL'
  /** This device already holds a different account with the same name or email. */
  | 'ACCOUNT_CONFLICT'
  /** The workflow was cancelled or its node stopped. */
  | 'CANCELLED'
  /** A short pairing code was typed wrong (a failed attempt). */
  | 'BAD_CODE'
  /** Too many wrong short codes: the pairing ended, show a new code. */
  | 'TOO_MANY_ATTEMPTS';

/** Every pairing failure; `code` tells them apart, the message says what to do. */
export class PairingError extends AhenkError {
  declare readonly code: PairingErrorCode;

  constructor(code: PairingErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'PairingError';
  }
}

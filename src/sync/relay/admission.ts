/**
 * Who the relay serves: the admitted device ids, the revoked ones, and the join token that admits
 * a device presenting it. Every change is written to the state file at once. The token never
 * reaches the log: refusals name the peer and its address, never what it sent.
 */
import { NodeConfigError } from '../node/errors.ts';
import type { AdmitAnswer } from './admit-protocol.ts';
import { ADMIT_ATTEMPTS_PER_ADDRESS, ADMIT_ATTEMPTS_TOTAL, ADMIT_ATTEMPT_WINDOW_MS, MAX_ADMITTED_PEERS, MAX_REVOKED_PEERS } from './constants.ts';
import { saveState, isPeerId, type AdmittedPeer, type RelayState } from './state.ts';
import { AttemptLimiter, generateJoinToken, isJoinTokenShaped, joinTokensEqual } from './token.ts';

export interface AdmissionHost {
  stateFile: string;
  log: (message: string) => void;
  now?: () => number;
}

export class Admission {
  readonly #host: AdmissionHost;
  readonly #state: RelayState;
  readonly #admitted: Map<string, AdmittedPeer>;
  readonly #revoked: Set<string>;
  readonly #limiter: AttemptLimiter;
  /** Join attempts refused (wrong or malformed token, too many attempts, revoked device). */
  refusedJoins = 0;

  constructor(state: RelayState, host: AdmissionHost) {
    this.#host = host;
    this.#state = state;
    this.#admitted = new Map(state.admitted.map((p) => [p.peerId, p]));
    this.#revoked = new Set(state.revoked);
    this.#limiter = new AttemptLimiter({ perAddress: ADMIT_ATTEMPTS_PER_ADDRESS, total: ADMIT_ATTEMPTS_TOTAL, windowMs: ADMIT_ATTEMPT_WINDOW_MS }, host.now);
  }

  get size(): number {
    return this.#admitted.size;
  }

  get joinToken(): string {
    return this.#state.joinToken;
  }

  has(peerId: string): boolean {
    return this.#admitted.has(peerId);
  }

  list(): AdmittedPeer[] {
    return [...this.#admitted.values()].map((p) => ({ ...p }));
  }

  /** Admits a device by the operator's word; also lifts an earlier revocation. False when it already was. */
  admit(peerId: string, how = ''): boolean {
    if (!isPeerId(peerId)) throw new NodeConfigError(`${JSON.stringify(peerId)} is not a peer id`);
    if (this.#admitted.has(peerId)) return false;
    if (this.#admitted.size >= MAX_ADMITTED_PEERS) throw new NodeConfigError(`the relay admits at most ${MAX_ADMITTED_PEERS} devices`);
    this.#admitted.set(peerId, { peerId, admittedAt: (this.#host.now ?? Date.now)() });
    this.#revoked.delete(peerId);
    this.#save();
    this.#host.log(`admitted ${peerId}${how}`);
    return true;
  }

  /** Removes a device and remembers it as revoked, so the join token does not let it back. False when it was not admitted. */
  revoke(peerId: string): boolean {
    if (!isPeerId(peerId)) throw new NodeConfigError(`${JSON.stringify(peerId)} is not a peer id`);
    const was = this.#admitted.delete(peerId);
    this.#revoked.delete(peerId);
    this.#revoked.add(peerId);
    // Oldest revocations are forgotten first; the list stays bounded.
    for (const oldest of this.#revoked) {
      if (this.#revoked.size <= MAX_REVOKED_PEERS) break;
      this.#revoked.delete(oldest);
    }
    this.#save();
    this.#host.log(`revoked ${peerId}`);
    return was;
  }

  /** A new join token; the old one admits nobody from now on. Returned, never logged. */
  rotateJoinToken(): string {
    this.#state.joinToken = generateJoinToken();
    this.#save();
    this.#host.log('the join token was rotated');
    return this.#state.joinToken;
  }

  /**
   * Decides a join request from `peerId` (proved by Noise) connecting from `address`; `token` is
   * undefined when the request was malformed. Attempts are checked against the limiter before the
   * token is compared, and a failure counts against the address and the total.
   */
  decide(peerId: string, address: string, token: string | undefined): AdmitAnswer {
    if (this.#admitted.has(peerId)) return { status: 'ADMITTED', message: 'already admitted' };
    if (!this.#limiter.allowed(address)) {
      this.refusedJoins += 1;
      this.#host.log(`refused a join request from ${peerId} (${address}): too many wrong tokens, waiting`);
      return { status: 'RATE_LIMITED', message: 'too many wrong join tokens; try again later' };
    }
    if (token === undefined || !isJoinTokenShaped(token) || !joinTokensEqual(token, this.#state.joinToken)) {
      this.#limiter.failed(address);
      this.refusedJoins += 1;
      this.#host.log(`refused a join request from ${peerId} (${address}): ${token === undefined ? 'malformed request' : 'wrong token'}`);
      return token === undefined ? { status: 'BAD_REQUEST', message: 'malformed join request' } : { status: 'WRONG_TOKEN', message: 'wrong join token' };
    }
    if (this.#revoked.has(peerId)) {
      this.refusedJoins += 1;
      this.#host.log(`refused a join request from ${peerId} (${address}): revoked; only the operator can admit it again`);
      return { status: 'REVOKED', message: 'this device was revoked on this relay; ask its operator to admit it' };
    }
    if (this.#admitted.size >= MAX_ADMITTED_PEERS) {
      this.refusedJoins += 1;
      return { status: 'FULL', message: `the relay admits at most ${MAX_ADMITTED_PEERS} devices` };
    }
    this.admit(peerId, ' (join token)');
    return { status: 'ADMITTED', message: 'admitted' };
  }

  #save(): void {
    this.#state.admitted = [...this.#admitted.values()];
    this.#state.revoked = [...this.#revoked];
    saveState(this.#host.stateFile, this.#state);
  }
}

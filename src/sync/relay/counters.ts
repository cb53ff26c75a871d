/**
 * The relay's counters, fed by stream middleware on the circuit-relay protocols: every relayed
 * byte arrives as a message on a hop stream (from the device that opened the circuit) or on a
 * stop stream (from the device it reaches), so counting messages there counts what the relay
 * carried without touching its contents (Noise-encrypted end to end anyway).
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { RELAY_V2_HOP_CODEC, RELAY_V2_STOP_CODEC } from '@libp2p/circuit-relay-v2';

export interface RelayStats {
  /** Reservations held now. */
  reservations: number;
  /** Reservation requests granted since start (refreshes included). */
  reservationsGranted: number;
  /** Circuits open now. */
  circuits: number;
  /** Circuits opened since start. */
  circuitsTotal: number;
  /** Bytes relayed since start, both directions, protocol framing included. */
  bytesRelayed: number;
  /** Connections, reservations and circuits refused because a peer was not admitted. */
  refused: { connections: number; reservations: number; circuits: number };
  /** Devices admitted now. */
  admitted: number;
  /** Since start, in milliseconds. */
  uptimeMs: number;
}

export class RelayCounters {
  reservationsGranted = 0;
  circuits = 0;
  circuitsTotal = 0;
  bytesRelayed = 0;
  readonly refused = { connections: 0, reservations: 0, circuits: 0 };
  readonly #started = performance.now();

  /** Installs the counting middleware on `libp2p`'s relay protocols. */
  attach(libp2p: Libp2p): void {
    libp2p.use(RELAY_V2_HOP_CODEC, (stream, connection, next) => {
      this.#countBytes(stream);
      next(stream, connection);
    });
    libp2p.use(RELAY_V2_STOP_CODEC, (stream, connection, next) => {
      // The relay opens a stop stream to the destination for every circuit it makes.
      this.circuits += 1;
      this.circuitsTotal += 1;
      stream.addEventListener('close', () => (this.circuits -= 1), { once: true });
      this.#countBytes(stream);
      next(stream, connection);
    });
  }

  snapshot(reservations: number, admitted: number): RelayStats {
    return {
      reservations,
      reservationsGranted: this.reservationsGranted,
      circuits: this.circuits,
      circuitsTotal: this.circuitsTotal,
      bytesRelayed: this.bytesRelayed,
      refused: { ...this.refused },
      admitted,
      uptimeMs: Math.round(performance.now() - this.#started),
    };
  }

  #countBytes(stream: Stream): void {
    stream.addEventListener('message', (event) => (this.bytesRelayed += event.data.byteLength));
  }
}

/** One log line with every counter. */
export function formatRelayStats(stats: RelayStats): string {
  const { refused } = stats;
  return (
    `relay: ${stats.admitted} admitted, ${stats.reservations} reservations (${stats.reservationsGranted} granted), ` +
    `${stats.circuits} circuits open (${stats.circuitsTotal} in all), ${stats.bytesRelayed} bytes relayed, ` +
    `refused ${refused.connections} connections, ${refused.reservations} reservations, ${refused.circuits} circuits`
  );
}

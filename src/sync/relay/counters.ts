/**
 * The relay's counters, fed by libp2p's metrics hook (`trackProtocolStream`, called for every
 * stream once its protocol is negotiated; stream middleware in libp2p 3.3 is not usable: it
 * corrupts the handler chain). Every relayed
 * byte leaves the relay through `send` on a hop stream (towards the device that opened the
 * circuit) or on a stop stream (towards the device it reaches), so counting what is sent there
 * counts what the relay carried without reading it (Noise-encrypted end to end anyway).
 */
import type { Metrics, Stream } from '@libp2p/interface';
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
  /**
   * Connections, reservations and circuits refused because a peer was not admitted (connections:
   * strangers beyond the few allowed in to present the join token), and join requests refused.
   */
  refused: { connections: number; reservations: number; circuits: number; joins: number };
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

  /** A libp2p `metrics` implementation that feeds these counters and records nothing else. */
  metrics(): Metrics {
    const noop = (): void => {};
    const metric = { update: noop, increment: noop, decrement: noop, reset: noop, observe: noop, timer: () => noop };
    // A calculated metric (options.calculate) is registered without a return value.
    const register = (_name: string, options?: { calculate?: unknown }): typeof metric | undefined => (options?.calculate === undefined ? metric : undefined);
    const metrics = {
      trackMultiaddrConnection: noop,
      trackProtocolStream: (stream: Stream) => this.#track(stream),
      registerMetric: register,
      registerMetricGroup: register,
      registerCounter: register,
      registerCounterGroup: register,
      registerHistogram: register,
      registerHistogramGroup: register,
      registerSummary: register,
      registerSummaryGroup: register,
      traceFunction: <F>(_name: string, fn: F): F => fn,
      createTrace: () => undefined,
    };
    // The interface's overloads (a metric, or nothing for a calculated one) are met at run time.
    return metrics as unknown as Metrics;
  }

  #track(stream: Stream): void {
    if (stream.protocol === RELAY_V2_HOP_CODEC) this.#countBytes(stream);
    if (stream.protocol === RELAY_V2_STOP_CODEC && stream.direction === 'outbound') {
      // The relay opens a stop stream to the destination for every circuit it makes.
      this.circuits += 1;
      this.circuitsTotal += 1;
      stream.addEventListener('close', () => (this.circuits -= 1), { once: true });
      this.#countBytes(stream);
    }
  }

  snapshot(reservations: number, admitted: number, refusedJoins: number): RelayStats {
    return {
      reservations,
      reservationsGranted: this.reservationsGranted,
      circuits: this.circuits,
      circuitsTotal: this.circuitsTotal,
      bytesRelayed: this.bytesRelayed,
      refused: { ...this.refused, joins: refusedJoins },
      admitted,
      uptimeMs: Math.round(performance.now() - this.#started),
    };
  }

  #countBytes(stream: Stream): void {
    // Listening for 'message' would not do: a libp2p stream delivers data to the first listener
    // it has, before the relay's own reader attaches, and the circuit's first bytes would be lost.
    const send = stream.send.bind(stream);
    stream.send = (data) => {
      this.bytesRelayed += data.byteLength;
      return send(data);
    };
  }
}

/** One log line with every counter. */
export function formatRelayStats(stats: RelayStats): string {
  const { refused } = stats;
  return (
    `relay: ${stats.admitted} admitted, ${stats.reservations} reservations (${stats.reservationsGranted} granted), ` +
    `${stats.circuits} circuits open (${stats.circuitsTotal} in all), ${stats.bytesRelayed} bytes relayed, ` +
    `refused ${refused.connections} connections, ${refused.reservations} reservations, ${refused.circuits} circuits, ${refused.joins ?? 0} join requests`
  );
}

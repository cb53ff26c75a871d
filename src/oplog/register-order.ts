/**
 * The register order of the CRDT: a write is identified by the row's causal length when it was
 * made, its HLC stamp and its device. Higher causal length wins first (a re-insert overrides the
 * incarnation before it), then the stamp, then the device id, so every device picks the same winner.
 */
export interface CellClock {
  /** Causal length: small, validated as a safe integer. */
  cl: number;
  /** The HLC stamp as 16 lower-case hex digits: fixed width, so text order is numeric order. */
  hlc: string;
  device: string;
}

export function compareCellClocks(a: CellClock, b: CellClock): number {
  if (a.cl !== b.cl) return a.cl < b.cl ? -1 : 1;
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  return a.device < b.device ? -1 : a.device > b.device ? 1 : 0;
}

/**
 * Extra clock groups of a log row. A row that merge writes can hold cells stamped by several
 * writes (an insert and a later update, cells from two devices); its first group lives in the
 * row's own (hlc, site, cols) columns and the others in `more`, so one log row (and one index
 * entry) records the row whatever the number of stamps. Groups of one row share its causal
 * length and op, and their masks are disjoint. Triggers never write `more`; the fold writes it
 * when it joins a row's local entries into one log row (fold.ts): there the row's stamp is its seq
 * (hlc NULL), the groups are older local writes (site 0) and an insert's group has every bit but
 * the newer groups' columns, 62 and 63 included ("columns added later").
 *
 * Encoding: GROUP_BYTES per group, big-endian: stamp (u64), site (u32), column mask (u64).
 */
import { DatabaseError } from '../errors.ts';

export const GROUP_BYTES = 20;

export interface ClockGroup {
  /** The stamp as entries carry it: 16 lower-case hex digits. */
  hlc: string;
  site: number;
  mask: bigint;
}

const LOW_32 = 0xffffffffn;

export function encodeClockGroups(groups: readonly ClockGroup[]): Uint8Array {
  const out = new Uint8Array(groups.length * GROUP_BYTES);
  for (let i = 0; i < groups.length; i++) {
    const { hlc, site, mask } = groups[i]!;
    writeClockGroup(out, i * GROUP_BYTES, hlc, site, Number(mask >> 32n), Number(mask & LOW_32));
  }
  return out;
}

/** Value of a hex digit by character code (SQLite's hex() writes upper case, stamps lower case). */
const HEX_DIGIT = new Uint8Array(128);
for (let i = 0; i < 16; i++) {
  HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_DIGIT['0123456789ABCDEF'.charCodeAt(i)] = i;
}
/** Two lower-case hex digits by byte value. */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * Writes one group at `at`: the stamp straight from its hex text (a valid stamp: 16 lower-case hex
 * digits), the mask as its upper and lower 32 bits (merge's number masks pass 0 and the mask).
 * Byte by byte: this runs once per merged row, and parseInt or a hex decoder cost more.
 */
export function writeClockGroup(out: Uint8Array, at: number, hlc: string, site: number, maskHigh: number, maskLow: number): void {
  for (let i = 0; i < 8; i++) out[at + i] = (HEX_DIGIT[hlc.charCodeAt(2 * i)]! << 4) | HEX_DIGIT[hlc.charCodeAt(2 * i + 1)]!;
  writeU32(out, at + 8, site);
  writeU32(out, at + 12, maskHigh);
  writeU32(out, at + 16, maskLow);
}

function writeU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
}

export function decodeClockGroups(more: Uint8Array): ClockGroup[] {
  const view = viewOf(more);
  const groups: ClockGroup[] = [];
  for (let at = 0; at < more.length; at += GROUP_BYTES) {
    groups.push({ hlc: stampHex(more, at), site: view.getUint32(at + 8), mask: view.getBigUint64(at + 12) });
  }
  return groups;
}

/**
 * The export's view of the groups, without BigInts: the stamp as the 16 hex digits entries carry
 * and the mask split in two 31-bit halves (bits 0-30 and 31-61).
 */
export function forEachClockGroup(more: Uint8Array, visit: (hlc: string, site: number, lo: number, hi: number) => void): void {
  const view = viewOf(more);
  for (let at = 0; at < more.length; at += GROUP_BYTES) {
    const upper = view.getUint32(at + 12);
    const lower = view.getUint32(at + 16);
    visit(stampHex(more, at), view.getUint32(at + 8), lower & 0x7fffffff, ((upper << 1) | (lower >>> 31)) & 0x7fffffff);
  }
}

/** The bytes of SQLite's hex() text of a blob (an even number of hex digits, either case). */
export function bytesFromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = (HEX_DIGIT[hex.charCodeAt(2 * i)]! << 4) | HEX_DIGIT[hex.charCodeAt(2 * i + 1)]!;
  return out;
}

/** The 8-byte stamp at `at` as 16 lower-case hex digits. */
function stampHex(bytes: Uint8Array, at: number): string {
  let out = '';
  for (let i = at; i < at + 8; i++) out += HEX_BYTE[bytes[i]!]!;
  return out;
}

function viewOf(more: Uint8Array): DataView {
  if (more.length % GROUP_BYTES !== 0) throw new DatabaseError(`oplog clock groups of ${more.length} bytes are corrupt (not a multiple of ${GROUP_BYTES})`);
  return new DataView(more.buffer, more.byteOffset, more.byteLength);
}

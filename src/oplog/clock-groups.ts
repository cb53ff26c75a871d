/**
 * Extra clock groups of a log row. A row that merge writes can hold cells stamped by several
 * writes (an insert and a later update, cells from two devices); its first group lives in the
 * row's own (hlc, site, cols) columns and the others in `more`, so one log row (and one index
 * entry) records the row whatever the number of stamps. Groups of one row share its causal
 * length and op, and their masks are disjoint. Triggers never write `more`.
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

export function encodeClockGroups(groups: readonly ClockGroup[]): Buffer {
  const out = Buffer.allocUnsafe(groups.length * GROUP_BYTES);
  for (let i = 0; i < groups.length; i++) {
    const { hlc, site, mask } = groups[i]!;
    writeClockGroup(out, i * GROUP_BYTES, hlc, site, Number(mask >> 32n), Number(mask & LOW_32));
  }
  return out;
}

/** Value of a lower-case hex digit by character code. */
const HEX_DIGIT = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_DIGIT['0123456789abcdef'.charCodeAt(i)] = i;

/**
 * Writes one group at `at`: the stamp straight from its hex text (a valid stamp: 16 lower-case hex
 * digits), the mask as its upper and lower 32 bits (merge's number masks pass 0 and the mask).
 * Byte by byte: this runs once per merged row, and Buffer.write(hex) or parseInt cost more.
 */
export function writeClockGroup(out: Buffer, at: number, hlc: string, site: number, maskHigh: number, maskLow: number): void {
  for (let i = 0; i < 8; i++) out[at + i] = (HEX_DIGIT[hlc.charCodeAt(2 * i)]! << 4) | HEX_DIGIT[hlc.charCodeAt(2 * i + 1)]!;
  writeU32(out, at + 8, site);
  writeU32(out, at + 12, maskHigh);
  writeU32(out, at + 16, maskLow);
}

function writeU32(out: Buffer, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
}

export function decodeClockGroups(more: Uint8Array): ClockGroup[] {
  const bytes = asBuffer(more);
  const groups: ClockGroup[] = [];
  for (let at = 0; at < bytes.length; at += GROUP_BYTES) {
    groups.push({ hlc: bytes.toString('hex', at, at + 8), site: bytes.readUInt32BE(at + 8), mask: bytes.readBigUInt64BE(at + 12) });
  }
  return groups;
}

/**
 * The export's view of the groups, without BigInts: the stamp as the 16 hex digits entries carry
 * and the mask split in two 31-bit halves (bits 0-30 and 31-61).
 */
export function forEachClockGroup(more: Uint8Array, visit: (hlc: string, site: number, lo: number, hi: number) => void): void {
  const bytes = asBuffer(more);
  for (let at = 0; at < bytes.length; at += GROUP_BYTES) {
    const upper = bytes.readUInt32BE(at + 12);
    const lower = bytes.readUInt32BE(at + 16);
    visit(bytes.toString('hex', at, at + 8), bytes.readUInt32BE(at + 8), lower & 0x7fffffff, ((upper << 1) | (lower >>> 31)) & 0x7fffffff);
  }
}

function asBuffer(more: Uint8Array): Buffer {
  if (more.length % GROUP_BYTES !== 0) throw new DatabaseError(`oplog clock groups of ${more.length} bytes are corrupt (not a multiple of ${GROUP_BYTES})`);
  return Buffer.isBuffer(more) ? more : Buffer.from(more.buffer, more.byteOffset, more.byteLength);
}

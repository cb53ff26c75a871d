/**
 * How ahenk_oplog holds a row's key. A key is text (an integer key is stored as its text by the
 * column's TEXT affinity; a blob key is refused by the triggers, see capture/triggers.ts). In an
 * entry of the history index (ix = 0, log-index.ts), a key that is a canonical lower-case UUID
 * (8-4-4-4-12 lower-case hex digits, exactly 36 characters) is held as its 16 bytes instead: 20
 * bytes less in the log row and again in the index entry, for most rows of most apps.
 *
 * The rule, for every reader: a blob in `pk` is always a packed UUID (no other blob ever gets
 * there), and it stands for exactly one text, so a key that only looks like a UUID (upper case,
 * braces, no dashes) stays text and round-trips as it was.
 *
 * Everything else keeps the text: entries of the causal-length index (ix = 1: deletes and
 * re-inserted rows, few) and local writes not folded yet (ix NULL). So the triggers, which only
 * append and read the causal-length index, never pack a key: they need no function that an older
 * SQLite (the Debian 12 sqlite3 shell is 3.40; `unhex` came in 3.41) lacks. The fold packs, on
 * Ahenk's own connection, whose SQLite (3.41 or later in every adapter) has `unhex`.
 */
import { DatabaseError } from '../errors.ts';

/** Bytes of a packed key. */
export const PACKED_KEY_BYTES = 16;

/** By character code: 1 for a lower-case hex digit (merge checks every key it logs: no RegExp). */
const LOWER_HEX = new Uint8Array(128);
for (const c of '0123456789abcdef') LOWER_HEX[c.charCodeAt(0)] = 1;
const DASH = 45;

/** Whether `key` is a canonical lower-case UUID, the only text that is packed. */
export function isCanonicalUuid(key: string): boolean {
  if (key.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const code = key.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (code !== DASH) return false;
    } else if (code >= 128 || LOWER_HEX[code] === 0) return false;
  }
  return true;
}

/**
 * The two lists a lookup of `keys` in the history index binds (log-index.ts
 * overBothIndexesByKeys), as JSON: the canonical UUIDs as their 32 hex digits (SQL unhexes them),
 * every other key as it is. Done here rather than in SQL, where the pattern test per key cost more.
 */
export function historyKeyLists(keys: readonly string[]): { packed: string; text: string } {
  const packed: string[] = [];
  const text: string[] = [];
  for (const key of keys) {
    if (isCanonicalUuid(key)) packed.push(key.slice(0, 8) + key.slice(9, 13) + key.slice(14, 18) + key.slice(19, 23) + key.slice(24));
    else text.push(key);
  }
  return { packed: JSON.stringify(packed), text: JSON.stringify(text) };
}

/** GLOB is case-sensitive: 32 lower-case hex digits in the 8-4-4-4-12 form. */
const HEX = '[0-9a-f]';
const UUID_GLOB = [8, 4, 4, 4, 12].map((n) => HEX.repeat(n)).join('-');

/** SQL: the history index's form of the key `expr` (text in, packed blob or the same text out). */
export function packKeySql(expr: string): string {
  return `(CASE WHEN typeof(${expr}) = 'text' AND length(${expr}) = 36 AND ${expr} GLOB '${UUID_GLOB}' THEN unhex(replace(${expr}, '-', '')) ELSE ${expr} END)`;
}

/** SQL: the key's text, whichever form the log holds it in. */
export function keyTextSql(expr: string): string {
  return `(CASE WHEN typeof(${expr}) = 'blob' THEN lower(hex(substr(${expr}, 1, 4)) || '-' || hex(substr(${expr}, 5, 2)) || '-' || hex(substr(${expr}, 7, 2)) || '-' || hex(substr(${expr}, 9, 2)) || '-' || hex(substr(${expr}, 11, 6))) ELSE ${expr} END)`;
}

/** The form a log row of causal length `cl` holds `key` in: packed in the history index (cl 1), else text. */
export function logKeyOf(key: string, cl: number | bigint): string | Uint8Array {
  return cl > 1 ? key : packKey(key);
}

/** The key's packed form when it is a canonical UUID, else the text itself. */
export function packKey(key: string): string | Uint8Array {
  if (!isCanonicalUuid(key)) return key;
  const bytes = new Uint8Array(PACKED_KEY_BYTES);
  let at = 0;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) i++;
    bytes[at++] = (nibble(key.charCodeAt(i)) << 4) | nibble(key.charCodeAt(i + 1));
  }
  return bytes;
}

/** A key as the log holds it, back to its text. */
export function keyFromLog(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array && value.byteLength === PACKED_KEY_BYTES) return uuidOfBytes(value);
  // Neither the triggers nor merge ever log anything else: a log that holds it is not this format.
  throw new DatabaseError(`ahenk_oplog holds a key that is neither text nor a packed UUID (${value instanceof Uint8Array ? `${value.byteLength}-byte blob` : typeof value})`);
}

/**
 * The character codes of the UUID being made, hyphens in place: the key comes out as one flat
 * string (a hex string cut and joined again costs several strings a key, and the joined one is
 * copied again when it is first hashed or compared).
 */
const uuidCodes: number[] = Array.from('00000000-0000-0000-0000-000000000000', (c) => c.charCodeAt(0));
/** Where the i-th of a UUID's 32 hex digits goes in its 36-character form. */
const UUID_DIGIT_AT = Array.from({ length: 32 }, (_, i) => i + (i >= 8 ? 1 : 0) + (i >= 12 ? 1 : 0) + (i >= 16 ? 1 : 0) + (i >= 20 ? 1 : 0));
/** The character code of each lower-case hex digit. */
export const HEX_CODE = Uint8Array.from('0123456789abcdef', (digit) => digit.charCodeAt(0));

/** The hex of 32 packed digits (upper or lower case, as SQLite's hex() gives them) as a canonical UUID. */
export function uuidOfHex(hex: string): string {
  // `| 0x20` lowers A-F and leaves the digits as they are.
  for (let i = 0; i < 32; i++) uuidCodes[UUID_DIGIT_AT[i]!] = hex.charCodeAt(i) | 0x20;
  return String.fromCharCode.apply(null, uuidCodes);
}

/** The 16 bytes of `bytes` from `offset` (a packed key, or a key on the wire) as a canonical UUID. */
export function uuidOfBytes(bytes: Uint8Array, offset = 0): string {
  for (let i = 0; i < 16; i++) {
    const byte = bytes[offset + i]!;
    uuidCodes[UUID_DIGIT_AT[2 * i]!] = HEX_CODE[byte >> 4]!;
    uuidCodes[UUID_DIGIT_AT[2 * i + 1]!] = HEX_CODE[byte & 15]!;
  }
  return String.fromCharCode.apply(null, uuidCodes);
}

/** The value of a lower-case hex digit (only called on text the UUID pattern accepted). */
function nibble(code: number): number {
  return code <= 57 ? code - 48 : code - 87;
}

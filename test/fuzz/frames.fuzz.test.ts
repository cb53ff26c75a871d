/**
 * Fuzzing the wire (issue 12, item 10): valid frames of every message kind, flipped, truncated,
 * extended, spliced and chunked, and plain random bytes, go through FrameDecoder and decodeMessage.
 * Whatever comes in, the only failure is an AhenkError with a code, and no case hangs; a batch the
 * decoder marks as checked (merged without merge's own validation) passes that validation. A batch that
 * still decodes goes on to merge (test/fuzz/merge.fuzz.test.ts covers merge on its own).
 * Seeded; AHENK_FUZZ_RUNS=100000 for the long mode.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OplogEntry } from '../../src/index.ts';
import { decodeMessage, encodeFrame, encodeMessage, FrameDecoder, PROTOCOL_MAJOR, PROTOCOL_MINOR, type SyncMessage } from '../../src/sync/protocol/index.ts';
import { isDecodedEntries } from '../../src/sync/protocol/entries.ts';
import { checkedGroups, validateIndexedEntry } from '../../src/oplog/entry.ts';
import { fuzzRuns, heapUsed, refusedOrDone } from './helpers.ts';

const SENDER = '12D3KooWSender';
const hlc = (n: number) => n.toString(16).padStart(16, '0');
const entries: OplogEntry[] = [
  { table: 'todos', pk: crypto.randomUUID(), cl: 1, groups: [{ hlc: hlc(0x18c00000000), device: SENDER, values: { title: 'milk', done: 0n, score: 1.5, data: new Uint8Array([1, 2, 3]) } }] },
  { table: 'todos', pk: 'plain key', cl: 2, groups: [{ hlc: hlc(0x18c00000001), device: '12D3KooWOther', values: {} }] },
  { table: 'counters', pk: 'c', cl: 3, groups: [{ hlc: hlc(0x18c00000002), device: SENDER, values: { high: 7n } }, { hlc: hlc(0x18c00000003), device: 'x', values: { tags: '["a"]', note: null } }] },
];

/** One valid frame payload of each message kind. */
const SEEDS: Uint8Array[] = [
  encodeMessage({ type: 'hello', major: PROTOCOL_MAJOR, minor: PROTOCOL_MINOR, schemaVersion: 4, deviceId: SENDER, live: true, window: 16 }),
  encodeMessage({ type: 'have', cursor: '12345' }),
  encodeMessage({ type: 'batch', batch: 1, cursor: '99', remaining: 10, entries }, { sender: SENDER }),
  encodeMessage({ type: 'ack', batch: 7 }),
  encodeMessage({ type: 'caught-up' }),
  encodeMessage({ type: 'done' }),
  encodeMessage({ type: 'drift', aheadMs: 360_000, held: 3 }),
  encodeMessage({ type: 'error', code: 'PROTOCOL_INTERNAL', message: 'something' }),
];

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; keep: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'splice'; other: number; from: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x00, 0x7f, 0x80, 0xff, 0x01, 0x3f) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('splice' as const), other: fc.nat(SEEDS.length - 1), from: fc.nat() }),
);

function mutate(seed: Uint8Array, steps: readonly Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(seed);
  for (const step of steps) {
    const at = bytes.length === 0 ? 0 : ('at' in step ? step.at % bytes.length : 0);
    if (step.kind === 'flip' && bytes.length > 0) bytes[at] = bytes[at]! ^ step.xor;
    else if (step.kind === 'set' && bytes.length > 0) bytes[at] = step.byte;
    else if (step.kind === 'truncate') bytes = bytes.slice(0, step.keep % (bytes.length + 1));
    else if (step.kind === 'insert') bytes = Uint8Array.from([...bytes.slice(0, at), ...step.bytes, ...bytes.slice(at)]);
    else if (step.kind === 'splice') {
      const other = SEEDS[step.other]!;
      const cut = bytes.length === 0 ? 0 : step.from % bytes.length;
      bytes = Uint8Array.from([...bytes.slice(0, cut), ...other.slice(cut % Math.max(1, other.length))]);
    }
  }
  return bytes;
}

/** The frame's bytes in chunks at the given cut points, as a socket may deliver them. */
function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    if (p > last) chunks.push(bytes.subarray(last, p));
    last = Math.max(last, p);
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

describe('the frame decoder and decodeMessage under fuzzing', () => {
  it('every seed decodes as it is (the fuzzer starts from valid frames)', () => {
    for (const seed of SEEDS) expect(() => decodeMessage(seed, { sender: SENDER })).not.toThrow();
  });

  const runs = fuzzRuns(3000);
  it('mutated frames: decoded or refused with a typed error, never a crash or a hang', { timeout: Math.max(30_000, runs * 2) }, () => {
    const before = heapUsed();
    const seen = { decoded: 0, refused: 0, marked: 0, codes: new Map<string, number>() };
    fc.assert(
      fc.property(
        fc.nat(SEEDS.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        (seedIndex, steps, cuts, extensions) => {
          const payload = mutate(SEEDS[seedIndex]!, steps);
          let message: SyncMessage | undefined;
          const error = refusedOrDone(() => (message = decodeMessage(payload, { sender: SENDER, extensions })));
          // A batch the decoder marks as checked skips merge's own validation: it must pass it.
          if (message?.type === 'batch' && isDecodedEntries(message.entries)) {
            message.entries.forEach((entry, index) => expect(checkedGroups(entry, index)).toEqual(validateIndexedEntry(entry, index)));
            seen.marked++;
          }
          if (error) seen.codes.set(error.code, (seen.codes.get(error.code) ?? 0) + 1);
          if (error) seen.refused++;
          else seen.decoded++;
          // The same payload framed, and the framed bytes (mutated too) in chunks through the decoder.
          const framed = mutate(encodeFrame(payload.length > 0 ? payload : new Uint8Array([1])), steps.slice(0, 1));
          refusedOrDone(() => {
            const decoder = new FrameDecoder();
            for (const chunk of chunked(framed, cuts)) for (const frame of decoder.push(chunk)) decodeMessage(frame, { sender: SENDER, extensions });
            decoder.finish();
          });
        },
      ),
      { seed: 1205, numRuns: runs },
    );
    const grown = heapUsed() - before;
    console.log(`frames fuzzed: ${runs} cases, ${seen.decoded} decoded (${seen.marked} batches marked checked), ${seen.refused} refused (${[...seen.codes].map(([c, n]) => `${c} ${n}`).join(', ')}), heap ${(grown / 1e6).toFixed(1)} MB more`);
    // Mutations both survive and fail, or the fuzzer is not exploring.
    expect(seen.decoded).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.marked).toBeGreaterThan(0);
    expect(grown).toBeLessThan(256 * 1024 * 1024);
  });

  it('random bytes: decoded or refused with a typed error', { timeout: Math.max(30_000, runs * 2) }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
        refusedOrDone(() => decodeMessage(bytes, { sender: SENDER, extensions: true }));
        refusedOrDone(() => {
          const decoder = new FrameDecoder();
          for (const chunk of chunked(bytes, cuts)) for (const frame of decoder.push(chunk)) decodeMessage(frame);
          decoder.finish();
        });
      }),
      { seed: 1206, numRuns: runs },
    );
  });
});

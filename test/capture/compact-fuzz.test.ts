/**
 * Differential check of compactOplog: two byte-identical twins receive the same local writes
 * (INSERT, INSERT OR REPLACE, UPDATE, DELETE, key change), the same remote batches (three devices,
 * all causal lengths, resolver columns, unknown columns and clock-drift entries quarantined and
 * retried, a migration adding todos.extra), and only one twin is compacted, at random moments.
 * Data, merge results, causal lengths, quarantine and exports from every cursor must match.
 * The compacted twin's peer acknowledges its log as it goes, so its folds join each row's local
 * entries up to that position (docs/decisions.md); the other's never does, so it keeps every
 * write as its own log row. Exports from the start and from every cursor at or above the
 * acknowledged position are equal; from a cursor below it, the joined twin loses nothing and
 * sends again only cells of the export from the start.
 *
 * Written in review (it found the stale-incarnation bug, test/merge/stale-incarnation.test.ts).
 * CI runs 12 seeds of 120 steps; AHENK_FUZZ_SEEDS=300 AHENK_FUZZ_STEPS=250 passed here.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compactOplog, getOplogEntriesSince, initializeDatabase, merge, retryQuarantined, type OplogEntry, type SqlValue } from '../../src/index.ts';
import { formatHlc, packHlc } from '../../src/clock/index.ts';
import { seededRandom } from '../../bench/data.ts';
import { dump, openDevice, peerAcknowledged, tempDir } from '../helpers/db.ts';
import { canonical, delta, holdsAllOf, type Write } from '../helpers/entries.ts';
import { counters, schema, todosWithExtra } from '../helpers/schema.ts';
import { keyTextSql } from '../../src/oplog/log-key.ts';

const schema2 = { todos: todosWithExtra, counters };

type Db = ReturnType<typeof initializeDatabase<typeof schema>>;

function twins(): [Db, Db, string, string, string] {
  const dir = tempDir();
  const a = openDevice('a', dir);
  const T0 = Date.now() + 86_400_000;
  a.$connection.prepare('UPDATE ahenk_clock SET hlc = ? WHERE id = 0').run(packHlc(T0, 0));
  const path = join(dir, 'twin.db');
  a.$connection.exec(`VACUUM INTO '${path}'`);
  const b = initializeDatabase(path, { schema });
  peerAcknowledged(a, null);
  peerAcknowledged(b, null);
  return [a, b, String(T0), a.path, path];
}

/**
 * Plain keys, canonical UUIDs (the log packs them) and a UUID in upper case (the log keeps it as
 * text): the same row never turns into another.
 */
const KEYS = ['k0', 'k1', '0190c3a4-7b1e-7c2d-8e3f-4a5b6c7d8e9f', 'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'F47AC10B-58CC-4372-A567-0E02B2C3D479'] as const;

const TODO_COLS = ['title', 'done', 'score', 'data'] as const;
const COUNTER_COLS = ['high', 'tags', 'note'] as const;

function state(db: Db) {
  // By the key's text: one twin may hold a row's key packed (folded) where the other holds it as text.
  const cls = db.$connection.prepare(`SELECT tbl, ${keyTextSql('pk')} AS pk, max(cl) AS cl FROM ahenk_oplog GROUP BY 1, 2 ORDER BY 1, 2`).all();
  return { todos: dump(db, 'todos'), counters: dump(db, 'counters'), cls, quarantine: db.$connection.prepare('SELECT entry FROM ahenk_quarantine ORDER BY id').values().map(([entry]) => entry) };
}

function run(seed: number, steps: number) {
  let [a, b, t0, pathA, pathB] = twins();
  let migrated = false;
  const T0 = Number(t0);
  const random = seededRandom(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const key = () => KEYS[Math.floor(random() * KEYS.length)]!;
  const now = { ms: T0 };
  const todoValue = (c: string): SqlValue => (c === 'extra' ? pick([null, 'e1', 'e2']) : c === 'title' ? `t${Math.floor(random() * 4)}` : c === 'done' ? BigInt(Math.floor(random() * 4)) : c === 'score' ? pick([null, 1.5, 2.5]) : pick([null, new Uint8Array([1]), new Uint8Array([2])]));
  const counterValue = (c: string): SqlValue => (c === 'high' ? pick([null, 1n, 5n, 9n]) : c === 'tags' ? pick([null, '["a"]', '["b"]', '["a","c"]']) : `n${Math.floor(random() * 3)}`);
  const log: string[] = [];
  let acked = 0n;
  /** Joined log rows seen at the checks, so a run that never joined shows. */
  let joinedRows = 0;
  for (let step = 0; step < steps; step++) {
    const roll = random();
    let action: (db: Db) => unknown;
    if (roll < 0.45) {
      const table = random() < 0.5 ? 'todos' : 'counters';
      const cols = table === 'todos' ? (migrated ? [...TODO_COLS, 'extra'] : TODO_COLS) : COUNTER_COLS;
      const id = key();
      const kind = pick(['insert', 'replace', 'update', 'update', 'update', 'delete', 'rekey']);
      const chosen = cols.filter(() => random() < 0.5);
      const vals = chosen.map((c) => (table === 'todos' ? todoValue(c) : counterValue(c)));
      const to = key();
      action = (db) => {
        const raw = db.$connection;
        if (kind === 'insert' || kind === 'replace') {
          const names = ['id', ...chosen];
          raw.prepare(`INSERT OR ${kind === 'insert' ? 'IGNORE' : 'REPLACE'} INTO ${table} (${names.join(',')}) VALUES (${names.map(() => '?').join(',')})`).run(id, ...vals);
        } else if (kind === 'update' && chosen.length > 0) {
          raw.prepare(`UPDATE ${table} SET ${chosen.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...vals, id);
        } else if (kind === 'delete') {
          raw.prepare(`DELETE FROM ${table} WHERE id = ?`).run(id);
        } else if (kind === 'rekey') {
          raw.prepare(`UPDATE OR IGNORE ${table} SET id = ? WHERE id = ?`).run(to, id);
        }
        return undefined;
      };
      log.push(`${step} local ${kind} ${table} ${id} ${chosen.join(',')}`);
    } else if (roll < 0.9) {
      const n = 1 + Math.floor(random() * 4);
      const entries: OplogEntry[] = [];
      for (let i = 0; i < n; i++) {
        const table = random() < 0.5 ? 'todos' : 'counters';
        const cols = table === 'todos' ? TODO_COLS : COUNTER_COLS;
        const op = pick(['insert', 'update', 'update', 'delete'] as const);
        const cl = op === 'delete' ? pick([2, 4]) : pick([1, 1, 3, 5]);
        const values: Record<string, unknown> = {};
        if (op !== 'delete') for (const c of cols) if (op === 'insert' || random() < 0.5) values[c] = table === 'todos' ? todoValue(c) : counterValue(c);
        if (op !== 'delete' && random() < 0.2 && table === 'todos') values['extra'] = pick(['x', 'y', null]);
        const ahead = random() < 0.05 ? 600_000 : 0;
        const hlc = formatHlc(packHlc(now.ms + ahead + Math.floor(random() * 10) - 5, Math.floor(random() * 1000)));
        entries.push(delta({ table, pk: key(), op, hlc, device: pick(['peer-a', 'peer-b', 'peer-c']), cl, values } as Write));
      }
      const at = now.ms;
      // Half the batches carry every entry twice: duplicates must change nothing, and a row's
      // lone entry (stale or not) must be judged the same as a repeated one.
      if (random() < 0.5) entries.push(...entries.slice());
      action = (db) => merge(db, entries, { now: () => at });
      log.push(`${step} merge ${JSON.stringify(entries, (_, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v))}`);
    } else if (roll < 0.915 && !migrated && true) {
      migrated = true;
      const reopen = (db: Db, path: string): Db => {
        db.$connection.exec('ALTER TABLE todos ADD COLUMN extra text');
        db.$connection.close();
        return initializeDatabase(path, { schema: schema2 }) as unknown as Db;
      };
      a = reopen(a, pathA);
      b = reopen(b, pathB);
      log.push(`${step} migrate: todos.extra`);
      const at = now.ms;
      action = (db) => retryQuarantined(db, { now: () => at });
    } else if (roll < 0.93) {
      now.ms += 700_000;
      const at = now.ms;
      action = (db) => retryQuarantined(db, { now: () => at });
      log.push(`${step} retry`);
    } else {
      action = () => undefined;
      log.push(`${step} compact`);
      compactOplog(b);
      continue;
    }
    const ra = action(a);
    const rb = action(b);
    expect(rb, log.join('\n')).toEqual(ra);
    expect(state(b), log.join('\n')).toEqual(state(a));
    if (random() < 0.3) compactOplog(b);
    if (step % 10 === 9 && true) {
      const seqs = a.$connection.prepare('SELECT seq FROM ahenk_oplog ORDER BY seq').values().map(([seq]) => String(seq));
      const fromStart = getOplogEntriesSince(a).entries;
      for (const c of ['0', ...seqs]) {
        const joined = getOplogEntriesSince(b, c).entries;
        const reference = getOplogEntriesSince(a, c).entries;
        if (c === '0' || BigInt(c) >= acked) expect(canonical(joined), `cursor ${c}\n${log.join('\n')}`).toEqual(canonical(reference));
        else expect(holdsAllOf(joined, reference, fromStart), `cursor ${c} (below ${acked})\n${log.join('\n')}`).toBeUndefined();
      }
    }
    joinedRows += Number(b.$connection.prepare('SELECT count(*) FROM ahenk_oplog WHERE hlc IS NULL AND more IS NOT NULL').value());
    // The peer has everything now: entries up to here may be joined.
    if (random() < 0.3) {
      acked = a.$connection.prepare('SELECT max(seq) FROM ahenk_oplog').value() as bigint;
      peerAcknowledged(b, acked);
      log.push(`${step} acknowledged ${acked}`);
    }
  }
  return joinedRows;
}

describe('compaction is invisible (differential)', () => {
  const seeds = Number(process.env.AHENK_FUZZ_SEEDS ?? 12);
  let joined = 0;
  for (let seed = 1; seed <= seeds; seed++) it(`seed ${seed}`, () => void (joined += run(seed, Number(process.env.AHENK_FUZZ_STEPS ?? 120))));
  it('the seeds joined local entries', () => expect(joined).toBeGreaterThan(seeds));
});

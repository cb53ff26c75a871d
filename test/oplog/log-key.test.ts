/**
 * The log's key forms (src/oplog/log-key.ts): a canonical lower-case UUID key is held as 16 bytes
 * in the history index (ix = 0), every other key and every other entry keeps its text; readers
 * always get the text back, and a key that only looks like a UUID round-trips exactly.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildOplogEntry, compactOplog, getDeviceId, getOplogEntriesSince, initializeDatabase, localApply, merge } from '../../src/index.ts';
import { BLOB_KEY_MESSAGE } from '../../src/capture/triggers.ts';
import { foldOplog } from '../../src/oplog/fold.ts';
import { isCanonicalUuid, keyFromLog, keyTextSql, packKey, packKeySql, PACKED_KEY_BYTES } from '../../src/oplog/log-key.ts';
import { SYSTEM_MIGRATIONS_TABLE } from '../../src/database/initialize.ts';
import { defaultAdapter } from '../../src/sqlite/index.ts';
import { caught, openDevice, openRaw } from '../helpers/db.ts';
import { schema, todos } from '../helpers/schema.ts';

const UUID = 'f47ac10b-58cc-4372-a567-0e02b2c3d479';
/** Keys that look like a UUID but are not its canonical text: each must stay exactly as it is. */
const LOOKALIKES = [
  'F47AC10B-58CC-4372-A567-0E02B2C3D479',
  'f47ac10b-58cc-4372-a567-0e02b2c3d47A',
  '{f47ac10b-58cc-4372-a567-0e02b2c3d479}',
  'f47ac10b58cc4372a5670e02b2c3d479',
  'f47ac10b-58cc-4372-a567-0e02b2c3d47',
  'f47ac10b-58cc-4372-a567-0e02b2c3d4790',
  'f47ac10b-58cc-4372-a567_0e02b2c3d479',
  'g47ac10b-58cc-4372-a567-0e02b2c3d479',
  'f47ac10b-58cc-4372-a567-0e02b2c3d47\u0131',
];

describe('the key forms', () => {
  it('packs only canonical lower-case UUIDs, and the packed form reads back as the same text', () => {
    const samples = [UUID, '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', ...Array.from({ length: 50 }, () => randomUUID())];
    for (const key of samples) {
      const packed = packKey(key);
      expect(packed).toBeInstanceOf(Uint8Array);
      expect((packed as Uint8Array).byteLength).toBe(PACKED_KEY_BYTES);
      expect(keyFromLog(packed)).toBe(key);
    }
    expect(Array.from(packKey(UUID) as Uint8Array, (b) => b.toString(16).padStart(2, '0')).join('')).toBe(UUID.replaceAll('-', ''));
    for (const key of [...LOOKALIKES, '', 'k1', '42']) {
      expect(isCanonicalUuid(key)).toBe(false);
      expect(packKey(key)).toBe(key);
      expect(keyFromLog(key)).toBe(key);
    }
  });

  it('SQL packs and unpacks exactly as JS does', () => {
    const raw = openRaw(':memory:');
    const pack = raw.prepare(`SELECT ${packKeySql('v')} FROM (SELECT ? AS v)`);
    const text = raw.prepare(`SELECT ${keyTextSql('v')} FROM (SELECT ? AS v)`);
    for (const key of [UUID, randomUUID(), randomUUID(), ...LOOKALIKES, 'k1']) {
      const packed = pack.value(key);
      expect(packed instanceof Uint8Array ? new Uint8Array(packed) : packed).toEqual(packKey(key));
      expect(text.value(packed!)).toBe(key);
    }
    // A number key is not text: it stays what it is.
    expect(pack.value(7n)).toBe(7n);
  });

  it('refuses a blob that is not a packed key', () => {
    expect(() => keyFromLog(new Uint8Array(15))).toThrow(/neither text nor a packed UUID/);
  });
});

/** The log's rows: the key's storage class and size, by entry. */
function logKeys(db: ReturnType<typeof openDevice>): { key: string; kind: string; bytes: number; ix: number | null }[] {
  return (
    db.$connection.prepare(`SELECT ${keyTextSql('pk')} AS key, typeof(pk) AS kind, length(CAST(pk AS BLOB)) AS bytes, ix FROM ahenk_oplog ORDER BY seq`).all() as {
      key: string;
      kind: string;
      bytes: bigint;
      ix: bigint | null;
    }[]
  ).map((r) => ({ key: r.key, kind: r.kind, bytes: Number(r.bytes), ix: r.ix === null ? null : Number(r.ix) }));
}

describe('keys in the log', () => {
  it('local writes log text; the fold packs UUID keys into the history index, and export gives every key back exactly', () => {
    const a = openDevice('a');
    const keys = [UUID, ...LOOKALIKES, 'plain'];
    for (const id of keys) a.insert(todos).values({ id, title: `t ${id}` }).run();
    expect(logKeys(a).every((r) => r.kind === 'text' && r.ix === null)).toBe(true);
    expect(foldOplog(a.$connection).indexed).toBe(keys.length);
    const folded = logKeys(a);
    expect(folded.filter((r) => r.kind === 'blob')).toEqual([{ key: UUID, kind: 'blob', bytes: 16, ix: 0 }]);
    expect(folded.map((r) => r.key)).toEqual(keys);
    const { entries } = getOplogEntriesSince(a);
    expect(entries.map((e) => e.pk).sort()).toEqual([...keys].sort());
    expect(entries.find((e) => e.pk === UUID)!.groups[0]!.values.title).toBe(`t ${UUID}`);
  });

  it('deletes and re-inserts keep the text in the causal-length index; triggers, merge and compaction find a row in both forms', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    a.insert(todos).values({ id: UUID, title: 'one' }).run();
    a.$connection.prepare('UPDATE todos SET done = 1 WHERE id = ?').run(UUID);
    merge(b, getOplogEntriesSince(a).entries);
    // b's merged entry is in its history index, packed.
    expect(logKeys(b)).toEqual([{ key: UUID, kind: 'blob', bytes: 16, ix: 0 }]);
    // b's own update is found by its triggers' causal length and by export, and merges back to a.
    b.$connection.prepare('UPDATE todos SET title = ? WHERE id = ?').run('two', UUID);
    b.$connection.prepare('DELETE FROM todos WHERE id = ?').run(UUID);
    b.insert(todos).values({ id: UUID, title: 'three' }).run();
    const fromB = getOplogEntriesSince(b).entries;
    expect(fromB.map((e) => [e.pk, e.cl])).toEqual([[UUID, 3]]);
    const result = merge(a, fromB);
    expect(result.applied).toBe(1);
    expect(a.$connection.prepare('SELECT title, done FROM todos WHERE id = ?').get(UUID)).toEqual({ title: 'three', done: 0n });
    // The reborn row's entries are in the causal-length index, as text.
    expect(logKeys(a).filter((r) => r.ix === 1).every((r) => r.kind === 'text' && r.key === UUID)).toBe(true);
    // An older write from b, delivered again, loses against the history a already holds: nothing changes.
    expect(merge(a, getOplogEntriesSince(b).entries).applied).toBe(0);
    // a deletes it again: the trigger reads causal length 3 from the text index, and logs 4.
    a.$connection.prepare('DELETE FROM todos WHERE id = ?').run(UUID);
    expect(getOplogEntriesSince(a).entries.filter((e) => e.pk === UUID).map((e) => e.cl)).toEqual([4]);
    // Compaction sees the row's entries in both forms as one row: only the newest stays.
    compactOplog(a, { full: true });
    expect(logKeys(a).map((r) => r.key)).toEqual([UUID]);
  });

  it('merge looks a packed row up: a second delivery of an older cell loses', () => {
    const a = openDevice('a');
    const b = openDevice('b');
    const id = randomUUID();
    a.insert(todos).values({ id, title: 'old' }).run();
    const old = getOplogEntriesSince(a).entries;
    a.$connection.prepare('UPDATE todos SET title = ? WHERE id = ?').run('new', id);
    merge(b, getOplogEntriesSince(a).entries);
    expect(merge(b, old).applied).toBe(0);
    expect(b.$connection.prepare('SELECT title FROM todos WHERE id = ?').value(id)).toBe('new');
  });

  it('the manual path logs and reads a UUID key in the same forms', () => {
    const a = openDevice('a');
    const me = getDeviceId(a.$connection);
    localApply(a, buildOplogEntry(me, 'todos', 'insert', { id: UUID, title: 'manual' }));
    localApply(a, buildOplogEntry(me, 'todos', 'update', { id: UUID, title: 'edited' }));
    expect(logKeys(a).map((r) => [r.kind, r.ix])).toEqual([['blob', 0], ['blob', 0]]);
    localApply(a, buildOplogEntry(me, 'todos', 'delete', { id: UUID }));
    localApply(a, buildOplogEntry(me, 'todos', 'insert', { id: UUID, title: 'back' }));
    expect(getOplogEntriesSince(a).entries.map((e) => [e.pk, e.cl, e.groups[0]!.values.title])).toEqual([[UUID, 3, 'back']]);
    expect(logKeys(a).slice(2).map((r) => [r.kind, r.ix])).toEqual([['text', 1], ['text', 1]]);
  });

  it('the triggers refuse a blob key, which no peer could take and the log could mistake for a packed one', () => {
    const a = openDevice('a');
    const error = caught(() => a.$connection.prepare('INSERT INTO todos (id, title) VALUES (?, ?)').run(packKey(UUID), 'x'));
    expect((error as Error).message).toContain(BLOB_KEY_MESSAGE);
    expect(a.$connection.prepare('SELECT count(*) FROM todos').value()).toBe(0n);
  });

  // Debian 12's sqlite3 is 3.40, before unhex (3.41): the triggers must not need it.
  // On sqlite-wasm a path opens as an in-memory image: another process never sees its writes.
  const shellReason =
    defaultAdapter() === 'sqlite-wasm' ? 'sqlite-wasm opens a path as an in-memory image' : spawnSync('sqlite3', ['-version']).status !== 0 ? 'the sqlite3 shell is not installed' : undefined;
  if (shellReason) console.warn(`skipping the sqlite3 shell test: ${shellReason}`);
  it.skipIf(shellReason !== undefined)('an older sqlite3 shell writes rows with UUID keys whose history is packed', () => {
    const a = openDevice('a');
    a.insert(todos).values({ id: UUID, title: 'app' }).run();
    foldOplog(a.$connection);
    const run = spawnSync('sqlite3', [a.path], {
      input: `UPDATE todos SET title = 'shell' WHERE id = '${UUID}'; DELETE FROM todos WHERE id = '${UUID}'; INSERT INTO todos (id, title) VALUES ('${UUID}', 'again');`,
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const { entries } = getOplogEntriesSince(a);
    expect(entries.map((e) => [e.pk, e.cl, e.groups[0]!.values.title])).toEqual([[UUID, 3, 'again']]);
  });
});

describe('a log from before the packed keys', () => {
  it('is converted by system migration 0005 when the database opens', () => {
    const a = openDevice('a');
    const id = randomUUID();
    a.insert(todos).values({ id, title: 'old' }).run();
    foldOplog(a.$connection);
    // What an earlier Ahenk left: the key as text in the history index, migration 0005 not applied.
    a.$connection.exec(`UPDATE ahenk_oplog SET pk = ${keyTextSql('pk')}`);
    a.$connection.prepare(`DELETE FROM ${SYSTEM_MIGRATIONS_TABLE} WHERE created_at = (SELECT max(created_at) FROM ${SYSTEM_MIGRATIONS_TABLE})`).run();
    expect(logKeys(a)[0]).toMatchObject({ kind: 'text', ix: 0 });
    a.$connection.close();
    const reopened = initializeDatabase(a.path, { schema });
    try {
      expect(reopened.$connection.prepare('SELECT typeof(pk) FROM ahenk_oplog').value()).toBe('blob');
      // Its history is found again: an older write of the row loses.
      const stale = { table: 'todos', pk: id, cl: 1, groups: [{ hlc: '0000000000000001', device: 'peer', values: { title: 'stale' } }] };
      expect(merge(reopened, [stale]).applied).toBe(0);
    } finally {
      reopened.$connection.close();
    }
  });
});

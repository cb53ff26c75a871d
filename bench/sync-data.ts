/**
 * The sync bench's table and databases: a text key (UUIDv4 or UUIDv7) and three values (text,
 * integer, real), the source database filled in chunks (1M rows never sit in memory at once), and
 * empty receivers that trust the sender as an app's pairing would leave them.
 */
import { integer, real, text } from 'drizzle-orm/sqlite-core';
import { authorizeDevice, defineSyncedTable, getDeviceId, initializeDatabase, registerUser, type AhenkDatabase } from '../src/index.ts';
import { openConnection } from '../src/sqlite/index.ts';
import { makeRows, type KeyKind } from './data.ts';

export const NOTES_TABLE = 'notes';

export const notes = defineSyncedTable(NOTES_TABLE, {
  id: text('id').primaryKey(),
  title: text('title'),
  qty: integer('qty'),
  price: real('price'),
});

export const syncBenchSchema = { notes };

export type NotesDatabase = AhenkDatabase<typeof syncBenchSchema>;

/** Raw sizes of what the source holds: value bytes as the brief counts them, the keys apart. */
export interface RawSizes {
  rows: number;
  /** UTF-8 bytes of every title plus 8 per integer and 8 per real. */
  valueBytes: number;
  /** UTF-8 bytes of every key. */
  keyBytes: number;
}

const CHUNK_ROWS = 50_000;
const USER = { name: 'bench', email: 'bench@example.com', password: 'correct horse battery staple' };

/** The table is made with plain SQL first, as an app's migration would, then Ahenk opens the file. */
export function openNotes(path: string): NotesDatabase {
  const pre = openConnection(path);
  pre.exec(`CREATE TABLE IF NOT EXISTS "${NOTES_TABLE}" (id text PRIMARY KEY NOT NULL, title text, qty integer, price real)`);
  pre.close();
  return initializeDatabase(path, { schema: syncBenchSchema });
}

/**
 * A sender database with `rows` inserted rows (one log entry each) keyed by `keys`, and a
 * registered user. Inserted through Ahenk's own connection, in chunks of one transaction each;
 * closed on return.
 */
export async function createSource(path: string, rows: number, seed: number, keys: KeyKind): Promise<RawSizes & { deviceId: string; userId: string }> {
  const db = openNotes(path);
  try {
    const user = await registerUser(db, USER.name, USER.email, USER.password);
    const raw = db.$connection;
    const insert = raw.prepare(`INSERT INTO "${NOTES_TABLE}" (id, title, qty, price) VALUES (?, ?, ?, ?)`);
    const sizes: RawSizes = { rows, valueBytes: 0, keyBytes: 0 };
    for (let done = 0, chunk = 0; done < rows; chunk++) {
      const batch = makeRows(Math.min(CHUNK_ROWS, rows - done), seed * 1000 + chunk, keys);
      raw.transaction(() => {
        for (const [id, title, qty, , price] of batch) {
          insert.run(id, title, qty, price);
          sizes.keyBytes += Buffer.byteLength(id);
          sizes.valueBytes += Buffer.byteLength(title) + 8 + 8;
        }
      });
      done += batch.length;
    }
    const logged = Number(raw.prepare('SELECT count(*) FROM ahenk_oplog').value());
    if (logged !== rows) throw new Error(`source: ${logged} log rows for ${rows} inserts`);
    // A checkpoint now keeps the sender's first reads from walking a WAL of the whole insert.
    raw.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    return { ...sizes, deviceId: getDeviceId(db), userId: user.id };
  } finally {
    db.$connection.close();
  }
}

/** An empty receiver that has the sender on its device list; returns the receiver's device id. */
export async function createReceiver(path: string, senderDeviceId: string): Promise<string> {
  const db = openNotes(path);
  try {
    const user = await registerUser(db, USER.name, USER.email, USER.password);
    authorizeDevice(db, { userId: user.id, peerId: senderDeviceId, deviceType: 'sender' });
    return getDeviceId(db);
  } finally {
    db.$connection.close();
  }
}

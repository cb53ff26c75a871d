/**
 * Drizzle over the storage port (drizzleOverPort), on the adapter the suite runs on: what an app's
 * queries and transactions rely on, whichever driver is underneath.
 */
import { join } from 'node:path';
import { eq, relations, sql, TransactionRollbackError } from 'drizzle-orm';
import { blob, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import { describe, expect, it } from 'vitest';
import { defaultAdapter, drizzleOverPort, type SqliteConnection } from '../../src/sqlite/index.ts';
import { openRaw, tempDir } from '../helpers/db.ts';

const users = sqliteTable('users', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  flag: integer('flag', { mode: 'boolean' }),
  data: blob('data', { mode: 'buffer' }),
});
const posts = sqliteTable('posts', { id: integer('id').primaryKey(), userId: integer('user_id').notNull(), title: text('title').notNull() });
/** A view over a recursive CTE of 10,000 rows; its column is `stepped(n)`, which counts the rows SQLite produced. */
const counted = sqliteTable('counted', { x: integer('x') });
const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }));
const postsRelations = relations(posts, ({ one }) => ({ user: one(users, { fields: [posts.userId], references: [users.id] }) }));
const schema = { users, posts, counted, usersRelations, postsRelations };

const CREATE = `
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, flag INTEGER, data BLOB);
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL);
CREATE VIEW counted AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 10000) SELECT stepped(n) AS x FROM c;
`;

/** What both drivers' connection objects offer for a user-defined SQL function. */
interface WithFunctions {
  function(name: string, body: (...args: unknown[]) => unknown): unknown;
}

/** A database file in rollback-journal mode (so an exclusive lock keeps readers out), and Drizzle over it. */
function open(dir = tempDir()) {
  const path = join(dir, 'app.db');
  const connection = openRaw(path);
  let steps = 0;
  (connection.driver.client as unknown as WithFunctions).function('stepped', (x) => {
    steps++;
    return x;
  });
  connection.exec(CREATE);
  const db = drizzleOverPort(connection, { schema });
  return { path, connection, db, steps: () => steps, resetSteps: () => (steps = 0) };
}

/** Another connection to the same file that fails at once on a lock instead of waiting. */
function impatient(path: string): SqliteConnection {
  const other = openRaw(path);
  other.exec('PRAGMA busy_timeout = 0');
  return other;
}

const ids = (connection: SqliteConnection) => connection.prepare('SELECT id FROM users ORDER BY id', { integers: 'number' }).values().flat();

describe(`Drizzle over the storage port on ${defaultAdapter()}`, () => {
  describe('get() reads the first row and stops there', () => {
    it('for a select with fields (db.select().from(x).get()) and a relational findFirst', () => {
      const { db, steps } = open();
      expect(db.select().from(counted).get()).toEqual({ x: 1 });
      // Reading every row and keeping the first would have stepped all 10,000.
      expect(steps()).toBe(1);
      expect(db.select({ first: counted.x }).from(counted).get()).toEqual({ first: 1 });
      expect(steps()).toBe(2);
      expect(db.query.counted.findFirst().sync()).toEqual({ x: 1 });
      expect(steps()).toBe(3);
    });

    it('for raw SQL (db.get) and a prepared query run twice', () => {
      const { db, steps, resetSteps } = open();
      expect(db.get(sql`SELECT x FROM counted`)).toEqual({ x: 1 });
      expect(steps()).toBe(1);
      resetSteps();
      const prepared = db.select().from(counted).prepare();
      expect(prepared.get()).toEqual({ x: 1 });
      expect(prepared.get()).toEqual({ x: 1 });
      expect(steps()).toBe(2);
    });

    it('and undefined when there is no row', () => {
      const { db } = open();
      expect(db.select().from(users).get()).toBeUndefined();
      expect(db.select().from(users).where(eq(users.id, 42)).get()).toBeUndefined();
    });
  });

  it('maps columns (boolean, buffer) and answers relational findFirst and findMany', () => {
    const { db } = open();
    db.insert(users).values([{ id: 1, name: 'ayse', flag: true, data: Buffer.from([1, 2]) }, { id: 2, name: 'bora' }]).run();
    db.insert(posts).values([{ id: 1, userId: 1, title: 'p1' }, { id: 2, userId: 1, title: 'p2' }]).run();
    const ayse = db.select().from(users).where(eq(users.id, 1)).get();
    expect(ayse).toEqual({ id: 1, name: 'ayse', flag: true, data: Buffer.from([1, 2]) });
    expect(Buffer.isBuffer(ayse!.data)).toBe(true);
    expect(db.query.users.findMany({ with: { posts: { columns: { title: true } } }, orderBy: (u, { asc }) => [asc(u.id)] }).sync()).toEqual([
      { id: 1, name: 'ayse', flag: true, data: Buffer.from([1, 2]), posts: [{ title: 'p1' }, { title: 'p2' }] },
      { id: 2, name: 'bora', flag: null, data: null, posts: [] },
    ]);
    expect(db.query.users.findFirst({ where: eq(users.id, 2), columns: { name: true } }).sync()).toEqual({ name: 'bora' });
    expect(db.query.users.findFirst({ where: eq(users.id, 99) }).sync()).toBeUndefined();
    expect(db.query.posts.findFirst({ where: eq(posts.id, 2), with: { user: { columns: { name: true } } } }).sync()).toEqual({ id: 2, userId: 1, title: 'p2', user: { name: 'ayse' } });
  });

  it('returns what .returning() names, and .get() of a multi-row write still writes every row', () => {
    const { db, connection } = open();
    expect(db.insert(users).values({ id: 1, name: 'a', flag: false }).returning().get()).toEqual({ id: 1, name: 'a', flag: false, data: null });
    expect(db.insert(users).values([{ id: 2, name: 'b' }, { id: 3, name: 'c' }]).returning({ id: users.id }).all()).toEqual([{ id: 2 }, { id: 3 }]);
    // SQLite makes every change of an INSERT/UPDATE ... RETURNING at the first step.
    expect(db.insert(users).values([{ id: 4, name: 'd' }, { id: 5, name: 'e' }]).returning({ id: users.id }).get()).toEqual({ id: 4 });
    expect(ids(connection)).toEqual([1, 2, 3, 4, 5]);
    expect(db.update(users).set({ name: 'z' }).where(sql`${users.id} >= 4`).returning({ id: users.id, name: users.name }).get()).toMatchObject({ name: 'z' });
    expect(connection.prepare("SELECT count(*) FROM users WHERE name = 'z'").value()).toBe(2n);
    expect(db.delete(users).where(eq(users.id, 5)).returning({ name: users.name }).all()).toEqual([{ name: 'z' }]);
    expect(db.update(users).set({ name: 'q' }).where(eq(users.id, 1)).run().changes).toBe(1);
  });

  describe('transactions', () => {
    it('begin as the behavior says: deferred takes no lock, immediate the write lock, exclusive keeps readers out', () => {
      const { path, db, connection } = open();
      const other = impatient(path);
      const otherWrites = () => other.exec('BEGIN IMMEDIATE; ROLLBACK');
      const otherReads = () => other.prepare('SELECT count(*) FROM users').value();
      const seen: Record<string, [boolean, boolean]> = {};
      const attempt = (fn: () => unknown) => {
        try {
          fn();
          return true;
        } catch (error) {
          expect((error as Error).message).toMatch(/locked|busy/i);
          return false;
        }
      };
      for (const behavior of ['deferred', 'immediate', 'exclusive'] as const) {
        const result = db.transaction(
          (tx) => {
            seen[behavior] = [attempt(otherReads), attempt(otherWrites)];
            tx.insert(users).values({ name: behavior }).run();
            return behavior;
          },
          { behavior },
        );
        expect(result).toBe(behavior);
        expect(connection.inTransaction).toBe(false);
      }
      expect(seen).toEqual({ deferred: [true, true], immediate: [true, false], exclusive: [false, false] });
      expect(db.select({ name: users.name }).from(users).all().map((u) => u.name)).toEqual(['deferred', 'immediate', 'exclusive']);
    });

    it('rolls back only the inner of nested transactions when the inner rolls back', () => {
      const { db, connection } = open();
      const outcome = db.transaction((tx) => {
        tx.insert(users).values({ id: 10, name: 'outer' }).run();
        try {
          tx.transaction((inner) => {
            inner.insert(users).values({ id: 11, name: 'inner' }).run();
            inner.rollback();
          });
        } catch (error) {
          expect(error).toBeInstanceOf(TransactionRollbackError);
        }
        expect(connection.inTransaction).toBe(true);
        tx.insert(users).values({ id: 12, name: 'after' }).run();
        return 'committed';
      });
      expect(outcome).toBe('committed');
      expect(ids(connection)).toEqual([10, 12]);
      expect(() =>
        db.transaction((tx) => {
          tx.insert(users).values({ id: 20, name: 'x' }).run();
          tx.transaction((inner) => inner.insert(users).values({ id: 21, name: 'y' }).run());
          throw new Error('outer fails');
        }),
      ).toThrow('outer fails');
      expect(ids(connection)).toEqual([10, 12]);
    });

    it('makes an exclusive (or immediate) transaction inside another a savepoint, not an error', () => {
      const { db, connection } = open();
      for (const behavior of ['exclusive', 'immediate'] as const) {
        expect(db.transaction(() => db.transaction(() => `inner ${behavior}`, { behavior }))).toBe(`inner ${behavior}`);
        expect(connection.transaction(() => db.transaction(() => 'inside the port', { behavior }))).toBe('inside the port');
      }
      db.transaction((tx) => {
        tx.insert(users).values({ id: 1, name: 'kept' }).run();
        expect(() =>
          db.transaction(
            (inner) => {
              inner.insert(users).values({ id: 2, name: 'undone' }).run();
              throw new Error('inner fails');
            },
            { behavior: 'exclusive' },
          ),
        ).toThrow('inner fails');
      });
      expect(ids(connection)).toEqual([1]);
      expect(connection.inTransaction).toBe(false);
    });

    it('refuses an async body with nothing of it committed, whatever the behavior and nesting', async () => {
      const { db, connection } = open();
      let finished = 0;
      const asyncBody = (id: number) => async (tx: { insert: typeof db.insert }) => {
        tx.insert(users).values({ id, name: 'before the await' }).run();
        await Promise.resolve();
        finished++;
      };
      for (const [id, behavior] of [[1, 'deferred'], [2, 'immediate'], [3, 'exclusive']] as const) {
        expect(() => db.transaction(asyncBody(id), { behavior })).toThrow(/synchronous/);
        expect(connection.inTransaction).toBe(false);
      }
      expect(() =>
        db.transaction((tx) => {
          tx.insert(users).values({ id: 4, name: 'outer' }).run();
          tx.transaction(asyncBody(5));
        }),
      ).toThrow(/synchronous/);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(finished).toBe(4);
      expect(ids(connection)).toEqual([]);
      expect(connection.inTransaction).toBe(false);
    });
  });
});

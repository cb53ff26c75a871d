/**
 * The manual exchange API, without a network: two devices of one person, each with its own SQLite
 * file, edit the same todo list while offline, then exchange what the other lacks and converge.
 * (`npm run demo` does the same between two processes over libp2p.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { getOplogEntriesSince, initializeDatabase, merge } from '../src/index.ts';
import { schema, todos } from './todo/schema.ts';

const migrationsFolder = fileURLToPath(new URL('./todo/migrations', import.meta.url));

export function runManualExchange(print: (line: string) => void = console.log): { laptop: unknown[]; phone: unknown[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-demo-'));
  try {
    const laptop = initializeDatabase(join(dir, 'laptop.db'), { schema, migrationsFolder });
    const phone = initializeDatabase(join(dir, 'phone.db'), { schema, migrationsFolder });

    print('laptop adds two todos; the phone syncs them');
    laptop.insert(todos).values([{ id: 'milk', title: 'Buy milk' }, { id: 'call', title: 'Call mum' }]).run();
    merge(phone, getOplogEntriesSince(laptop).entries);

    print('offline: the laptop renames "milk" and deletes "call"; the phone ticks "milk" off and adds "tax"');
    laptop.update(todos).set({ title: 'Buy oat milk' }).where(eq(todos.id, 'milk')).run();
    laptop.delete(todos).where(eq(todos.id, 'call')).run();
    phone.update(todos).set({ done: true }).where(eq(todos.id, 'milk')).run();
    phone.insert(todos).values({ id: 'tax', title: 'File taxes' }).run();

    print('back online: each device merges what the other lacks');
    const fromLaptop = getOplogEntriesSince(laptop).entries;
    const fromPhone = getOplogEntriesSince(phone).entries;
    merge(phone, fromLaptop);
    merge(laptop, fromPhone);
    print(`  laptop -> phone: ${fromLaptop.length} changes, phone -> laptop: ${fromPhone.length} changes`);

    const rows = (db: typeof laptop) => db.select().from(todos).orderBy(todos.id).all();
    const result = { laptop: rows(laptop), phone: rows(phone) };
    print('converged (both column edits kept, the delete won):');
    for (const row of result.laptop) print(`  ${row.done ? '[x]' : '[ ]'} ${row.title} (${row.id})`);
    print(JSON.stringify(result.laptop) === JSON.stringify(result.phone) ? 'laptop and phone are identical' : 'MISMATCH');
    laptop.$connection.close();
    phone.$connection.close();
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runManualExchange();

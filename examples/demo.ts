/**
 * `npm run demo`: two devices of one person (a laptop and a phone), each a separate process with
 * its own SQLite file, sync over libp2p on 127.0.0.1. Both edit offline first; the phone then joins
 * the laptop's account by scanning its pairing code (the QR text), they converge, and live edits
 * on one appear on the other. Every process exits cleanly at the end.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { initializeDatabase, registerUser } from '../src/index.ts';
import { schema, todos } from './todo/schema.ts';

type Event = { event: string; device: string; [field: string]: unknown };
type Row = { id: string; title: string; done: boolean };

const DEVICE_SCRIPT = fileURLToPath(new URL('./device.ts', import.meta.url));
const migrationsFolder = fileURLToPath(new URL('./todo/migrations', import.meta.url));
const TIMEOUT_MS = 20_000;

class Device {
  private readonly events: Event[] = [];
  private readonly waiters: { test: (e: Event) => boolean; resolve: (e: Event) => void; fail: (error: Error) => void }[] = [];
  readonly process: ChildProcessWithoutNullStreams;

  constructor(readonly name: string, dbPath: string, peers: string[], print: (line: string) => void) {
    this.process = spawn(process.execPath, ['--import', 'tsx', DEVICE_SCRIPT, JSON.stringify({ name, dbPath, peers })], { stdio: 'pipe' });
    this.process.stderr.on('data', (chunk: Buffer) => print(`  [${name} stderr] ${chunk.toString().trim()}`));
    this.process.once('exit', (code) => {
      // A device that dies fails every wait on it at once, instead of at the timeout.
      for (const waiter of this.waiters.splice(0)) waiter.fail(new Error(`${name} exited (code ${String(code)})`));
    });
    createInterface({ input: this.process.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as Event;
      if (process.env.AHENK_DEMO_DEBUG) print(`  [${name}] ${line}`);
      this.events.push(event);
      for (const waiter of [...this.waiters]) {
        if (waiter.test(event)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    });
  }

  /** The first event (already seen or still to come) that passes the test. */
  next(test: (e: Event) => boolean, what: string): Promise<Event> {
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no "${what}" within ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      this.waiters.push({ test, resolve: (e) => (clearTimeout(timer), resolve(e)), fail: (error) => (clearTimeout(timer), reject(error)) });
    });
  }

  send(command: Record<string, unknown>): void {
    this.process.stdin.write(`${JSON.stringify(command)}\n`);
  }

  async stop(): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => this.process.once('exit', resolve));
    this.send({ cmd: 'stop' });
    return exited;
  }
}

const rowsEvent = (test: (rows: Row[]) => boolean) => (e: Event) => e.event === 'rows' && test(e.rows as Row[]);
const format = (rows: Row[]) => rows.map((r) => `${r.done ? '[x]' : '[ ]'} ${r.title}`).join(', ');

/** Two device databases with offline edits on both; the account exists on the laptop only. */
async function prepare(dir: string): Promise<{ laptop: string; phone: string; userId: string }> {
  const paths = { laptop: join(dir, 'laptop.db'), phone: join(dir, 'phone.db') };
  const dbs = { laptop: initializeDatabase(paths.laptop, { schema, migrationsFolder }), phone: initializeDatabase(paths.phone, { schema, migrationsFolder }) };
  const user = await registerUser(dbs.laptop, 'ada', 'ada@example.com', 'correct horse battery staple');
  dbs.laptop.insert(todos).values([{ id: 'milk', title: 'Buy milk' }, { id: 'call', title: 'Call mum' }]).run();
  dbs.phone.insert(todos).values({ id: 'tax', title: 'File taxes' }).run();
  dbs.laptop.$connection.close();
  dbs.phone.$connection.close();
  return { ...paths, userId: user.id };
}

export async function runDemo(print: (line: string) => void = console.log): Promise<{ laptop: Row[]; phone: Row[]; latencyMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ahenk-demo-'));
  const devices: Device[] = [];
  try {
    const paths = await prepare(dir);
    print('offline: the laptop added "Buy milk" and "Call mum", the phone added "File taxes"');

    const laptop = new Device('laptop', paths.laptop, [], print);
    devices.push(laptop);
    const started = await laptop.next((e) => e.event === 'started', 'started');
    print(`laptop listening on ${(started.addresses as string[])[0]!}`);
    const phone = new Device('phone', paths.phone, [], print);
    devices.push(phone);
    await phone.next((e) => e.event === 'started', 'started');

    // Pairing: the laptop shows a code (a QR code in an app), the phone scans it and joins.
    laptop.send({ cmd: 'pair-show', userId: paths.userId });
    const code = (await laptop.next((e) => e.event === 'pairing-code', 'pairing code')).qr as string;
    print(`laptop shows a pairing code: ${code.slice(0, 32)}... (${code.length} characters, valid 2 minutes, single use)`);
    phone.send({ cmd: 'pair-join', qr: code, deviceType: 'phone' });
    const joined = await phone.next((e) => e.event === 'joined' || e.event === 'error', 'joined');
    if (joined.event === 'error') throw new Error(`pairing failed: ${String(joined.message)}`);
    await laptop.next((e) => e.event === 'paired', 'paired');
    print(`the phone scanned it and joined ${String(joined.userName)}'s devices; both trust each other now`);

    const all = (rows: Row[]) => ['call', 'milk', 'tax'].every((id) => rows.some((r) => r.id === id));
    await Promise.all([laptop.next(rowsEvent(all), 'all rows'), phone.next(rowsEvent(all), 'all rows')]);
    const synced = await phone.next((e) => e.event === 'synced', 'synced');
    print(`connected and caught up: phone sent ${String(synced.sent)}, received ${String(synced.received)} changes`);

    print('live: the laptop ticks off "milk" and adds "Book dentist"');
    const sentAt = performance.now();
    laptop.send({ cmd: 'toggle', id: 'milk' });
    await phone.next(rowsEvent((rows) => rows.some((r) => r.id === 'milk' && r.done)), 'live edit');
    const latencyMs = performance.now() - sentAt;
    laptop.send({ cmd: 'add', id: 'dentist', title: 'Book dentist' });
    // The list is printed once the phone's table holds both edits (the insert travels after the tick).
    const arrived = await phone.next(rowsEvent((rows) => rows.some((r) => r.id === 'milk' && r.done) && rows.some((r) => r.id === 'dentist')), 'live insert');
    print(`  on the phone (the tick after ${latencyMs.toFixed(0)} ms): ${format(arrived.rows as Row[])}`);
    print('live: the phone ticks off "tax"; the laptop sees it');
    phone.send({ cmd: 'toggle', id: 'tax' });
    const final = await laptop.next(rowsEvent((rows) => rows.some((r) => r.id === 'tax' && r.done) && rows.some((r) => r.id === 'dentist')), 'live edit back');
    const phoneFinal = await phone.next(rowsEvent((rows) => rows.some((r) => r.id === 'tax' && r.done) && rows.some((r) => r.id === 'dentist')), 'own edit');

    const codes = await Promise.all(devices.map((d) => d.stop()));
    print(`both devices stopped (exit codes ${codes.join(', ')})`);
    const result = { laptop: final.rows as Row[], phone: phoneFinal.rows as Row[], latencyMs };
    print(`laptop: ${format(result.laptop)}`);
    print(`phone:  ${format(result.phone)}`);
    print(JSON.stringify(result.laptop) === JSON.stringify(result.phone) ? 'laptop and phone are identical' : 'MISMATCH');
    return result;
  } finally {
    for (const device of devices) if (device.process.exitCode === null) device.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runDemo().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

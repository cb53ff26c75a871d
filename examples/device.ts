/**
 * One device of the demo, as its own process: opens its database, starts a sync node on
 * 127.0.0.1, and speaks JSON lines. Commands on stdin: {"cmd":"add","id","title"},
 * {"cmd":"toggle","id"}, {"cmd":"pair-show","userId"} (show a pairing code for that account),
 * {"cmd":"pair-join","qr","deviceType"} (join with a code), {"cmd":"stop"}. Events on stdout:
 * started, pairing-code, paired, joined, connected, synced, rows (whenever the todo list
 * changes, from any writer), error, stopped.
 *
 * Run as: node --import tsx examples/device.ts '{"name":"laptop","dbPath":"...","peers":[...]}'
 */
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { eq, not } from 'drizzle-orm';
import { AuthorizerWorkflow, createSyncNode, initializeDatabase, NewDeviceWorkflow } from '../src/index.ts';
import { schema, todos } from './todo/schema.ts';

interface DeviceOptions {
  name: string;
  dbPath: string;
  /** Multiaddrs of the other devices to dial. */
  peers: string[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as DeviceOptions;
const say = (event: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, device: options.name, ...fields })}\n`);

const migrationsFolder = fileURLToPath(new URL('./todo/migrations', import.meta.url));
const db = initializeDatabase(options.dbPath, { schema, migrationsFolder });
const node = await createSyncNode(db, { listenAddresses: ['/ip4/127.0.0.1/tcp/0'], bootstrapPeers: options.peers });
say('started', { peerId: node.peerId, addresses: node.getMultiaddrs().map(String) });
node.on('peer:connect', (e) => say('connected', { peer: e.peerId }));
node.on('sync:complete', (e) => say('synced', { sent: e.sent, received: e.received }));
node.on('error', (e) => say('error', { message: e.error.message }));

// Show the list whenever it changes, whoever wrote it (data_version moves on other writers' commits).
const list = () => db.select().from(todos).orderBy(todos.id).all();
let shown = JSON.stringify(list());
say('rows', { rows: list() });
const watch = setInterval(() => {
  const now = JSON.stringify(list());
  if (now !== shown) {
    shown = now;
    say('rows', { rows: list() });
  }
}, 5);

let pairing: AuthorizerWorkflow | undefined;

/** Shows a pairing code (the QR text) and reports the device that answers it. */
async function showPairingCode(userId: string): Promise<void> {
  pairing = new AuthorizerWorkflow(db, node, { userId, deviceType: options.name });
  await pairing.createChallenge();
  say('pairing-code', { qr: pairing.getQrCodeString() });
  const device = await pairing.waitForResponse();
  say('paired', { peer: device.peerId, deviceType: device.deviceType });
  await pairing.close();
}

async function joinWith(qr: string, deviceType: string): Promise<void> {
  const result = await new NewDeviceWorkflow(db, node, { deviceType }).respondToChallenge(qr);
  say('joined', { userName: result.userName, authorizer: result.authorizer });
}

const failed = (error: unknown) => say('error', { message: (error as Error).message });

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string; id?: string; title?: string; userId?: string; qr?: string; deviceType?: string };
  if (command.cmd === 'pair-show') showPairingCode(command.userId!).catch(failed);
  if (command.cmd === 'pair-join') joinWith(command.qr!, command.deviceType ?? options.name).catch(failed);
  if (command.cmd === 'add') db.insert(todos).values({ id: command.id!, title: command.title ?? '' }).run();
  if (command.cmd === 'toggle') db.update(todos).set({ done: not(todos.done) }).where(eq(todos.id, command.id!)).run();
  if (command.cmd === 'stop') {
    input.close();
    process.stdin.destroy();
    clearInterval(watch);
    void (pairing?.close() ?? Promise.resolve()).then(() => node.stop()).then(() => {
      db.$connection.close();
      say('stopped');
    });
  }
});

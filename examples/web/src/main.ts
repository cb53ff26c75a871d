// The page: Drizzle over the database worker, a form and a list. Every tab of this origin shares
// one database (one tab's worker holds it; ahenk/browser hands the others' queries to it).
import { asc, eq, not } from 'drizzle-orm';
import { openBrowserDatabase } from 'ahenk/browser';
import { schema, todos } from './schema.ts';
import { connectSync, joinDevices } from './sync.ts';

const ahenk = await openBrowserDatabase(new Worker(new URL('./db.worker.ts', import.meta.url), { type: 'module' }), { schema });
const { db } = ahenk;

const form = document.querySelector<HTMLFormElement>('#add')!;
const input = document.querySelector<HTMLInputElement>('#title')!;
const list = document.querySelector<HTMLUListElement>('#todos')!;
const status = document.querySelector<HTMLParagraphElement>('#status')!;
const joinForm = document.querySelector<HTMLFormElement>('#join')!;
const codeInput = document.querySelector<HTMLInputElement>('#code')!;
const pairStatus = document.querySelector<HTMLParagraphElement>('#pair-status')!;
const params = new URLSearchParams(location.search);
const deviceAddress = params.get('device') ?? undefined;
let syncState = 'connecting…';

async function render(): Promise<void> {
  const rows = await db.select().from(todos).orderBy(asc(todos.createdAt), asc(todos.id));
  list.replaceChildren(...rows.map((row) => item(row)));
  const { entries } = await ahenk.getOplogEntriesSince();
  status.textContent = `device ${ahenk.deviceId.slice(0, 16)}… · ${entries.length} changed row${entries.length === 1 ? '' : 's'} in the log · ${syncState}`;
}

function item(row: typeof todos.$inferSelect): HTMLLIElement {
  const li = document.createElement('li');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = row.done;
  box.addEventListener('change', () => void db.update(todos).set({ done: not(todos.done) }).where(eq(todos.id, row.id)).then(render));
  const title = document.createElement('span');
  title.textContent = row.title;
  const remove = document.createElement('button');
  remove.textContent = '×';
  remove.title = 'delete';
  remove.addEventListener('click', () => void db.delete(todos).where(eq(todos.id, row.id)).then(render));
  li.append(box, title, remove);
  return li;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const title = input.value.trim();
  if (title === '') return;
  input.value = '';
  void db.insert(todos).values({ id: crypto.randomUUID(), title, createdAt: Date.now() }).then(render);
});

// The pairing panel: the code `npm run demo:web` printed (the long one comes filled in by ?pair=).
codeInput.value = params.get('pair') ?? '';
joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  pairStatus.textContent = 'pairing…';
  void joinDevices(ahenk, codeInput.value, deviceAddress).then((text) => {
    pairStatus.textContent = text;
    if (text.startsWith('paired')) syncState = text.slice(text.indexOf(': ') + 2);
    return render();
  });
});

await render();
// Dialled after the page is up: the todos never wait for the network.
void connectSync(ahenk, deviceAddress, () => void render()).then((state) => {
  syncState = state;
  return render();
});
document.body.dataset.ready = 'true';

/** Device ids are long strings; the oplog stores a small per-database integer (site) instead. */
import type { SqliteConnection } from '../sqlite/index.ts';
import { DatabaseError } from '../errors.ts';
import { decodeClockGroups, encodeClockGroups } from './clock-groups.ts';
import { foldOplog } from './fold.ts';

export const LOCAL_SITE = 0;

export class SiteTable {
  private readonly byId = new Map<number, string>();
  private readonly byDevice = new Map<string, number>();

  /** Loaded per call, not cached: a rolled-back transaction may have added sites that are gone. */
  constructor(private readonly raw: SqliteConnection) {
    const rows = raw.cached('SELECT id, device FROM ahenk_sites', { integers: 'number' }).all() as { id: number; device: string }[];
    for (const row of rows) this.remember(row.id, row.device);
    if (!this.byId.has(LOCAL_SITE)) throw new DatabaseError('this database has no device identity (ahenk_sites row 0); open it with initializeDatabase');
  }

  device(site: number): string {
    const device = this.byId.get(site);
    if (device === undefined) throw new DatabaseError(`oplog refers to unknown site ${site}`);
    return device;
  }

  /** The site id of a device, registering it on first sight (call inside a write transaction). */
  siteOf(device: string): number {
    const known = this.byDevice.get(device);
    if (known !== undefined) return known;
    // Another process may have registered it meanwhile; the upsert returns its id either way.
    const row = this.raw
      .cached(
        'INSERT INTO ahenk_sites (id, device) VALUES ((SELECT max(id) + 1 FROM ahenk_sites), ?) ON CONFLICT (device) DO UPDATE SET device = excluded.device RETURNING id',
        { integers: 'number' },
      )
      .get(device) as { id: number };
    this.remember(row.id, device);
    return row.id;
  }

  private remember(id: number, device: string): void {
    this.byId.set(id, device);
    this.byDevice.set(device, id);
  }
}

/**
 * A new identity for this database (call inside a write transaction): the entries the old device
 * id wrote move to a site of their own, with their stamps made explicit (a local row's stamp is
 * its seq), so they keep their author and stamp and sync on as that device's writes; site 0, the
 * author of every new local write, becomes `newDevice`. Returns the old device's new site.
 */
export function moveLocalSite(raw: SqliteConnection, newDevice: string): number {
  // The old device's writes not folded yet get its site and stamps below, but stay unindexed: the
  // fold would join them as local writes, in groups of site 0 (the new device). Fold them first.
  foldOplog(raw);
  const sites = new SiteTable(raw);
  const oldDevice = sites.device(LOCAL_SITE);
  raw.prepare('UPDATE ahenk_sites SET device = ? WHERE id = ?').run(newDevice, LOCAL_SITE);
  const site = Number(raw.prepare('SELECT max(id) + 1 FROM ahenk_sites').value());
  raw.prepare('INSERT INTO ahenk_sites (id, device) VALUES (?, ?)').run(site, oldDevice);
  raw.prepare('UPDATE ahenk_oplog SET hlc = coalesce(hlc, seq), site = ? WHERE site = ?').run(site, LOCAL_SITE);
  // Merged rows may hold further clock groups of this device: rewrite those groups too.
  const rows = raw.prepare('SELECT seq, more FROM ahenk_oplog WHERE more IS NOT NULL').all() as { seq: bigint; more: Uint8Array }[];
  const update = raw.prepare('UPDATE ahenk_oplog SET more = ? WHERE seq = ?');
  for (const { seq, more } of rows) {
    const groups = decodeClockGroups(more);
    if (!groups.some((g) => g.site === LOCAL_SITE)) continue;
    update.run(encodeClockGroups(groups.map((g) => (g.site === LOCAL_SITE ? { ...g, site } : g))), seq);
  }
  return site;
}

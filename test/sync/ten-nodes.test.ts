/**
 * Scale (issue 12, item 8): ten sync nodes on 127.0.0.1 in a seeded random connected topology
 * (a spanning tree plus three extra edges; each node dials only its neighbours, no mDNS), every
 * node writing a shared pool of UUIDv4 rows while they sync, some rows written by three nodes in
 * the same tick. All ten must end with the same table and the same export. The time to converge
 * and the session frame bytes are printed; `npm run bench -- topology` runs a larger version.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSynced, type SyncedDatabase } from '../../bench/databases.ts';
import { canonicalExport, randomTopology, runTopology } from '../../bench/topology.ts';
import { seededRandom } from '../../bench/data.ts';
import { defaultAdapter } from '../../src/sqlite/index.ts';

const opened: SyncedDatabase[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.$connection.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('ten sync nodes', () => {
  it('the topology is a connected graph of distinct edges', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const edges = randomTopology(10, 3, seededRandom(seed));
      expect(edges).toHaveLength(12);
      expect(new Set(edges.map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`)).size).toBe(12);
      const reached = new Set([0]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [a, b] of edges) if (reached.has(a) !== reached.has(b)) grew = reached.add(a).add(b) !== undefined;
      }
      expect(reached.size).toBe(10);
    }
  });

  it('in a random topology with concurrent writers on shared UUIDv4 rows converge: same table and export everywhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ahenk-ten-'));
    dirs.push(dir);
    const seed = Number(process.env.AHENK_TOPOLOGY_SEED ?? 12);
    const result = await runTopology({
      nodes: 10,
      extraEdges: 3,
      rounds: 60,
      keys: 30,
      seed,
      timeoutMs: 30_000,
      open: (name) => {
        const db = openSynced(join(dir, `${name}.db`), defaultAdapter());
        opened.push(db);
        return db;
      },
    });
    console.log(
      `ten nodes (seed ${seed}, ${result.edges.length} edges): ${result.writes} writes in ${Math.round(result.writeMs)} ms, converged ${Math.round(result.convergeMs)} ms after the last write; ` +
        `${result.entries} entries in ${result.frameBytes} session frame bytes received over all nodes; ${result.rows} rows, ${result.exportEntries} exported entries`,
    );
    // runTopology returns once all ten tables and exports are identical; the nodes are stopped now,
    // and the ten databases still say so.
    expect(opened).toHaveLength(10);
    const table = (db: SyncedDatabase) => db.$connection.prepare('SELECT id, name, qty, rank, price, typeof(price) FROM items ORDER BY id').values();
    for (const db of opened.slice(1)) {
      expect(table(db)).toEqual(table(opened[0]!));
      expect(canonicalExport(db.$connection)).toEqual(canonicalExport(opened[0]!.$connection));
    }
    expect(table(opened[0]!)).toHaveLength(result.rows);
    expect(result.writes).toBe(60 * 13);
    expect(result.exportEntries).toBeGreaterThan(0);
    expect(result.entries).toBeGreaterThan(0);
  }, 60_000);
});

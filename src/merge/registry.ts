/** Custom resolvers are code, so each connection learns them from the schema it was opened with. */
import type { Database } from 'better-sqlite3';
import type { Resolver } from './resolvers.ts';

const registries = new WeakMap<Database, Map<string, Resolver>>();

export function registerResolvers(raw: Database, resolvers: Iterable<Resolver>): void {
  let map = registries.get(raw);
  if (!map) {
    map = new Map();
    registries.set(raw, map);
  }
  for (const resolver of resolvers) map.set(resolver.name, resolver);
}

export function customResolversOf(raw: Database): ReadonlyMap<string, Resolver> {
  return registries.get(raw) ?? new Map();
}

/** Custom resolvers are code, so each connection learns them from the schema it was opened with. */
import type { SqliteConnection } from '../sqlite/index.ts';
import type { Resolver } from './resolvers.ts';

const registries = new WeakMap<SqliteConnection, Map<string, Resolver>>();

export function registerResolvers(raw: SqliteConnection, resolvers: Iterable<Resolver>): void {
  let map = registries.get(raw);
  if (!map) {
    map = new Map();
    registries.set(raw, map);
  }
  for (const resolver of resolvers) map.set(resolver.name, resolver);
}

export function customResolversOf(raw: SqliteConnection): ReadonlyMap<string, Resolver> {
  return registries.get(raw) ?? new Map();
}

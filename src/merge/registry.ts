/** Custom resolvers are code, so each connection learns them from the schema it was opened with. */
import { ConnectionSlot, type SqliteConnection } from '../sqlite/index.ts';
import type { Resolver } from '../schema/resolvers.ts';

const registry = new ConnectionSlot<Map<string, Resolver>>('custom resolvers');

export function registerResolvers(raw: SqliteConnection, resolvers: Iterable<Resolver>): void {
  const map = raw.slot(registry, () => new Map<string, Resolver>());
  for (const resolver of resolvers) map.set(resolver.name, resolver);
}

export function customResolversOf(raw: SqliteConnection): ReadonlyMap<string, Resolver> {
  return raw.slot(registry, () => new Map<string, Resolver>());
}

// `ahenk/schema`: what a Drizzle schema file needs, and nothing that pulls in libp2p, so that
// drizzle-kit (which loads schema files through CommonJS) can read it.
export {
  defineSyncedTable,
  getSyncedTableMeta,
  isSyncedTable,
  MAX_SYNCED_COLUMNS,
  type SyncedTableMeta,
  type SyncedTableOptions,
} from './synced-table.ts';
export { max, min, union, type BuiltinResolverName, type Resolver, type ResolverSpec } from './resolvers.ts';

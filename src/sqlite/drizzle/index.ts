export { drizzleOverPort, migrateOverPort, type PortDatabase, type PortMigrationConfig } from './database.ts';
export { applyMigrations, DRIZZLE_MIGRATIONS_TABLE } from './migrate.ts';

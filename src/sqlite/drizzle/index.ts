export { drizzleOverPort, migrateOverPort, type PortDatabase, type PortMigrationConfig } from './database.ts';

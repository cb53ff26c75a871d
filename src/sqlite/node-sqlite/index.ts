export { isNodeSqliteClient, nodeSqliteDriver, openNodeSqlite, type NodeSqliteClient } from './driver.ts';

export { betterSqlite3Driver, isBetterSqlite3Client, openBetterSqlite3 } from './driver.ts';

/**
 * Drizzle over the storage port: a synchronous Drizzle session whose statements run through an
 * SqliteConnection, so one Drizzle database type serves every adapter. Built only from
 * drizzle-orm's public driver-building surface (the same pieces its own driver folders use).
 */
import * as drizzleOrm from 'drizzle-orm';
import { entityKind, fillPlaceholders, NoopLogger, type Logger, type Query, type RelationalSchemaConfig, type TablesRelationalConfig } from 'drizzle-orm';
import {
  SQLitePreparedQuery,
  SQLiteSession,
  SQLiteTransaction,
  type PreparedQueryConfig,
  type SelectedFieldsOrdered,
  type SQLiteExecuteMethod,
  type SQLiteSyncDialect,
  type SQLiteTransactionConfig,
} from 'drizzle-orm/sqlite-core';
import type { SqliteConnection } from '../connection.ts';
import type { SqliteStatement, SqlParams, SqlRunResult } from '../port.ts';

type Mapper = (rows: unknown[][]) => unknown;

/**
 * Members drizzle-orm marks @internal in its declarations but exports and uses in every driver it
 * ships (the row mapper, the dialect and session a transaction carries, a query's join map).
 */
const { mapResultRow } = drizzleOrm as unknown as {
  mapResultRow(fields: SelectedFieldsOrdered, row: unknown[], joinsNotNullableMap: Record<string, boolean> | undefined): unknown;
};
interface TransactionInternals {
  dialect: SQLiteSyncDialect;
  session: PortSession<Record<string, unknown>, TablesRelationalConfig>;
  schema: RelationalSchemaConfig<TablesRelationalConfig> | undefined;
  nestedIndex: number;
}
function joinsOf(query: object): Record<string, boolean> | undefined {
  return (query as { joinsNotNullableMap?: Record<string, boolean> }).joinsNotNullableMap;
}

export class PortSession<TFullSchema extends Record<string, unknown>, TSchema extends TablesRelationalConfig> extends SQLiteSession<
  'sync',
  SqlRunResult,
  TFullSchema,
  TSchema
> {
  static override readonly [entityKind]: string = 'AhenkPortSession';
  private readonly logger: Logger;

  constructor(
    readonly connection: SqliteConnection,
    private readonly dialect: SQLiteSyncDialect,
    private readonly schema: RelationalSchemaConfig<TSchema> | undefined,
    options: { logger?: Logger } = {},
  ) {
    super(dialect);
    this.logger = options.logger ?? new NoopLogger();
  }

  prepareQuery<T extends Omit<PreparedQueryConfig, 'run'>>(
    query: Query,
    fields: SelectedFieldsOrdered | undefined,
    executeMethod: SQLiteExecuteMethod,
    isResponseInArrayMode: boolean,
    customResultMapper?: Mapper,
  ): PortPreparedQuery<T & { type: 'sync'; run: SqlRunResult }> {
    // App columns read as numbers, as Drizzle's better-sqlite3 driver gives them.
    const statement = this.connection.prepare(query.sql, { integers: 'number' });
    return new PortPreparedQuery(statement, query, this.logger, fields, executeMethod, isResponseInArrayMode, customResultMapper);
  }

  override transaction<T>(body: (tx: PortTransaction<TFullSchema, TSchema>) => T, config: SQLiteTransactionConfig = {}): T {
    const tx = new PortTransaction<TFullSchema, TSchema>('sync', this.dialect, this as never, this.schema as never);
    return this.connection.transaction(() => body(tx), config.behavior ?? 'deferred');
  }
}

export class PortTransaction<TFullSchema extends Record<string, unknown>, TSchema extends TablesRelationalConfig> extends SQLiteTransaction<
  'sync',
  SqlRunResult,
  TFullSchema,
  TSchema
> {
  static override readonly [entityKind]: string = 'AhenkPortTransaction';

  /** A nested transaction is a savepoint of the connection's (which also refuses an async body). */
  override transaction<T>(body: (tx: PortTransaction<TFullSchema, TSchema>) => T): T {
    const self = this as unknown as TransactionInternals;
    const tx = new PortTransaction<TFullSchema, TSchema>('sync', self.dialect, self.session as never, self.schema as never, self.nestedIndex + 1);
    return self.session.connection.transaction(() => body(tx));
  }

}

export class PortPreparedQuery<T extends PreparedQueryConfig & { type: 'sync' }> extends SQLitePreparedQuery<T> {
  static override readonly [entityKind]: string = 'AhenkPortPreparedQuery';

  constructor(
    private readonly statement: SqliteStatement,
    query: Query,
    private readonly logger: Logger,
    private readonly fields: SelectedFieldsOrdered | undefined,
    executeMethod: SQLiteExecuteMethod,
    private readonly arrayMode: boolean,
    private readonly customResultMapper: Mapper | undefined,
  ) {
    super('sync', executeMethod, query);
  }

  private params(placeholderValues: Record<string, unknown> | undefined): SqlParams {
    const params = fillPlaceholders(this.query.params, placeholderValues ?? {});
    this.logger.logQuery(this.query.sql, params);
    return params as SqlParams;
  }

  run(placeholderValues?: Record<string, unknown>): T['run'] {
    return this.statement.run(...this.params(placeholderValues));
  }

  all(placeholderValues?: Record<string, unknown>): T['all'] {
    if (!this.fields && !this.customResultMapper) return this.statement.all(...this.params(placeholderValues));
    const rows = this.values(placeholderValues) as unknown[][];
    if (this.customResultMapper) return this.customResultMapper(rows) as T['all'];
    return rows.map((row) => mapResultRow(this.fields!, row, joinsOf(this)));
  }

  get(placeholderValues?: Record<string, unknown>): T['get'] {
    const params = this.params(placeholderValues);
    if (!this.fields && !this.customResultMapper) return this.statement.get(...params);
    const row = this.statement.getValues(...params);
    if (row === undefined) return undefined;
    if (this.customResultMapper) return this.customResultMapper([row]) as T['get'];
    return mapResultRow(this.fields!, row, joinsOf(this));
  }

  values(placeholderValues?: Record<string, unknown>): T['values'] {
    return this.statement.values(...this.params(placeholderValues));
  }

  /** @internal */
  isResponseInArrayMode(): boolean {
    return this.arrayMode;
  }
}

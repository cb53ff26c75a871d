/**
 * A port statement over a driver statement that hands rows out either as objects or as arrays,
 * switched by a flag (better-sqlite3's `raw`, node:sqlite's `setReturnArrays`): the flag is set only
 * when the shape asked for changes, so one cached statement serves both at no cost.
 */
import type { SqliteStatement, SqlParams, SqlRow, SqlRunResult, SqlValue } from './port.ts';

/** The calls both Node drivers' statements share. */
export interface DriverStatement {
  run(...params: SqlParams): SqlRunResult;
  get(...params: SqlParams): unknown;
  all(...params: SqlParams): unknown[];
  iterate(...params: SqlParams): IterableIterator<unknown>;
}

export class ModalStatement implements SqliteStatement {
  private arrays = false;

  /** The driver statement must start in object mode; `bind` adapts parameters where a driver needs it. */
  constructor(
    private readonly native: DriverStatement,
    private readonly setArrays: (arrays: boolean) => void,
    private readonly bind: (params: SqlParams) => SqlParams = (params) => params,
  ) {}

  private shaped(arrays: boolean): DriverStatement {
    if (this.arrays !== arrays) {
      this.setArrays(arrays);
      this.arrays = arrays;
    }
    return this.native;
  }

  run(...params: SqlParams): SqlRunResult {
    return this.native.run(...this.bind(params));
  }

  get(...params: SqlParams): SqlRow | undefined {
    return this.shaped(false).get(...this.bind(params)) as SqlRow | undefined;
  }

  all(...params: SqlParams): SqlRow[] {
    return this.shaped(false).all(...this.bind(params)) as SqlRow[];
  }

  iterate(...params: SqlParams): IterableIterator<SqlRow> {
    return this.shaped(false).iterate(...this.bind(params)) as IterableIterator<SqlRow>;
  }

  getValues(...params: SqlParams): SqlValue[] | undefined {
    return this.shaped(true).get(...this.bind(params)) as SqlValue[] | undefined;
  }

  values(...params: SqlParams): SqlValue[][] {
    return this.shaped(true).all(...this.bind(params)) as SqlValue[][];
  }

  iterateValues(...params: SqlParams): IterableIterator<SqlValue[]> {
    return this.shaped(true).iterate(...this.bind(params)) as IterableIterator<SqlValue[]>;
  }

  value(...params: SqlParams): SqlValue | undefined {
    return this.getValues(...params)?.[0];
  }
}

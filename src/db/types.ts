export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Keep the statement prepared on each connection (PostgreSQL: a named statement, planned once and then run from
   * PostgreSQL's plan cache). Only for hot statements whose text comes from a small fixed set — every distinct
   * text stays prepared on every connection. Ignored by PGlite and when TESSERA_DB_PREPARE=0 (poolers that
   * cannot keep named statements, e.g. PgBouncer in transaction mode).
   */
  prepare?: boolean;
}

/** Anything that runs SQL: the database itself or an open transaction. */
export interface Queryable {
  /**
   * One statement with $1… parameters. Conventions that keep PGlite and `pg` identical:
   * JSON values are passed as strings and cast (`$1::jsonb`), arrays as JS arrays with a cast (`$2::text[]`),
   * int8 comes back as a JS number, timestamptz as a Date, json/jsonb parsed.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<T>>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface TransactionOptions {
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction: commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

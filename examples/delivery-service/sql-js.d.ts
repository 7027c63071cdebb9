// The part of sql.js (SQLite compiled to WebAssembly) the delivery service uses. Its published
// types (@types/sql.js) pull in browser globals through @types/emscripten.
declare module 'sql.js' {
  export type SqlValue = number | string | Uint8Array | null
  export interface Statement {
    step(): boolean
    getAsObject(): Record<string, SqlValue>
    free(): boolean
  }
  export interface Database {
    run(sql: string, params?: SqlValue[]): Database
    prepare(sql: string, params?: SqlValue[]): Statement
    export(): Uint8Array
    close(): void
  }
  export interface SqlJsStatic {
    Database: new (data?: ArrayLike<number> | Buffer | null) => Database
  }
  export default function initSqlJs(config?: object): Promise<SqlJsStatic>
}

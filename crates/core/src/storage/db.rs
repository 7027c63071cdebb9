//! The SQL a transaction runs, on either backend: the provider's SQLite connection, or a
//! PostgreSQL session taken from the provider's pool.
//!
//! Statements are written once, in the SQL both accept: `$1`, `$2`, … placeholders in order of
//! first use (SQLite numbers named parameters by first appearance), `ON CONFLICT … DO UPDATE` and
//! `DO NOTHING` instead of SQLite's `OR REPLACE` and `OR IGNORE`. Both sides cache them.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::Connection;

use super::CodecError;

/// A statement's argument.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Bytes(&'a [u8]),
    Int(i64),
    Text(&'a str),
}

/// A column of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Bytes(Vec<u8>),
    Int(i64),
    Null,
}

/// What a store's statement can fail with: the backend's error, or the codec's.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite said no.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no, or the connection to it is gone.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// A stored value did not open or decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A value did not encode.
    #[error("storage: a value cannot be encoded ({0})")]
    Encode(String),
    /// A result had a column of a type this crate never writes there: damage.
    #[error("storage: a stored value has the wrong type")]
    WrongType,
}

/// A PostgreSQL connection with the statements it has prepared: kept in the provider's pool
/// between transactions, so each statement is parsed once per connection.
pub(crate) struct PgSession {
    pub(crate) client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<&'static str, postgres::Statement>>,
}

impl PgSession {
    pub(crate) fn new(client: postgres::Client) -> Self {
        PgSession { client: RefCell::new(client), statements: RefCell::new(HashMap::new()) }
    }

    fn statement(&self, sql: &'static str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.borrow_mut().prepare(sql)?;
        self.statements.borrow_mut().insert(sql, s.clone());
        Ok(s)
    }
}

/// The backend a transaction runs its statements on.
#[derive(Clone, Copy)]
pub(crate) enum Db<'t> {
    Sqlite(&'t Connection),
    Postgres(&'t PgSession),
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match *self {
            Arg::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Arg::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(i)),
            Arg::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

fn pg_args<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Bytes(b) => b as &(dyn postgres::types::ToSql + Sync),
            Arg::Int(i) => i as &(dyn postgres::types::ToSql + Sync),
            Arg::Text(t) => t as &(dyn postgres::types::ToSql + Sync),
        })
        .collect()
}

fn pg_cell(row: &postgres::Row, i: usize) -> Result<Cell, DbError> {
    use postgres::types::Type;
    let ty = row.columns()[i].type_();
    Ok(if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(i)?.map_or(Cell::Null, Cell::Bytes)
    } else if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.map_or(Cell::Null, Cell::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?.map_or(Cell::Null, |v| Cell::Int(v.into()))
    } else {
        return Err(DbError::WrongType);
    })
}

fn sqlite_cell(row: &rusqlite::Row<'_>, i: usize) -> Result<Cell, DbError> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(i)? {
        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
        ValueRef::Integer(v) => Cell::Int(v),
        ValueRef::Null => Cell::Null,
        _ => return Err(DbError::WrongType),
    })
}

impl Db<'_> {
    /// Runs a statement; returns how many rows it changed.
    pub(crate) fn run(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, DbError> {
        match self {
            Db::Sqlite(conn) => Ok(conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args.iter()))? as u64),
            Db::Postgres(pg) => {
                let stmt = pg.statement(sql)?;
                Ok(pg.client.borrow_mut().execute(&stmt, &pg_args(args))?)
            }
        }
    }

    /// Runs a query; returns every row's columns.
    pub(crate) fn rows(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Vec<Cell>>, DbError> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let n = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push((0..n).map(|i| sqlite_cell(row, i)).collect::<Result<Vec<_>, _>>()?);
                }
                Ok(out)
            }
            Db::Postgres(pg) => {
                let stmt = pg.statement(sql)?;
                let rows = pg.client.borrow_mut().query(&stmt, &pg_args(args))?;
                rows.iter().map(|row| (0..row.len()).map(|i| pg_cell(row, i)).collect()).collect()
            }
        }
    }

    /// The first column of every row, as bytes.
    pub(crate) fn blobs(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Vec<u8>>, DbError> {
        self.rows(sql, args)?.into_iter().map(|mut row| bytes(row.swap_remove(0))).collect()
    }

    /// The first column of the first row, as bytes, if there is a row.
    pub(crate) fn blob(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Option<Vec<u8>>, DbError> {
        self.blobs(sql, args).map(|rows| rows.into_iter().next())
    }

    /// The first column of the first row, as an integer (a `count(*)`, say).
    pub(crate) fn int(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<i64, DbError> {
        match self.rows(sql, args)?.into_iter().next().and_then(|row| row.into_iter().next()) {
            Some(Cell::Int(v)) => Ok(v),
            _ => Err(DbError::WrongType),
        }
    }
}

/// A cell that must hold bytes.
pub(crate) fn bytes(cell: Cell) -> Result<Vec<u8>, DbError> {
    match cell {
        Cell::Bytes(b) => Ok(b),
        _ => Err(DbError::WrongType),
    }
}

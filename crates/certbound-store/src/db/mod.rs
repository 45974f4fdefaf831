//! How the store runs SQL on either backend: every statement is written once, with `$n`
//! placeholders, bound with [`Query::bind`], and run on a [`Pool`] (the store's reads or
//! writes) or inside a [`Tx`].
//!
//! - **SQLite** reads run in place, on the calling thread (rusqlite, prepared statements
//!   cached per connection): a point read ~2 µs, against ~20 µs through a driver that hands
//!   each statement to a connection's own thread and back (NOTES.md, stop 22). Writes go to
//!   the one writer connection's thread, because a commit can block on an fsync ([`sqlite`]).
//! - **PostgreSQL** goes through sqlx's pool, a network round trip per statement anyway.
//!
//! Values are SQLite's storage classes, which both backends share in this schema: 64-bit
//! integers, text, blobs, NULL.

mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

pub(crate) use sqlite::SqliteDb;

/// The type of a NULL parameter: PostgreSQL types every parameter, so a NULL carries the type
/// its Rust value would have had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `BIGINT` / `INTEGER`.
    Int,
    /// `TEXT`.
    Text,
    /// `BYTEA` / `BLOB`.
    Blob,
}

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'q> {
    /// A 64-bit integer.
    Int(i64),
    /// UTF-8 text.
    Text(Cow<'q, str>),
    /// Bytes.
    Blob(Cow<'q, [u8]>),
    /// NULL, typed.
    Null(Kind),
}

/// A Rust value that can be bound to a placeholder.
pub(crate) trait Encode<'q> {
    /// The column type of this Rust type (for a NULL of it).
    const KIND: Kind;
    /// The value to bind.
    fn encode(self) -> Value<'q>;
}

impl<'q> Encode<'q> for i64 {
    const KIND: Kind = Kind::Int;
    fn encode(self) -> Value<'q> {
        Value::Int(self)
    }
}

impl<'q> Encode<'q> for &'q str {
    const KIND: Kind = Kind::Text;
    fn encode(self) -> Value<'q> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl<'q> Encode<'q> for String {
    const KIND: Kind = Kind::Text;
    fn encode(self) -> Value<'q> {
        Value::Text(Cow::Owned(self))
    }
}

impl<'q> Encode<'q> for &'q [u8] {
    const KIND: Kind = Kind::Blob;
    fn encode(self) -> Value<'q> {
        Value::Blob(Cow::Borrowed(self))
    }
}

impl<'q> Encode<'q> for Vec<u8> {
    const KIND: Kind = Kind::Blob;
    fn encode(self) -> Value<'q> {
        Value::Blob(Cow::Owned(self))
    }
}

impl Value<'_> {
    /// The same value, owning its text or bytes (to send it to another thread).
    pub(crate) fn to_owned_value(&self) -> Value<'static> {
        match self {
            Value::Int(i) => Value::Int(*i),
            Value::Text(s) => Value::Text(Cow::Owned(s.as_ref().to_owned())),
            Value::Blob(b) => Value::Blob(Cow::Owned(b.as_ref().to_owned())),
            Value::Null(kind) => Value::Null(*kind),
        }
    }
}

impl<'q, T: Encode<'q>> Encode<'q> for Option<T> {
    const KIND: Kind = T::KIND;
    fn encode(self) -> Value<'q> {
        match self {
            Some(v) => v.encode(),
            None => Value::Null(T::KIND),
        }
    }
}

/// A column value as the SQLite engine hands it over (owned, so the row outlives the
/// statement).
pub(crate) type SqliteValue = rusqlite::types::Value;

/// A Rust type a column can be read as.
pub(crate) trait Decode: Sized {
    /// From a SQLite value.
    fn from_sqlite(value: &SqliteValue) -> Result<Self, String>;
    /// From column `index` of a PostgreSQL row.
    fn from_pg(row: &sqlx::postgres::PgRow, index: usize) -> Result<Self, sqlx::Error>;
}

fn wrong_type(want: &str, got: &SqliteValue) -> String {
    format!("expected {want}, found {:?}", got.data_type())
}

/// `Decode` for a Rust type that SQLite stores as one storage class and sqlx decodes itself.
macro_rules! decode_as {
    ($rust:ty, $class:ident, $what:literal) => {
        impl Decode for $rust {
            fn from_sqlite(value: &SqliteValue) -> Result<Self, String> {
                match value {
                    SqliteValue::$class(v) => Ok(v.clone()),
                    other => Err(wrong_type($what, other)),
                }
            }
            fn from_pg(row: &sqlx::postgres::PgRow, index: usize) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }
        }
    };
}

decode_as!(i64, Integer, "an integer");
decode_as!(String, Text, "text");
decode_as!(Vec<u8>, Blob, "a blob");

impl<T: Decode> Decode for Option<T> {
    fn from_sqlite(value: &SqliteValue) -> Result<Self, String> {
        match value {
            SqliteValue::Null => Ok(None),
            other => T::from_sqlite(other).map(Some),
        }
    }
    fn from_pg(row: &sqlx::postgres::PgRow, index: usize) -> Result<Self, sqlx::Error> {
        use sqlx::ValueRef;
        if sqlx::Row::try_get_raw(row, index)?.is_null() {
            Ok(None)
        } else {
            T::from_pg(row, index).map(Some)
        }
    }
}

/// A column of a [`Row`]: by name or by position.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Col<'a> {
    /// The column's name (the first column of that name: select names that clash under
    /// aliases).
    Name(&'a str),
    /// Its position, from 0.
    At(usize),
}

impl<'a> From<&'a str> for Col<'a> {
    fn from(name: &'a str) -> Self {
        Col::Name(name)
    }
}

impl From<usize> for Col<'_> {
    fn from(at: usize) -> Self {
        Col::At(at)
    }
}

/// One result row.
pub(crate) enum Row {
    /// From SQLite: the values, and the statement's column names.
    Sqlite {
        /// Column names, shared by the rows of one statement.
        names: Arc<[Box<str>]>,
        /// The row's values, in column order.
        values: Vec<SqliteValue>,
    },
    /// From PostgreSQL.
    Postgres(sqlx::postgres::PgRow),
}

impl Row {
    /// Number of columns.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            Row::Sqlite { values, .. } => values.len(),
            Row::Postgres(row) => sqlx::Row::len(row),
        }
    }

    /// Column `col` read as `T`.
    pub(crate) fn try_get<'c, T: Decode, C: Into<Col<'c>>>(&self, col: C) -> Result<T, DbError> {
        let col = col.into();
        match self {
            Row::Sqlite { names, values } => {
                let at = match col {
                    Col::At(at) => Some(at),
                    Col::Name(name) => names.iter().position(|n| &**n == name),
                };
                let value = at
                    .and_then(|at| values.get(at))
                    .ok_or_else(|| DbError::decode(format!("no column {col:?}")))?;
                T::from_sqlite(value).map_err(|e| DbError::decode(format!("column {col:?}: {e}")))
            }
            Row::Postgres(row) => {
                let at = match col {
                    Col::At(at) => at,
                    Col::Name(name) => {
                        use sqlx::Column;
                        sqlx::Row::try_column(row, name)
                            .map_err(DbError::pg)?
                            .ordinal()
                    }
                };
                T::from_pg(row, at).map_err(DbError::pg)
            }
        }
    }
}

/// Why a statement failed, from either engine.
#[derive(Debug)]
pub struct DbError(pub(crate) Failure);

/// What is inside a [`DbError`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// SQLite's error.
    Sqlite(rusqlite::Error),
    /// sqlx's (PostgreSQL) error.
    Postgres(sqlx::Error),
    /// A column could not be read as the type asked for: a bug or a broken schema.
    Decode(String),
    /// The store was closed.
    Closed,
    /// A failure in words: one reported to several callers at once (the original's text), or
    /// one outside the engines (the writer thread could not start).
    Other(String),
}

impl DbError {
    pub(crate) fn decode(text: String) -> DbError {
        DbError(Failure::Decode(text))
    }

    pub(crate) fn pg(e: sqlx::Error) -> DbError {
        DbError(Failure::Postgres(e))
    }

    pub(crate) fn sqlite(e: rusqlite::Error) -> DbError {
        DbError(Failure::Sqlite(e))
    }

    pub(crate) fn closed() -> DbError {
        DbError(Failure::Closed)
    }

    /// A failure with `text` as its message (for reporting one failure to several callers,
    /// or one outside the engines).
    pub(crate) fn other(text: String) -> DbError {
        DbError(Failure::Other(text))
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Failure::Sqlite(e) => write!(f, "{e}"),
            Failure::Postgres(e) => write!(f, "{e}"),
            Failure::Decode(text) => write!(f, "unexpected column value: {text}"),
            Failure::Closed => f.write_str("the store is closed"),
            Failure::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Failure::Sqlite(e) => Some(e),
            Failure::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

/// The database behind a [`Pool`].
#[derive(Clone)]
pub(crate) enum Engine {
    /// SQLite, run in place.
    Sqlite(Arc<SqliteDb>),
    /// PostgreSQL, through sqlx's pool.
    Postgres(sqlx::PgPool),
}

/// Where statements go: the store's reads or its writes (on SQLite, the reader connections or
/// the one writer connection; on PostgreSQL, one pool for both).
#[derive(Clone)]
pub(crate) struct Pool {
    pub(crate) engine: Engine,
    pub(crate) write: bool,
}

impl Pool {
    /// Starts a transaction on the write side; on SQLite `BEGIN IMMEDIATE` (the write lock is
    /// taken up front, so another process writing the same file makes this one wait in the
    /// busy handler instead of failing when a read lock would be upgraded).
    pub(crate) async fn begin(&self) -> Result<Tx, DbError> {
        match &self.engine {
            Engine::Sqlite(db) => db.begin().await.map(|tx| Tx(TxInner::Sqlite(tx))),
            Engine::Postgres(pool) => {
                // sqlx's `begin` is not cancel-safe on PostgreSQL (sqlx issue #4393, still in
                // 0.8.6): dropped while `BEGIN` is in flight, it returns the connection to the
                // pool inside a transaction, and the next statements on it are never
                // committed. As a task of its own it always finishes; if this future is gone
                // by then, the `Transaction` is dropped in the task, which queues the
                // `ROLLBACK`.
                let pool = pool.clone();
                tokio::spawn(async move { pool.begin().await })
                    .await
                    .map_err(|_| DbError::closed())?
                    .map(|tx| Tx(TxInner::Postgres(tx)))
                    .map_err(DbError::pg)
            }
        }
    }

    /// Closes the connections; later statements fail.
    pub(crate) async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(db) => db.close().await,
            Engine::Postgres(pool) => pool.close().await,
        }
    }

    /// Connections open now.
    pub(crate) fn size(&self) -> u32 {
        match &self.engine {
            Engine::Sqlite(db) => db.size(self.write),
            Engine::Postgres(pool) => pool.size(),
        }
    }
}

/// A transaction; dropping it without [`Tx::commit`] rolls it back.
pub(crate) struct Tx(TxInner);

enum TxInner {
    Sqlite(sqlite::Tx),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), DbError> {
        match self.0 {
            TxInner::Sqlite(tx) => tx.commit().await,
            TxInner::Postgres(tx) => tx.commit().await.map_err(DbError::pg),
        }
    }

    /// Runs `script` (several statements, no parameters) in the transaction: migrations.
    pub(crate) async fn execute_script(&mut self, script: &str) -> Result<(), DbError> {
        match &mut self.0 {
            TxInner::Sqlite(tx) => tx.execute_script(script).await,
            TxInner::Postgres(tx) => {
                // A plain string without arguments runs as a multi-statement script
                // (PostgreSQL's simple query protocol).
                sqlx::Executor::execute(&mut **tx, script)
                    .await
                    .map(drop)
                    .map_err(DbError::pg)
            }
        }
    }
}

/// What a statement runs on.
pub(crate) enum Exec<'e> {
    /// A pool: one statement, committed on its own.
    Pool(&'e Pool),
    /// An open transaction.
    Tx(&'e mut Tx),
}

impl<'e> From<&'e Pool> for Exec<'e> {
    fn from(pool: &'e Pool) -> Self {
        Exec::Pool(pool)
    }
}

impl<'e> From<&'e mut Tx> for Exec<'e> {
    fn from(tx: &'e mut Tx) -> Self {
        Exec::Tx(tx)
    }
}

/// What a statement produced.
pub(crate) struct Output {
    /// Its rows (none for a statement without results).
    pub(crate) rows: Vec<Row>,
    /// Rows changed by an `INSERT`, `UPDATE` or `DELETE`.
    pub(crate) affected: u64,
}

/// Whether the caller wants rows back or only the count of rows changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Rows,
    Affected,
}

async fn run(on: Exec<'_>, sql: &str, args: &[Value<'_>], want: Want) -> Result<Output, DbError> {
    match on {
        Exec::Pool(pool) => match &pool.engine {
            Engine::Sqlite(db) => {
                if pool.write {
                    db.write(sql, args).await
                } else {
                    db.read(sql, args).await
                }
            }
            Engine::Postgres(pg) => postgres::run(pg, sql, args, want).await,
        },
        Exec::Tx(tx) => match &mut tx.0 {
            TxInner::Sqlite(tx) => tx.run(sql, args).await,
            TxInner::Postgres(tx) => postgres::run(&mut **tx, sql, args, want).await,
        },
    }
}

/// A statement and its parameters.
pub(crate) struct Query<'q> {
    sql: &'q str,
    args: Vec<Value<'q>>,
}

/// A statement with `$n` placeholders (`$1` is the first [`Query::bind`]).
pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// The number of rows a statement changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done(u64);

impl Done {
    /// Rows inserted, updated or deleted.
    pub(crate) fn rows_affected(&self) -> u64 {
        self.0
    }
}

impl<'q> Query<'q> {
    /// Binds the next placeholder.
    pub(crate) fn bind<T: Encode<'q>>(mut self, value: T) -> Self {
        self.args.push(value.encode());
        self
    }

    /// Runs the statement for its effect.
    pub(crate) async fn execute<'e>(self, on: impl Into<Exec<'e>>) -> Result<Done, DbError> {
        let out = run(on.into(), self.sql, &self.args, Want::Affected).await?;
        Ok(Done(out.affected))
    }

    /// Its first row, if any.
    pub(crate) async fn fetch_optional<'e>(
        self,
        on: impl Into<Exec<'e>>,
    ) -> Result<Option<Row>, DbError> {
        let out = run(on.into(), self.sql, &self.args, Want::Rows).await?;
        Ok(out.rows.into_iter().next())
    }

    /// All its rows.
    pub(crate) async fn fetch_all<'e>(self, on: impl Into<Exec<'e>>) -> Result<Vec<Row>, DbError> {
        Ok(run(on.into(), self.sql, &self.args, Want::Rows).await?.rows)
    }

    /// Its first row; none is an error.
    pub(crate) async fn fetch_one<'e>(self, on: impl Into<Exec<'e>>) -> Result<Row, DbError> {
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| DbError::decode("the statement returned no row".into()))
    }
}

/// A statement whose rows are one value each.
pub(crate) struct QueryScalar<'q, T> {
    query: Query<'q>,
    _type: PhantomData<fn() -> T>,
}

/// A statement whose rows are read as their first column, a `T`.
pub(crate) fn query_scalar<T: Decode>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        query: query(sql),
        _type: PhantomData,
    }
}

impl<'q, T: Decode> QueryScalar<'q, T> {
    /// Binds the next placeholder.
    pub(crate) fn bind<V: Encode<'q>>(mut self, value: V) -> Self {
        self.query = self.query.bind(value);
        self
    }

    /// The first row's value; no row is an error.
    pub(crate) async fn fetch_one<'e>(self, on: impl Into<Exec<'e>>) -> Result<T, DbError> {
        self.query.fetch_one(on).await?.try_get(0)
    }

    /// The first row's value, if there is a row.
    pub(crate) async fn fetch_optional<'e>(
        self,
        on: impl Into<Exec<'e>>,
    ) -> Result<Option<T>, DbError> {
        self.query
            .fetch_optional(on)
            .await?
            .map(|row| row.try_get(0))
            .transpose()
    }

    /// Every row's value.
    #[cfg(test)]
    pub(crate) async fn fetch_all<'e>(self, on: impl Into<Exec<'e>>) -> Result<Vec<T>, DbError> {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect()
    }
}

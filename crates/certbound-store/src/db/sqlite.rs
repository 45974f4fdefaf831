//! SQLite, run in place: statements execute on the calling thread, on connections this module
//! owns, with their prepared statements cached per connection.
//!
//! - **One writer connection** behind an async lock: writes and transactions queue on it (a
//!   task waiting for it yields its worker), so writers never fight over SQLite's lock inside
//!   this process. A transaction holds the lock from `BEGIN IMMEDIATE` to `COMMIT`; dropping
//!   it unfinished rolls back at once.
//! - **Reader connections** in a small pool: a read takes one, runs, and puts it back. WAL
//!   readers never wait for the writer. `sqlite::memory:` has only the writer connection
//!   (another connection would see another, empty database), and reads use it too.
//! - **Checkpoints off the request path.** A commit in WAL mode does not touch the database
//!   file and, with `synchronous = NORMAL`, does not fsync: it is microseconds of work. Copying
//!   the WAL back (a checkpoint, with its fsyncs) is what SQLite would otherwise do inside the
//!   commit that crosses 1000 pages, blocking that thread. Here a thread of the store runs a
//!   `PASSIVE` checkpoint every [`CHECKPOINT_EVERY`] when something was written; the writer's
//!   own automatic checkpoint is kept only as a backstop, at [`BACKSTOP_PAGES`].
//!
//! A statement blocks its thread only for its own microseconds, or, when another *process*
//! holds the write lock (a `certbound` command writing the same file), for as long as that
//! process holds it, up to the 5 s busy timeout.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::{DbError, Output, Row, SqliteValue, Value};

/// How often the checkpoint thread looks for new writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL pages after which a commit checkpoints by itself (SQLite's default is 1000): only
/// reached if the checkpoint thread falls behind (~40 MiB of WAL with 4 KiB pages).
const BACKSTOP_PAGES: u32 = 10_000;

/// Prepared statements kept per connection (the store has a few dozen distinct statements;
/// group commits add one per batch size).
const STATEMENT_CACHE: usize = 128;

/// Pragmas set on every connection (WAL itself is set once, when opening the file).
const PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// Busy timeout of every connection: how long a statement waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the store and its checkpoint thread share.
struct Shared {
    /// Something was committed since the last checkpoint.
    dirty: AtomicBool,
    /// [`SqliteDb::close`] was called.
    closed: AtomicBool,
}

/// A SQLite database: its writer connection, its idle reader connections, and how to open
/// more.
pub(crate) struct SqliteDb {
    writer: Arc<AsyncMutex<Option<Connection>>>,
    readers: Mutex<Vec<Connection>>,
    /// Idle reader connections kept at most.
    max_idle_readers: usize,
    /// `None` for `sqlite::memory:` (everything on the writer).
    file: Option<FileTarget>,
    shared: Arc<Shared>,
    /// The checkpoint thread: dropping the sender stops it.
    checkpointer: Mutex<Option<Checkpointer>>,
}

/// The checkpoint thread of a file database.
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// How to open another connection to the same file.
#[derive(Clone)]
struct FileTarget {
    /// A SQLite URI filename (`file:PATH?PARAMS`): the URL's parameters (`mode=ro`, ...) keep
    /// their SQLite meaning.
    uri: String,
    read_only: bool,
}

impl FileTarget {
    /// Parses `sqlite://PATH?PARAMS` as the store's URL parser left it.
    fn from_url(url: &str) -> FileTarget {
        let rest = url.strip_prefix("sqlite://").unwrap_or(url);
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = String::with_capacity(path.len() + params.len() + 6);
        uri.push_str("file:");
        for c in path.chars() {
            // The characters a URI filename gives a meaning to.
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        if !params.is_empty() {
            uri.push('?');
            uri.push_str(params);
        }
        FileTarget {
            uri,
            read_only: params.split('&').any(|p| p == "mode=ro"),
        }
    }

    fn open(&self) -> Result<Connection, DbError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.uri, flags).map_err(DbError::sqlite)?;
        configure(&conn)?;
        Ok(conn)
    }
}

/// Per-connection settings.
fn configure(conn: &Connection) -> Result<(), DbError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(DbError::sqlite)?;
    conn.execute_batch(PRAGMAS).map_err(DbError::sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteDb {
    /// Opens `url` (as the store's URL parser left it): switches the file to WAL mode (it
    /// stays so), opens the writer and one reader, and starts the checkpoint thread.
    pub(crate) fn open_file(url: &str, max_readers: u32) -> Result<SqliteDb, DbError> {
        let file = FileTarget::from_url(url);
        let writer = file.open()?;
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(DbError::sqlite)?;
        writer
            .execute_batch(&format!("PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES};"))
            .map_err(DbError::sqlite)?;
        let reader = file.open()?;
        let shared = Arc::new(Shared {
            dirty: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let checkpointer = if file.read_only {
            None
        } else {
            spawn_checkpointer(file.clone(), Arc::clone(&shared))
        };
        Ok(SqliteDb {
            writer: Arc::new(AsyncMutex::new(Some(writer))),
            readers: Mutex::new(vec![reader]),
            max_idle_readers: usize::try_from(max_readers).unwrap_or(4).max(1),
            file: Some(file),
            shared,
            checkpointer: Mutex::new(checkpointer),
        })
    }

    /// An in-memory database: one connection, lost when the store closes.
    pub(crate) fn open_memory() -> Result<SqliteDb, DbError> {
        let conn = Connection::open_in_memory().map_err(DbError::sqlite)?;
        configure(&conn)?;
        Ok(SqliteDb {
            writer: Arc::new(AsyncMutex::new(Some(conn))),
            readers: Mutex::new(Vec::new()),
            max_idle_readers: 0,
            file: None,
            shared: Arc::new(Shared {
                dirty: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
            checkpointer: Mutex::new(None),
        })
    }

    fn idle_readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a statement on the writer connection (committed on its own).
    pub(crate) async fn write(&self, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
        let writer = self.writer.lock().await;
        let conn = writer.as_ref().ok_or_else(DbError::closed)?;
        let out = run(conn, sql, args);
        self.shared.dirty.store(true, Ordering::Relaxed);
        out
    }

    /// Runs a statement on a reader connection (the writer's for an in-memory database).
    pub(crate) async fn read(&self, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
        let Some(file) = &self.file else {
            let writer = self.writer.lock().await;
            let conn = writer.as_ref().ok_or_else(DbError::closed)?;
            return run(conn, sql, args);
        };
        if self.shared.closed.load(Ordering::Relaxed) {
            return Err(DbError::closed());
        }
        let idle = self.idle_readers().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => file.open()?,
        };
        let out = run(&conn, sql, args);
        let mut idle = self.idle_readers();
        if idle.len() < self.max_idle_readers && !self.shared.closed.load(Ordering::Relaxed) {
            idle.push(conn);
        }
        out
    }

    /// Starts a write transaction: takes the writer connection until commit or drop.
    pub(crate) async fn begin(&self) -> Result<Tx, DbError> {
        let conn = Arc::clone(&self.writer).lock_owned().await;
        let mut tx = Tx {
            conn,
            open: false,
            shared: Arc::clone(&self.shared),
        };
        run(tx.conn()?, "BEGIN IMMEDIATE", &[])?;
        tx.open = true;
        Ok(tx)
    }

    /// Closes every connection (the checkpoint thread's too, waiting for it to end); later
    /// statements fail with "the store is closed".
    pub(crate) async fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(Checkpointer { stop, thread }) = checkpointer {
            drop(stop);
            // At most one checkpoint to finish: milliseconds.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        self.idle_readers().clear();
        self.writer.lock().await.take();
    }

    /// Connections open: the writer, or the idle readers (for memory, the writer for both).
    pub(crate) fn size(&self, write: bool) -> u32 {
        if write || self.file.is_none() {
            u32::from(!self.shared.closed.load(Ordering::Relaxed))
        } else {
            u32::try_from(self.idle_readers().len()).unwrap_or(u32::MAX)
        }
    }
}

/// A write transaction on the writer connection.
pub(crate) struct Tx {
    conn: OwnedMutexGuard<Option<Connection>>,
    /// `BEGIN` ran and neither `COMMIT` nor `ROLLBACK` has.
    open: bool,
    shared: Arc<Shared>,
}

impl Tx {
    fn conn(&self) -> Result<&Connection, DbError> {
        self.conn.as_ref().ok_or_else(DbError::closed)
    }

    /// Runs a statement in the transaction.
    pub(crate) fn run(&mut self, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
        run(self.conn()?, sql, args)
    }

    /// Runs a script (several statements, no parameters) in the transaction.
    pub(crate) fn execute_script(&mut self, script: &str) -> Result<(), DbError> {
        self.conn()?.execute_batch(script).map_err(DbError::sqlite)
    }

    /// Commits; on failure, dropping `self` rolls back.
    pub(crate) fn commit(mut self) -> Result<(), DbError> {
        run(self.conn()?, "COMMIT", &[])?;
        self.open = false;
        self.shared.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            if let Ok(conn) = self.conn() {
                if let Err(e) = run(conn, "ROLLBACK", &[]) {
                    tracing::warn!(error = %e, "rolling back a SQLite transaction failed");
                }
            }
        }
    }
}

/// Runs `sql` on `conn`: binds `args` by their `$n` names, steps through every row (a
/// statement with `RETURNING` does its work as it is stepped), and copies the rows out.
fn run(conn: &Connection, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
    let mut stmt = conn.prepare_cached(sql).map_err(DbError::sqlite)?;
    for index in 1..=stmt.parameter_count() {
        let value = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| args.get(n))
            .ok_or_else(|| {
                DbError::decode(format!(
                    "placeholder {index} of a statement is not one of $1..${}",
                    args.len()
                ))
            })?;
        let bound = match value {
            Value::Int(i) => stmt.raw_bind_parameter(index, *i),
            Value::Text(s) => stmt.raw_bind_parameter(index, s.as_ref()),
            Value::Blob(b) => stmt.raw_bind_parameter(index, b.as_ref()),
            Value::Null(_) => stmt.raw_bind_parameter(index, rusqlite::types::Null),
        };
        bound.map_err(DbError::sqlite)?;
    }
    let columns = stmt.column_count();
    let names: Arc<[Box<str>]> = stmt.column_names().into_iter().map(Box::from).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(DbError::sqlite)? {
        let mut values = Vec::with_capacity(columns);
        for column in 0..columns {
            values.push(owned(row.get_ref(column).map_err(DbError::sqlite)?)?);
        }
        out.push(Row::Sqlite {
            names: Arc::clone(&names),
            values,
        });
    }
    drop(rows);
    Ok(Output {
        rows: out,
        affected: conn.changes(),
    })
}

/// A column value copied out of SQLite; text that is not UTF-8 is an error, not a panic.
fn owned(value: ValueRef<'_>) -> Result<SqliteValue, DbError> {
    Ok(match value {
        ValueRef::Null => SqliteValue::Null,
        ValueRef::Integer(i) => SqliteValue::Integer(i),
        ValueRef::Real(r) => SqliteValue::Real(r),
        ValueRef::Text(t) => SqliteValue::Text(match String::from_utf8_lossy(t) {
            Cow::Borrowed(s) => s.to_owned(),
            Cow::Owned(_) => return Err(DbError::decode("text that is not UTF-8".into())),
        }),
        ValueRef::Blob(b) => SqliteValue::Blob(b.to_vec()),
    })
}

/// Starts the thread that checkpoints the WAL while the store is open; it ends when its
/// sender is dropped ([`SqliteDb::close`], or the store dropped).
fn spawn_checkpointer(file: FileTarget, shared: Arc<Shared>) -> Option<Checkpointer> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let started = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let conn = match file.open() {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite checkpoint thread cannot open the database; commits will checkpoint");
                    return;
                }
            };
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                if shared.dirty.swap(false, Ordering::Relaxed) {
                    if let Err(e) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::debug!(error = %e, "SQLite checkpoint failed; retried later");
                        shared.dirty.store(true, Ordering::Relaxed);
                    }
                }
            }
        });
    match started {
        Ok(thread) => Some(Checkpointer { stop, thread }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the SQLite checkpoint thread; commits will checkpoint");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_targets_keep_the_parameters_and_escape_the_path() {
        let t = FileTarget::from_url("sqlite://data/cb.db?mode=rwc");
        assert_eq!(t.uri, "file:data/cb.db?mode=rwc");
        assert!(!t.read_only);
        let t = FileTarget::from_url("sqlite:///var/lib/a%b#c.db?mode=ro");
        assert_eq!(t.uri, "file:/var/lib/a%25b%23c.db?mode=ro");
        assert!(t.read_only);
    }

    #[test]
    fn placeholders_bind_by_number_whatever_their_order() {
        let conn = Connection::open_in_memory().expect("memory");
        let out = run(
            &conn,
            "SELECT $2, $1, $2 + 1",
            &[Value::Int(1), Value::Int(41)],
        )
        .expect("select");
        let row = &out.rows[0];
        assert_eq!(row.try_get::<i64, _>(0usize).expect("$2"), 41);
        assert_eq!(row.try_get::<i64, _>(1usize).expect("$1"), 1);
        assert_eq!(row.try_get::<i64, _>(2usize).expect("$2 + 1"), 42);
        // A placeholder without an argument is an error, not a NULL.
        assert!(run(&conn, "SELECT $3", &[Value::Int(1)]).is_err());
        assert!(run(&conn, "SELECT ?", &[Value::Int(1)]).is_err());
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error() {
        let conn = Connection::open_in_memory().expect("memory");
        assert!(run(&conn, "SELECT CAST(x'ff' AS TEXT)", &[]).is_err());
    }

    async fn count(db: &SqliteDb) -> i64 {
        let out = db.read("SELECT COUNT(*) FROM t", &[]).await.expect("count");
        out.rows[0].try_get::<i64, _>(0usize).expect("count")
    }

    #[tokio::test]
    async fn a_transaction_dropped_unfinished_is_rolled_back() {
        let db = SqliteDb::open_memory().expect("memory");
        db.write("CREATE TABLE t (x INTEGER PRIMARY KEY)", &[])
            .await
            .expect("table");
        let mut tx = db.begin().await.expect("begin");
        tx.run("INSERT INTO t (x) VALUES ($1)", &[Value::Int(1)])
            .expect("insert");
        drop(tx);
        assert_eq!(count(&db).await, 0, "rolled back");
        // And the writer is free again: a committed transaction sticks.
        let mut tx = db.begin().await.expect("begin again");
        tx.run("INSERT INTO t (x) VALUES ($1)", &[Value::Int(2)])
            .expect("insert");
        tx.commit().expect("commit");
        assert_eq!(count(&db).await, 1);
    }

    /// The WAL is copied back by the store's thread, so it restarts from its beginning instead
    /// of growing until a commit crosses the backstop; closing closes every connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_off_the_request_path_and_close_closes_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.db");
        let db =
            SqliteDb::open_file(&format!("sqlite://{}?mode=rwc", path.display()), 2).expect("open");
        db.write("CREATE TABLE t (x INTEGER PRIMARY KEY, pad BLOB)", &[])
            .await
            .expect("table");
        let wal = dir.path().join("wal.db-wal");
        let mut sizes = Vec::new();
        for round in 0..3i64 {
            // 300 commits of a page each: far below the backstop's 10 000 pages.
            for i in 0..300 {
                db.write(
                    "INSERT INTO t (x, pad) VALUES ($1, $2)",
                    &[
                        Value::Int(round * 1000 + i),
                        Value::Blob(vec![7u8; 3000].into()),
                    ],
                )
                .await
                .expect("insert");
            }
            sizes.push(std::fs::metadata(&wal).expect("wal").len());
            // Time for the checkpoint thread (every 250 ms) to copy the WAL back.
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
        assert_eq!(count(&db).await, 900);
        // Without checkpoints the WAL would hold all 900 commits: three times the first round.
        assert!(
            sizes[2] < sizes[0] * 2,
            "the WAL kept growing: {sizes:?} bytes after each round"
        );
        db.close().await;
        assert!(db.read("SELECT 1", &[]).await.is_err(), "closed");
        // SQLite removes the WAL when the last connection to the file closes: close() has
        // closed them all, the checkpoint thread's included.
        assert!(!wal.exists(), "a connection is still open after close()");
    }
}

//! SQLite: reads in place, writes on the store's writer thread.
//!
//! - **Reads run in place**, on the calling thread, on reader connections kept in a small
//!   pool, with their prepared statements cached per connection. A point read is ~2 µs of
//!   work, against ~20 µs when every statement is handed to a connection's own thread and back
//!   (NOTES.md, stop 22). A WAL reader never waits for the writer and never syncs.
//! - **Writes run on one writer thread**, which owns the writer connection. They are as cheap
//!   as reads almost always, but a commit can block on the disk: the first commit after the
//!   WAL has been fully checkpointed rewrites the WAL header and fsyncs it (SQLite does so even
//!   with `synchronous = NORMAL`: an out-of-order write after a WAL restart could corrupt the
//!   database), and the commit that crosses 1000 WAL pages checkpoints, with fsyncs. Measured
//!   on this VM, such an fsync took 17–48 ms. Made on an async worker, it stalled every
//!   request of that worker; on the writer thread it delays only the writes queued behind it.
//!   A write is one hop to that thread and back (~15 µs of CPU with the two context switches
//!   when the server has one core), against a hop per statement, reads included, with a driver
//!   thread per connection.
//! - **Transactions** hold the store's async write lock from `BEGIN IMMEDIATE` to `COMMIT`
//!   (a task waiting for it yields its worker), so in-process writers queue instead of
//!   fighting over SQLite's lock, and a statement outside the transaction never slips into
//!   it. Dropping one unfinished queues its `ROLLBACK` before the lock is released.
//!   Their `BEGIN` and statements run **in place** on the writer connection when the writer
//!   thread has nothing queued: until `COMMIT`, SQLite only changes pages in memory (its WAL
//!   frames, the header fsync and the checkpoint all happen in the commit), so only the
//!   `COMMIT` needs the writer thread. The in-place `BEGIN` does not wait for another
//!   process's lock (SQLite's busy handler would sleep on the async worker): busy, it goes to
//!   the writer thread, which waits up to the busy timeout. A statement in a transaction thus
//!   runs on the async worker like a read: keep transactions to indexed, bounded statements
//!   (the store's are: a code, a grant, a user's rows); bulk work (the purge's batched deletes,
//!   migration scripts) runs as single statements or scripts on the writer thread.
//! - **Checkpoints** are SQLite's own (every 1000 WAL pages, inside the commit that crosses
//!   them), so they too run on the writer thread. A separate thread checkpointing every 250 ms
//!   was tried: it made those fsyncs slower and more frequent (code-flow p99 27 → 51 ms), so it
//!   was dropped.
//! - `sqlite::memory:` has only the writer connection (another connection would see another,
//!   empty database): reads go to the writer thread too.
//!
//! A read blocks its thread only for its own microseconds; a write can wait, on the writer
//! thread, for as long as another *process* holds the write lock (a `certbound` command
//! writing the same file), up to the 5 s busy timeout.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, Mutex as AsyncMutex, OwnedMutexGuard};

use super::{DbError, Output, Row, SqliteValue, Value};

/// Prepared statements kept per connection (the store has a few dozen distinct statements;
/// group commits add one per batch size).
const STATEMENT_CACHE: usize = 128;

/// Pragmas set on every connection (WAL itself is set once, when opening the file).
const PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// Busy timeout of every connection: how long a statement waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Work for the writer thread: it runs with the connection locked and returns the delivery of
/// its answer, made once the connection is unlocked, so that the task it wakes (which may
/// preempt the writer thread on a busy core) finds the connection free for a statement in place.
type Job = Box<dyn FnOnce(&Connection) -> Deliver + Send>;

/// Sends a job's answer.
type Deliver = Box<dyn FnOnce() + Send>;

/// The delivery of a job nobody waits for.
fn no_answer() -> Deliver {
    Box::new(|| {})
}

/// A SQLite database: its writer thread, its idle reader connections, and how to open more.
pub(crate) struct SqliteDb {
    /// The right to write: held for one statement, or by a transaction from begin to end.
    write_lock: Arc<AsyncMutex<()>>,
    /// The writer thread's queue and connection; `None` once closed.
    writer_handle: Mutex<Option<WriterHandle>>,
    readers: Mutex<Vec<Connection>>,
    /// Idle reader connections kept at most.
    max_idle_readers: usize,
    /// `None` for `sqlite::memory:` (everything on the writer).
    file: Option<FileTarget>,
    /// [`SqliteDb::close`] was called.
    closed: AtomicBool,
    /// The writer thread; joined by `close`.
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The writer connection, shared by the writer thread and the transaction holding the write
/// lock.
struct WriterConn {
    /// Locked by the writer thread for each job, and by a statement run in place; `None` once
    /// the writer thread has closed it.
    conn: Mutex<Option<Connection>>,
    /// Jobs sent to the writer thread and not finished: counted before they are sent, and
    /// uncounted by the thread before it unlocks `conn`. Read under `conn`'s lock, zero means
    /// nothing is queued that must run before a statement in place.
    pending: AtomicUsize,
}

/// The way to the writer connection: its thread's queue, or in place.
#[derive(Clone)]
struct WriterHandle {
    jobs: mpsc::Sender<Job>,
    shared: Arc<WriterConn>,
}

impl WriterHandle {
    /// Queues `job` for the writer thread.
    fn send(&self, job: Job) -> Result<(), DbError> {
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        self.jobs.send(job).map_err(|_| {
            self.shared.pending.fetch_sub(1, Ordering::SeqCst);
            DbError::closed()
        })
    }

    /// Runs `work` on the writer connection on this thread, if the writer thread is idle with
    /// nothing queued (whatever is queued must run first); `None` otherwise. Never waits for
    /// the thread's current job.
    fn in_place<T>(&self, work: impl FnOnce(&Connection) -> T) -> Option<T> {
        let conn = match self.shared.conn.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        if self.shared.pending.load(Ordering::SeqCst) != 0 {
            return None;
        }
        conn.as_ref().map(work)
    }
}

/// How to open another connection to the same file.
#[derive(Clone)]
struct FileTarget {
    /// A SQLite URI filename (`file:PATH?PARAMS`): the URL's parameters (`mode=ro`, ...) keep
    /// their SQLite meaning.
    uri: String,
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
        FileTarget { uri }
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteDb {
    /// Opens `url` (as the store's URL parser left it): switches the file to WAL mode (it
    /// stays so), starts the writer thread on the writer connection, and opens one reader.
    pub(crate) fn open_file(url: &str, max_readers: u32) -> Result<SqliteDb, DbError> {
        let file = FileTarget::from_url(url);
        let writer = file.open()?;
        switch_to_wal(&writer)?;
        let reader = file.open()?;
        SqliteDb::with_writer(writer, Some(file), max_readers, vec![reader])
    }

    /// An in-memory database: one connection, lost when the store closes.
    pub(crate) fn open_memory() -> Result<SqliteDb, DbError> {
        let conn = Connection::open_in_memory().map_err(DbError::sqlite)?;
        configure(&conn)?;
        SqliteDb::with_writer(conn, None, 0, Vec::new())
    }

    fn with_writer(
        writer: Connection,
        file: Option<FileTarget>,
        max_readers: u32,
        readers: Vec<Connection>,
    ) -> Result<SqliteDb, DbError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let shared = Arc::new(WriterConn {
            conn: Mutex::new(Some(writer)),
            pending: AtomicUsize::new(0),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                // Runs until the store drops its sender (close, or the store dropped), then
                // closes the connection.
                while let Ok(job) = queue.recv() {
                    let deliver = {
                        let conn = lock(&thread_shared.conn);
                        let deliver = conn.as_ref().map(job);
                        thread_shared.pending.fetch_sub(1, Ordering::SeqCst);
                        deliver
                    };
                    if let Some(deliver) = deliver {
                        deliver();
                    }
                }
                drop(lock(&thread_shared.conn).take());
            })
            .map_err(|e| DbError::other(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(SqliteDb {
            write_lock: Arc::new(AsyncMutex::new(())),
            writer_handle: Mutex::new(Some(WriterHandle { jobs, shared })),
            readers: Mutex::new(readers),
            max_idle_readers: usize::try_from(max_readers).unwrap_or(4),
            file,
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(thread)),
        })
    }

    fn writer_handle(&self) -> Result<WriterHandle, DbError> {
        lock(&self.writer_handle)
            .clone()
            .ok_or_else(DbError::closed)
    }

    /// Runs a statement on the writer connection (committed on its own).
    pub(crate) async fn write(&self, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
        let _writing = self.write_lock.lock().await;
        on_writer(&self.writer_handle()?, sql, args).await
    }

    /// Runs a statement on a reader connection, in place (on the writer for an in-memory
    /// database).
    pub(crate) async fn read(&self, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
        let Some(file) = &self.file else {
            let _writing = self.write_lock.lock().await;
            return on_writer(&self.writer_handle()?, sql, args).await;
        };
        if self.closed.load(Ordering::Relaxed) {
            return Err(DbError::closed());
        }
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => file.open()?,
        };
        let out = run(&conn, sql, args);
        let mut idle = lock(&self.readers);
        if idle.len() < self.max_idle_readers && !self.closed.load(Ordering::Relaxed) {
            idle.push(conn);
        }
        out
    }

    /// Starts a write transaction: holds the write lock until commit or drop.
    pub(crate) async fn begin(&self) -> Result<Tx, DbError> {
        let writing = Arc::clone(&self.write_lock).lock_owned().await;
        // Open from the moment `BEGIN` is sent: if this future is dropped before the answer,
        // `Drop` queues the rollback behind it, and the writer connection is never left inside
        // a transaction nobody owns.
        let mut tx = Tx {
            writer: self.writer_handle()?,
            _writing: writing,
            open: true,
        };
        match tx.writer.in_place(begin_without_waiting) {
            Some(Ok(())) => return Ok(tx),
            Some(Err(e)) if !is_busy(&e) => {
                tx.open = false;
                return Err(DbError::sqlite(e));
            }
            // Another process holds SQLite's write lock, or the writer thread has work queued.
            Some(Err(_)) | None => {}
        }
        if let Err(e) = on_writer(&tx.writer, "BEGIN IMMEDIATE", &[]).await {
            tx.open = false;
            return Err(e);
        }
        Ok(tx)
    }

    /// Closes every connection, waiting for the writer thread to finish the work queued; later
    /// statements fail with "the store is closed".
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        lock(&self.writer_handle).take();
        lock(&self.readers).clear();
        let writer = lock(&self.writer).take();
        if let Some(writer) = writer {
            // The writer finishes its queue (microseconds of work, or a checkpoint's
            // milliseconds), then returns and closes its connection.
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    /// Connections open: the writer, or the idle readers (for memory, the writer for both).
    pub(crate) fn size(&self, write: bool) -> u32 {
        if write || self.file.is_none() {
            u32::from(lock(&self.writer_handle).is_some())
        } else {
            u32::try_from(lock(&self.readers).len()).unwrap_or(u32::MAX)
        }
    }
}

/// Switches the database file to WAL mode (it stays so; a no-op once done). The first switch
/// of a new file takes an exclusive lock, and SQLite answers "busy" at once, without its busy
/// handler, when two connections want to escalate their locks together (several servers
/// starting on one new file): so it is retried here, up to the busy timeout. Start-up only.
fn switch_to_wal(conn: &Connection) -> Result<(), DbError> {
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())) {
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            done => return done.map_err(DbError::sqlite),
        }
    }
}

/// `BEGIN IMMEDIATE` without SQLite's busy handler: it fails at once if another process holds
/// the write lock, instead of sleeping on the calling thread.
fn begin_without_waiting(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::ZERO)?;
    let begun = conn.execute_batch("BEGIN IMMEDIATE");
    if let Err(e) = conn.busy_timeout(BUSY_TIMEOUT) {
        // An error means "no transaction" to the caller: never leave one open behind it.
        if begun.is_ok() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(e);
    }
    begun
}

/// SQLite's "another connection holds the lock".
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs a statement on the writer thread and waits for its answer.
async fn on_writer(
    writer: &WriterHandle,
    sql: &str,
    args: &[Value<'_>],
) -> Result<Output, DbError> {
    let sql = sql.to_owned();
    let args: Vec<Value<'static>> = args.iter().map(Value::to_owned_value).collect();
    ask_writer(writer, move |conn| run(conn, &sql, &args)).await
}

/// Runs `work` on the writer thread and waits for its answer.
async fn ask_writer<T: Send + 'static>(
    writer: &WriterHandle,
    work: impl FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    let (answer, answered) = oneshot::channel();
    writer.send(Box::new(move |conn: &Connection| -> Deliver {
        let out = work(conn);
        Box::new(move || {
            let _ = answer.send(out);
        })
    }))?;
    answered.await.map_err(|_| DbError::closed())?
}

/// A write transaction: the write lock, and the way to the writer connection.
pub(crate) struct Tx {
    writer: WriterHandle,
    /// Released after `Drop` has queued the rollback, so the next writer's statements run after
    /// it.
    _writing: OwnedMutexGuard<()>,
    /// `BEGIN` ran and neither `COMMIT` nor `ROLLBACK` has.
    open: bool,
}

impl Tx {
    /// Runs a statement in the transaction: in place when the writer thread is idle (no disk
    /// write happens before `COMMIT`), else on that thread after what is queued.
    pub(crate) async fn run(&mut self, sql: &str, args: &[Value<'_>]) -> Result<Output, DbError> {
        match self.writer.in_place(|conn| run(conn, sql, args)) {
            Some(out) => out,
            None => on_writer(&self.writer, sql, args).await,
        }
    }

    /// Runs a script (several statements, no parameters) in the transaction.
    pub(crate) async fn execute_script(&mut self, script: &str) -> Result<(), DbError> {
        let script = script.to_owned();
        ask_writer(&self.writer, move |conn| {
            conn.execute_batch(&script).map_err(DbError::sqlite)
        })
        .await
    }

    /// Commits, on the writer thread (the commit writes the WAL, and can fsync); on failure,
    /// dropping `self` rolls back.
    pub(crate) async fn commit(mut self) -> Result<(), DbError> {
        on_writer(&self.writer, "COMMIT", &[]).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            // Queued before the write lock is released (fields drop after this), so it runs
            // before any other writer's statement; a no-op if a `COMMIT` in flight when the
            // future was dropped has ended the transaction already.
            let _ = self.writer.send(Box::new(|conn: &Connection| -> Deliver {
                if !conn.is_autocommit() {
                    if let Err(e) = conn.execute_batch("ROLLBACK") {
                        tracing::warn!(error = %e, "rolling back a SQLite transaction failed");
                    }
                }
                no_answer()
            }));
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
        ValueRef::Text(t) => SqliteValue::Text(
            std::str::from_utf8(t)
                .map_err(|_| DbError::decode("text that is not UTF-8".into()))?
                .to_owned(),
        ),
        ValueRef::Blob(b) => SqliteValue::Blob(b.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_targets_keep_the_parameters_and_escape_the_path() {
        let t = FileTarget::from_url("sqlite://data/cb.db?mode=rwc");
        assert_eq!(t.uri, "file:data/cb.db?mode=rwc");
        let t = FileTarget::from_url("sqlite:///var/lib/a%b#c.db?mode=ro");
        assert_eq!(t.uri, "file:/var/lib/a%25b%23c.db?mode=ro");
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
            .await
            .expect("insert");
        drop(tx);
        assert_eq!(count(&db).await, 0, "rolled back");
        // And the writer is free again: a committed transaction sticks.
        let mut tx = db.begin().await.expect("begin again");
        tx.run("INSERT INTO t (x) VALUES ($1)", &[Value::Int(2)])
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(count(&db).await, 1);
    }

    /// Writes are all done when `close` returns, and every connection is closed then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_finishes_the_queued_writes_and_closes_every_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("close.db");
        let db = Arc::new(
            SqliteDb::open_file(&format!("sqlite://{}?mode=rwc", path.display()), 2).expect("open"),
        );
        db.write("CREATE TABLE t (x INTEGER PRIMARY KEY)", &[])
            .await
            .expect("table");
        let writers: Vec<_> = (0..50i64)
            .map(|i| {
                let db = Arc::clone(&db);
                tokio::spawn(async move {
                    db.write("INSERT INTO t (x) VALUES ($1)", &[Value::Int(i)])
                        .await
                        .expect("insert");
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("writer");
        }
        assert_eq!(count(&db).await, 50);
        let wal = dir.path().join("close.db-wal");
        assert!(wal.exists(), "WAL mode");
        db.close().await;
        assert!(db.read("SELECT 1", &[]).await.is_err(), "closed");
        assert!(
            db.write("INSERT INTO t (x) VALUES (99)", &[])
                .await
                .is_err(),
            "closed"
        );
        // SQLite removes the WAL when the last connection to the file closes (checkpointing
        // it into the database first): close() has closed them all.
        assert!(!wal.exists(), "a connection is still open after close()");
        let reopened = Connection::open(&path).expect("reopen");
        let rows: i64 = reopened
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 50);
    }

    /// A statement in place must never run ahead of a job already queued for the writer
    /// thread (a rollback queued by a dropped transaction, say): with one queued, the way in
    /// place is refused until the thread has run it.
    #[test]
    fn nothing_runs_in_place_while_a_job_is_queued() {
        let (jobs, queue) = mpsc::channel::<Job>();
        let handle = WriterHandle {
            jobs,
            shared: Arc::new(WriterConn {
                conn: Mutex::new(Some(Connection::open_in_memory().expect("memory"))),
                pending: AtomicUsize::new(0),
            }),
        };
        assert_eq!(handle.in_place(|_| 1), Some(1), "idle: in place");
        handle
            .send(Box::new(|conn: &Connection| -> Deliver {
                conn.execute_batch("CREATE TABLE t (x INTEGER)")
                    .expect("table");
                no_answer()
            }))
            .expect("queued");
        assert_eq!(handle.in_place(|_| 1), None, "a job is queued");
        // What the writer thread does with it.
        let job = queue.recv().expect("job");
        {
            let conn = lock(&handle.shared.conn);
            job(conn.as_ref().expect("open"))();
            handle.shared.pending.fetch_sub(1, Ordering::SeqCst);
        }
        let rows = handle.in_place(|conn| {
            conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))
                .expect("the job ran first")
        });
        assert_eq!(rows, Some(0));
        // While the thread runs a job, the way in place is refused too, without waiting.
        let conn = lock(&handle.shared.conn);
        assert_eq!(handle.in_place(|_| 1), None, "the connection is busy");
        drop(conn);
    }

    /// Another process holding SQLite's write lock must not make a `begin` sleep on the async
    /// worker (SQLite's busy handler): it waits on the writer thread, and the worker goes on
    /// running other tasks meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn a_begin_waiting_for_another_process_does_not_block_the_worker() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("busy.db");
        let db = Arc::new(
            SqliteDb::open_file(&format!("sqlite://{}?mode=rwc", path.display()), 2).expect("open"),
        );
        db.write("CREATE TABLE t (x INTEGER PRIMARY KEY)", &[])
            .await
            .expect("table");
        let other = Connection::open(&path).expect("another connection");
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("the other holds the lock");
        let begin = tokio::spawn({
            let db = Arc::clone(&db);
            async move {
                let mut tx = db.begin().await.expect("begins once the lock is free");
                tx.run("INSERT INTO t (x) VALUES (2)", &[])
                    .await
                    .expect("insert");
                tx.commit().await.expect("commit");
            }
        });
        // On a single-threaded runtime these ticks run only if the begin yields the thread.
        let started = std::time::Instant::now();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !begin.is_finished(),
            "the begin waits for the other process"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the worker was blocked while the begin waited"
        );
        other
            .execute_batch("INSERT INTO t (x) VALUES (1); COMMIT")
            .expect("the other commits");
        begin.await.expect("the begin finished");
        assert_eq!(count(&db).await, 2);
        db.close().await;
    }

    /// A `begin` abandoned while its `BEGIN` is on the writer thread (a request cancelled at
    /// that `.await`) must not leave the writer connection inside a transaction: the next
    /// writer's statements would never be committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_begin_cancelled_in_flight_leaves_no_transaction_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("cancel.db");
        let db =
            SqliteDb::open_file(&format!("sqlite://{}?mode=rwc", path.display()), 2).expect("open");
        db.write("CREATE TABLE t (x INTEGER PRIMARY KEY)", &[])
            .await
            .expect("table");
        // Keep the writer thread busy so `BEGIN` waits in its queue: the first poll takes the
        // write lock and sends `BEGIN`, and the zero timeout then drops the future before the
        // answer.
        db.writer_handle()
            .expect("open")
            .send(Box::new(|_: &Connection| -> Deliver {
                std::thread::sleep(Duration::from_millis(200));
                no_answer()
            }))
            .expect("queue");
        let abandoned = tokio::time::timeout(Duration::ZERO, db.begin()).await;
        assert!(abandoned.is_err(), "the begin was abandoned in flight");
        db.write("INSERT INTO t (x) VALUES (1)", &[])
            .await
            .expect("insert");
        assert_eq!(count(&db).await, 1, "the insert is committed and visible");
        let mut tx = db.begin().await.expect("a new transaction begins");
        tx.run("INSERT INTO t (x) VALUES (2)", &[])
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(count(&db).await, 2);
        db.close().await;
    }
}

//! Statements on PostgreSQL, through sqlx (prepared and cached per connection by sqlx).

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::Postgres;

use super::{DbError, Kind, Output, Row, Value, Want};

/// Runs `sql` with `args` on `on` (the pool, or a transaction's connection).
pub(super) async fn run<'c, E>(
    on: E,
    sql: &str,
    args: &[Value<'_>],
    want: Want,
) -> Result<Output, DbError>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let query = args.iter().fold(sqlx::query(sql), bind);
    match want {
        Want::Rows => {
            let rows = query.fetch_all(on).await.map_err(DbError::pg)?;
            Ok(Output {
                rows: rows.into_iter().map(Row::Postgres).collect(),
                affected: 0,
            })
        }
        Want::Affected => {
            let done = query.execute(on).await.map_err(DbError::pg)?;
            Ok(Output {
                rows: Vec::new(),
                affected: done.rows_affected(),
            })
        }
    }
}

fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: &'q Value<'_>,
) -> Query<'q, Postgres, PgArguments> {
    match value {
        Value::Int(i) => query.bind(*i),
        Value::Text(s) => query.bind(s.as_ref()),
        Value::Blob(b) => query.bind(b.as_ref()),
        Value::Null(Kind::Int) => query.bind(None::<i64>),
        Value::Null(Kind::Text) => query.bind(None::<&str>),
        Value::Null(Kind::Blob) => query.bind(None::<&[u8]>),
    }
}

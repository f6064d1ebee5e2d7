//! A connection lent to the shared queries: statements with `$n` parameters, prepared once
//! per connection, and the conversion of values both ways.

use std::error::Error;
use std::future::Future;
use std::task::Poll;

use bytes::BytesMut;
use tokio::runtime::Runtime;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Row, SimpleQueryMessage};
use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::sql::{Dialect, SqlConnection, SqlValue, bind_placeholders};

use super::connection::Connection;
use super::errors::is_unique_violation;
use crate::PostgresDialect;

/// A connection (inside or outside a transaction) lent to the shared queries of
/// [`zenml_metadata_store::sql`], each statement run to completion on the store's runtime.
pub(crate) struct Session<'a> {
    runtime: &'a Runtime,
    connection: &'a mut Connection,
    /// Where the session is in a write transaction.
    transaction: Transaction,
}

/// Where a session is in a write transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transaction {
    /// None: statements run on their own.
    None,
    /// Begun, but `BEGIN` is not sent yet: it goes with the first statement, in the same
    /// round trip.
    Pending,
    /// `BEGIN` was sent.
    Open,
}

impl<'a> Session<'a> {
    /// A session on `connection`.
    pub(crate) fn new(runtime: &'a Runtime, connection: &'a mut Connection) -> Self {
        Session {
            runtime,
            connection,
            transaction: Transaction::None,
        }
    }

    /// Starts a write transaction. `BEGIN` is sent together with the transaction's first
    /// statement, saving a round trip: were `BEGIN` to fail (only a broken connection
    /// makes it), that statement would fail with it.
    pub(crate) fn begin(&mut self) {
        self.transaction = Transaction::Pending;
    }

    /// Commits the transaction (nothing to send when no statement ran in it).
    pub(crate) fn commit(&mut self) -> Result<(), MetadataStoreError> {
        self.end("COMMIT")
    }

    /// Rolls the transaction back (nothing to send when no statement ran in it).
    pub(crate) fn rollback(&mut self) -> Result<(), MetadataStoreError> {
        self.end("ROLLBACK")
    }

    fn end(&mut self, statement: &str) -> Result<(), MetadataStoreError> {
        let open = self.transaction == Transaction::Open;
        self.transaction = Transaction::None;
        if open {
            self.connection
                .run(self.runtime, |client| client.batch_execute(statement))?;
        }
        Ok(())
    }

    /// Sends a pending `BEGIN` on its own, before a statement that cannot go with it.
    fn flush_begin(&mut self) -> Result<(), MetadataStoreError> {
        if self.transaction == Transaction::Pending {
            self.transaction = Transaction::Open;
            self.connection
                .run(self.runtime, |client| client.batch_execute("BEGIN"))?;
        }
        Ok(())
    }

    /// Runs the prepared statement `sql` with `params` through `request`, preceded by a
    /// pending `BEGIN` in the same round trip.
    fn prepared<T>(
        &mut self,
        sql: &str,
        params: &[SqlValue],
        request: impl for<'c> AsyncFnOnce(
            &'c tokio_postgres::Client,
            &'c tokio_postgres::Statement,
            &'c [&'c (dyn ToSql + Sync)],
        ) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, MetadataStoreError> {
        let statement = self
            .connection
            .statement(self.runtime, &bind_placeholders(sql, &PostgresDialect))?;
        let params = Param::list(params);
        let refs = Param::refs(&params);
        let begin = self.transaction == Transaction::Pending;
        if begin {
            self.transaction = Transaction::Open;
        }
        self.connection.run(self.runtime, |client| async move {
            if !begin {
                return request(client, &statement, &refs).await;
            }
            // Both requests are sent before either answer is read: `BEGIN` first.
            let (begun, result) = both(
                client.batch_execute("BEGIN"),
                request(client, &statement, &refs),
            )
            .await;
            begun?;
            result
        })
    }
}

/// Runs two futures to completion together, polling `first` first each time, and returns
/// both outcomes.
async fn both<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    let mut first = std::pin::pin!(first);
    let mut second = std::pin::pin!(second);
    let (mut a, mut b) = (None, None);
    std::future::poll_fn(|cx| {
        if a.is_none()
            && let Poll::Ready(value) = first.as_mut().poll(cx)
        {
            a = Some(value);
        }
        if b.is_none()
            && let Poll::Ready(value) = second.as_mut().poll(cx)
        {
            b = Some(value);
        }
        if a.is_some() && b.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (a, b) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("both futures are ready"),
    }
}

impl SqlConnection for Session<'_> {
    fn dialect(&self) -> &'static dyn Dialect {
        &PostgresDialect
    }

    /// A statement without parameters goes over the simple query protocol: transaction
    /// control and DDL need no preparing.
    fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, MetadataStoreError> {
        if params.is_empty() {
            self.flush_begin()?;
            let messages = self
                .connection
                .run(self.runtime, |client| client.simple_query(sql))?;
            return Ok(messages
                .iter()
                .map(|message| match message {
                    SimpleQueryMessage::CommandComplete(rows) => *rows,
                    _ => 0,
                })
                .sum());
        }
        self.prepared(sql, params, async |client, statement, params| {
            client.execute(statement, params).await
        })
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, MetadataStoreError> {
        let rows = self.prepared(sql, params, async |client, statement, params| {
            client.query(statement, params).await
        })?;
        rows.iter().map(row_values).collect()
    }

    fn is_unique_violation(&self, error: &MetadataStoreError) -> bool {
        is_unique_violation(error)
    }
}

/// A parameter as PostgreSQL receives it: the type comes from the prepared statement (an
/// integer may be bound to `INTEGER`, `BIGINT` or `SMALLINT`; text to any text type).
#[derive(Debug)]
struct Param<'a>(&'a SqlValue);

impl<'a> Param<'a> {
    fn list(values: &'a [SqlValue]) -> Vec<Param<'a>> {
        values.iter().map(Param).collect()
    }

    fn refs<'p>(params: &'p [Param<'a>]) -> Vec<&'p (dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0 {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                _ => Err(format!("an integer cannot be a parameter of type {ty}").into()),
            },
            SqlValue::Text(text) if <&str as ToSql>::accepts(ty) => text.as_str().to_sql(ty, out),
            SqlValue::Text(_) => Err(format!("text cannot be a parameter of type {ty}").into()),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Every type is checked in `to_sql`, with the value at hand.
        true
    }

    to_sql_checked!();
}

/// A row as the shared queries read it: integers (and booleans as 0 or 1) and text. `CHAR`
/// columns lose their padding, as in MySQL.
fn row_values(row: &Row) -> Result<Vec<SqlValue>, MetadataStoreError> {
    let corrupt = |message: String| MetadataStoreError::Corrupt {
        what: "column",
        message,
    };
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let value = match *column.type_() {
                Type::INT8 => row
                    .try_get::<_, Option<i64>>(i)
                    .map(|v| v.map(SqlValue::Int)),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|n| SqlValue::Int(n.into()))),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|n| SqlValue::Int(n.into()))),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)
                    .map(|v| v.map(|b| SqlValue::Int(b.into()))),
                Type::BPCHAR => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(|s| SqlValue::Text(s.trim_end_matches(' ').to_owned()))),
                Type::TEXT | Type::VARCHAR | Type::NAME => row
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(SqlValue::Text)),
                ref other => {
                    return Err(corrupt(format!(
                        "column `{}` has type {other}, which the store does not read",
                        column.name()
                    )));
                }
            };
            value
                .map(|v| v.unwrap_or(SqlValue::Null))
                .map_err(|e| corrupt(format!("column `{}`: {e}", column.name())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_fit_the_parameter_type() {
        let mut out = BytesMut::new();
        let big = SqlValue::Int(i64::from(i32::MAX) + 1);
        assert!(Param(&big).to_sql(&Type::INT8, &mut out).is_ok());
        assert!(Param(&big).to_sql(&Type::INT4, &mut out).is_err());
        assert!(
            Param(&SqlValue::Int(7))
                .to_sql(&Type::INT2, &mut out)
                .is_ok()
        );
        assert!(
            Param(&SqlValue::Int(7))
                .to_sql(&Type::TEXT, &mut out)
                .is_err()
        );
        let text = SqlValue::from("x");
        for ty in [Type::TEXT, Type::VARCHAR, Type::BPCHAR] {
            assert!(Param(&text).to_sql(&ty, &mut out).is_ok(), "{ty}");
        }
        assert!(Param(&text).to_sql(&Type::INT8, &mut out).is_err());
        assert!(matches!(
            Param(&SqlValue::Null).to_sql(&Type::INT8, &mut out),
            Ok(IsNull::Yes)
        ));
    }
}

//! A connection lent to the shared queries: statements with `$n` parameters, prepared once
//! per connection, and the conversion of values both ways.

use std::error::Error;

use bytes::BytesMut;
use deadpool_postgres::StatementCache;
use tokio::runtime::Runtime;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Row, SimpleQueryMessage, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;
use zenml_metadata_store::MetadataStoreError;
use zenml_metadata_store::sql::{Dialect, SqlConnection, SqlValue, bind_placeholders};

use super::errors::{PostgresError, backend, is_unique_violation};
use crate::PostgresDialect;

/// A connection (inside or outside a transaction) lent to the shared queries of
/// [`zenml_metadata_store::sql`], each statement run to completion on the store's runtime.
pub(crate) struct Session<'a> {
    runtime: &'a Runtime,
    client: &'a Client,
    /// The pooled connection's prepared statements; `None` for a connection of its own,
    /// which prepares each statement when it runs it.
    cache: Option<&'a StatementCache>,
}

impl<'a> Session<'a> {
    /// A session on a pooled connection, with its statement cache.
    pub(crate) fn new(runtime: &'a Runtime, client: &'a deadpool_postgres::Client) -> Self {
        Session {
            runtime,
            client,
            cache: Some(&client.statement_cache),
        }
    }

    /// A session on a connection of its own.
    pub(crate) fn unpooled(runtime: &'a Runtime, client: &'a Client) -> Self {
        Session {
            runtime,
            client,
            cache: None,
        }
    }

    /// `sql`, with `$n` parameters, prepared on this connection (once, for a pooled one).
    fn statement(&self, sql: &str) -> Result<Statement, MetadataStoreError> {
        let sql = bind_placeholders(sql, &PostgresDialect);
        let client = self.client;
        self.runtime
            .block_on(async {
                match self.cache {
                    Some(cache) => cache.prepare(client, &sql).await,
                    None => client.prepare(&sql).await,
                }
            })
            .map_err(backend)
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
            let messages = self
                .runtime
                .block_on(self.client.simple_query(sql))
                .map_err(backend)?;
            return Ok(messages
                .iter()
                .map(|message| match message {
                    SimpleQueryMessage::CommandComplete(rows) => *rows,
                    _ => 0,
                })
                .sum());
        }
        let statement = self.statement(sql)?;
        let params = Param::list(params);
        self.runtime
            .block_on(self.client.execute(&statement, &Param::refs(&params)))
            .map_err(backend)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, MetadataStoreError> {
        let statement = self.statement(sql)?;
        let params = Param::list(params);
        let rows = self
            .runtime
            .block_on(self.client.query(&statement, &Param::refs(&params)))
            .map_err(backend)?;
        rows.iter().map(row_values).collect()
    }

    fn is_unique_violation(&self, error: &MetadataStoreError) -> bool {
        is_unique_violation(error)
    }
}

/// Opens a connection of its own (not pooled) and drives it on the runtime.
pub(crate) async fn connect(
    config: &tokio_postgres::Config,
    tls: MakeRustlsConnect,
    uri: &str,
) -> Result<Client, MetadataStoreError> {
    let (client, connection) =
        config
            .connect(tls)
            .await
            .map_err(|e| MetadataStoreError::Connect {
                uri: uri.to_owned(),
                source: Box::new(PostgresError(e)),
            })?;
    // The task ends when the client is dropped (or the connection breaks); its error then
    // reaches the client's next statement.
    tokio::spawn(async move {
        let _ended = connection.await;
    });
    Ok(client)
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

//! What differs between SQL dialects: a trait that each SQL flavor implements for its own
//! database, so that a flavor crate outside this repository can bring a dialect of its own
//! without a change here.

use std::borrow::Cow;
use std::fmt;

use crate::MetadataStoreError;

/// The statements that guard a migration with a lock held across transactions, where the
/// dialect has one (MySQL's `GET_LOCK`, PostgreSQL's advisory locks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationLock {
    /// Takes the lock; parameters: the lock's name (at most 64 characters) and a timeout in
    /// seconds. Returns one row with one integer column, 1 when the lock was taken; a lock
    /// not taken within the timeout is another value, or an error.
    pub acquire: &'static str,
    /// Releases it; parameter: the lock's name.
    pub release: &'static str,
}

/// A SQL dialect: every fragment of SQL, and every behaviour, that differs between the
/// databases of the SQL flavors. The shared queries of [`crate::sql`] and the migrations of
/// [`crate::schema`] are written once, with `?` parameters; a dialect supplies the rest.
///
/// Defaults are those of standard SQL where the dialects agree; a dialect overrides the
/// methods where its database differs.
pub trait Dialect: fmt::Debug + Send + Sync {
    /// The dialect's name, e.g. `sqlite`, for messages.
    fn name(&self) -> &'static str;

    /// The text of the `index`-th parameter of a statement, counting from 1: `?` (the
    /// default, SQLite and MySQL) or a numbered form such as PostgreSQL's `$1`. Statements
    /// are rewritten by [`bind_placeholders`].
    fn placeholder(&self, index: usize) -> Cow<'static, str> {
        let _ = index;
        Cow::Borrowed("?")
    }

    /// The column type of JSON documents and free text, for `LONGTEXT` in migrations:
    /// `LONGTEXT` (the default; MySQL's `TEXT` stops at 64 KiB) or e.g. `TEXT`.
    fn long_text_type(&self) -> &'static str {
        "LONGTEXT"
    }

    /// A query with one parameter, a table name, that returns one integer column: 1 when
    /// the current database (and schema) has that table, 0 otherwise.
    fn table_exists_sql(&self) -> &'static str;

    /// Table options appended to every `CREATE TABLE` of a migration; none by default.
    fn table_options(&self) -> &'static str {
        ""
    }

    /// Inserts a pipeline unless one with the same name exists, without failing and without
    /// changing the existing one; parameters: id, name, created-at.
    fn insert_pipeline_if_absent_sql(&self) -> &'static str;

    /// The clause that makes an `INSERT` do nothing, without failing, when a row with the
    /// same `key` exists (`key`: the comma-separated columns of a primary key or unique
    /// constraint). The default, ` ON CONFLICT (key) DO NOTHING`, is SQLite's (3.24+) and
    /// PostgreSQL's; MySQL writes ` ON DUPLICATE KEY UPDATE col = col`. Either way the
    /// statement counts 0 rows when the row existed and 1 when it inserted one.
    fn on_conflict_do_nothing(&self, key: &str) -> String {
        format!(" ON CONFLICT ({key}) DO NOTHING")
    }

    /// Inserts a metadata entry or replaces the value (and time) of the entry with the same
    /// resource type, resource id and key; parameters: resource type, resource id, key,
    /// value (JSON text), created-at.
    fn upsert_metadata_sql(&self) -> &'static str;

    /// Starts a transaction that writes: `BEGIN` by default; SQLite takes its write lock at
    /// once with `BEGIN IMMEDIATE`.
    fn begin_write_sql(&self) -> &'static str {
        "BEGIN"
    }

    /// The lock that keeps two processes from migrating one database at once, where a
    /// write transaction alone does not (DDL that commits implicitly); none by default.
    fn migration_lock(&self) -> Option<MigrationLock> {
        None
    }

    /// Whether `error`, from running migration statement `statement`, means that an
    /// earlier, interrupted attempt at the same migration already applied it: possible only
    /// where DDL commits implicitly (MySQL's "duplicate key name" for a `CREATE INDEX`). By
    /// default, never.
    fn already_applied(&self, statement: &str, error: &MetadataStoreError) -> bool {
        let _ = (statement, error);
        false
    }
}

/// `sql` with each `?` parameter replaced by `dialect`'s [placeholder](Dialect::placeholder)
/// for its position. A `?` inside a quoted string or identifier is left alone. Borrowed
/// when the dialect writes `?` itself.
pub fn bind_placeholders<'a>(sql: &'a str, dialect: &dyn Dialect) -> Cow<'a, str> {
    if dialect.placeholder(1) == "?" || !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote: Option<char> = None;
    let mut index = 0;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => {
                quote = Some(c);
                out.push(c);
            }
            (Some(open), _) if c == open => {
                quote = None;
                out.push(c);
            }
            (None, '?') => {
                index += 1;
                out.push_str(&dialect.placeholder(index));
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Dialects for tests of the shared SQL: one with every default, one that differs in all it
/// can.
#[cfg(test)]
pub(crate) mod test_dialects {
    use super::*;

    /// Every default.
    #[derive(Debug)]
    pub(crate) struct Plain;

    impl Dialect for Plain {
        fn name(&self) -> &'static str {
            "plain"
        }
        fn table_exists_sql(&self) -> &'static str {
            "SELECT 0"
        }
        fn insert_pipeline_if_absent_sql(&self) -> &'static str {
            ""
        }
        fn upsert_metadata_sql(&self) -> &'static str {
            ""
        }
    }

    /// Numbered parameters, a long text type and table options of its own.
    #[derive(Debug)]
    pub(crate) struct Custom;

    impl Dialect for Custom {
        fn name(&self) -> &'static str {
            "custom"
        }
        fn placeholder(&self, index: usize) -> Cow<'static, str> {
            Cow::Owned(format!("${index}"))
        }
        fn long_text_type(&self) -> &'static str {
            "TEXT"
        }
        fn table_options(&self) -> &'static str {
            "ENGINE = InnoDB COLLATE utf8mb4_bin"
        }
        fn table_exists_sql(&self) -> &'static str {
            "SELECT 0"
        }
        fn insert_pipeline_if_absent_sql(&self) -> &'static str {
            ""
        }
        fn upsert_metadata_sql(&self) -> &'static str {
            ""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_dialects::{Custom, Plain};
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes_only() {
        let sql = "SELECT a FROM t WHERE b = ? AND c = '?' AND \"d?\" = ? AND e IN (?, ?)";
        assert_eq!(
            bind_placeholders(sql, &Custom),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND \"d?\" = $2 AND e IN ($3, $4)"
        );
        assert!(matches!(bind_placeholders(sql, &Plain), Cow::Borrowed(_)));
        assert!(matches!(
            bind_placeholders("SELECT 1", &Custom),
            Cow::Borrowed(_)
        ));
    }
}

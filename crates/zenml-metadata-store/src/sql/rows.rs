//! Reading rows: typed columns and the records they make.

use super::*;

// ----- rows -----------------------------------------------------------------------------------

/// Runs a query and maps each row with `decode`.
pub(super) fn map_rows<T>(
    conn: &mut dyn SqlConnection,
    sql: &str,
    params: &[SqlValue],
    what: &'static str,
    mut decode: impl FnMut(&mut Columns) -> Result<T, MetadataStoreError>,
) -> Result<Vec<T>, MetadataStoreError> {
    conn.query(sql, params)?
        .into_iter()
        .map(|row| decode(&mut Columns::new(row, what)))
        .collect()
}

/// The single integer of a `SELECT COUNT(*) … WHERE … = ?` query.
pub(super) fn count(
    conn: &mut dyn SqlConnection,
    sql: &str,
    key: &str,
) -> Result<i64, MetadataStoreError> {
    let row = conn.query(sql, &[key.into()])?.into_iter().next();
    let row = row.ok_or_else(|| MetadataStoreError::Corrupt {
        what: "count",
        message: "a count returned no row".to_owned(),
    })?;
    Columns::new(row, "count").int()
}

/// The columns of one row, read in order; a value of the wrong kind is
/// [`MetadataStoreError::Corrupt`].
pub(super) struct Columns {
    values: std::vec::IntoIter<SqlValue>,
    what: &'static str,
}

impl Columns {
    pub(super) fn new(row: Vec<SqlValue>, what: &'static str) -> Columns {
        Columns {
            values: row.into_iter(),
            what,
        }
    }

    pub(super) fn corrupt(&self, message: String) -> MetadataStoreError {
        MetadataStoreError::Corrupt {
            what: self.what,
            message,
        }
    }

    pub(super) fn next(&mut self) -> Result<SqlValue, MetadataStoreError> {
        self.values
            .next()
            .ok_or_else(|| self.corrupt("a row has fewer columns than expected".to_owned()))
    }

    pub(super) fn next_is_null(&self) -> bool {
        matches!(self.values.as_slice().first(), Some(SqlValue::Null))
    }

    pub(super) fn opt_text(&mut self) -> Result<Option<String>, MetadataStoreError> {
        match self.next()? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(text) => Ok(Some(text)),
            SqlValue::Int(n) => Err(self.corrupt(format!("expected text, found the number {n}"))),
        }
    }

    pub(super) fn text(&mut self) -> Result<String, MetadataStoreError> {
        self.opt_text()?
            .ok_or_else(|| self.corrupt("expected text, found NULL".to_owned()))
    }

    pub(super) fn opt_int(&mut self) -> Result<Option<i64>, MetadataStoreError> {
        match self.next()? {
            SqlValue::Null => Ok(None),
            SqlValue::Int(n) => Ok(Some(n)),
            SqlValue::Text(text) => {
                Err(self.corrupt(format!("expected a number, found the text `{text}`")))
            }
        }
    }

    pub(super) fn int(&mut self) -> Result<i64, MetadataStoreError> {
        self.opt_int()?
            .ok_or_else(|| self.corrupt("expected a number, found NULL".to_owned()))
    }

    pub(super) fn count(&mut self) -> Result<u64, MetadataStoreError> {
        let n = self.int()?;
        u64::try_from(n).map_err(|_| self.corrupt(format!("negative count {n}")))
    }

    pub(super) fn json(&mut self) -> Result<Value, MetadataStoreError> {
        let text = self.text()?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(format!("invalid JSON ({e})")))
    }

    pub(super) fn opt_json(&mut self) -> Result<Option<Value>, MetadataStoreError> {
        if self.next_is_null() {
            self.next()?;
            return Ok(None);
        }
        self.json().map(Some)
    }
}

pub(super) fn run_record(columns: &mut Columns) -> Result<RunRecord, MetadataStoreError> {
    let mut run = RunRecord {
        id: columns.text()?,
        pipeline_id: columns.text()?,
        pipeline_name: columns.text()?,
        name: columns.text()?,
        status: {
            let text = columns.text()?;
            // `interrupted` is read, never written.
            RunStatus::parse(&text)
                .filter(|status| *status != RunStatus::Interrupted)
                .ok_or_else(|| columns.corrupt(format!("unknown run status `{text}`")))?
        },
        started_at: columns.int()?,
        ended_at: columns.opt_int()?,
        config: columns.json()?,
        stack: columns.json()?,
        error: columns.opt_text()?,
        spec: columns.opt_json()?.unwrap_or(Value::Null),
        lease_expires_at: columns.opt_int()?,
    };
    run.status = run.status.at(run.lease_expires_at, now_millis());
    Ok(run)
}

pub(super) fn step_run_record(columns: &mut Columns) -> Result<StepRunRecord, MetadataStoreError> {
    Ok(StepRunRecord {
        id: columns.text()?,
        run_id: columns.text()?,
        name: columns.text()?,
        status: {
            let text = columns.text()?;
            StepStatus::parse(&text)
                .ok_or_else(|| columns.corrupt(format!("unknown step status `{text}`")))?
        },
        started_at: columns.int()?,
        ended_at: columns.int()?,
        code_hash: columns.text()?,
        cache_key: columns.opt_text()?,
        parameters: columns.json()?,
        error: columns.opt_text()?,
        original_step_run_id: columns.opt_text()?,
        cache_invalidated_at: columns.opt_int()?,
        attempt: attempt_number(columns)?,
    })
}

pub(super) fn artifact_record(columns: &mut Columns) -> Result<ArtifactRecord, MetadataStoreError> {
    Ok(ArtifactRecord {
        id: columns.text()?,
        uri: columns.text()?,
        artifact_store_uri: columns.text()?,
        path: columns.text()?,
        rust_type: columns.text()?,
        materializer_id: columns.text()?,
        materializer_version: {
            let n = columns.int()?;
            u32::try_from(n)
                .map_err(|_| columns.corrupt(format!("invalid materializer version {n}")))?
        },
        content_hash: columns.text()?,
        size: {
            let n = columns.int()?;
            u64::try_from(n).map_err(|_| columns.corrupt(format!("invalid size {n}")))?
        },
        producer_step_run_id: columns.text()?,
        output_name: columns.text()?,
        created_at: columns.int()?,
    })
}

/// An attempt number column.
pub(super) fn attempt_number(columns: &mut Columns) -> Result<u32, MetadataStoreError> {
    let n = columns.int()?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| columns.corrupt(format!("invalid attempt number {n}")))
}

//! Lists that show a page, not the history: `--limit`, `--page` and `--all` for every
//! command that lists, the line that says what else there is, and `--all` streamed.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;
use serde_json::{Value, json};
use zenml::metadata_store::{MAX_OFFSET, MetadataStoreError, Millis, Total};
use zenml::pipeline::ClientError;

use crate::output::{Output, table_of_rows, write_stdout};

/// Which page of a list to show: `--limit N`, `--page N` or `--all`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PageArgs {
    /// How many rows a page shows (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub(crate) limit: u64,
    /// Which page to show: 1 is the first (the newest rows).
    #[arg(long, value_name = "N", default_value_t = 1, conflicts_with = "all",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) page: u64,
    /// Every row, printed as it is read, page after page (tab-separated in table form),
    /// never holding the whole history in memory.
    #[arg(long)]
    pub(crate) all: bool,
}

impl PageArgs {
    /// How many rows come before the page; a page past the deepest offset a store skips is
    /// refused here, with what to do instead.
    pub(crate) fn offset(&self, noun: &str) -> anyhow::Result<u64> {
        let offset = (self.page - 1).saturating_mul(self.limit);
        if offset > MAX_OFFSET {
            bail!(
                "page {} of {} {noun} starts past the first {MAX_OFFSET}: narrow the list with \
                 its filters (see --help), or print every row with --all",
                self.page,
                self.limit
            );
        }
        Ok(offset)
    }
}

/// One row of a list: its JSON and its table cells.
pub(crate) struct Row {
    pub(crate) json: Value,
    pub(crate) cells: Vec<String>,
}

/// A list's name and columns.
pub(crate) struct Listing<'a> {
    /// What is listed, plural: `runs`.
    pub(crate) noun: &'a str,
    /// The table's header.
    pub(crate) header: &'a [&'a str],
    /// What the table shows when there is nothing to list.
    pub(crate) empty: &'a str,
}

fn total_text(total: Total) -> String {
    if total.exact {
        total.count.to_string()
    } else {
        format!("more than {}", total.count)
    }
}

impl Listing<'_> {
    /// Prints one page of `total` rows: in JSON with the total and the next page, in a table
    /// with a line saying what else there is and how to see it.
    pub(crate) fn show_page(&self, out: Output, args: &PageArgs, rows: Vec<Row>, total: Total) {
        let offset = (args.page - 1) * args.limit;
        let shown = rows.len() as u64;
        let more = total.count > offset + shown || !total.exact;
        let next_page = (shown == args.limit && more).then_some(args.page + 1);
        let (json_rows, cells): (Vec<Value>, Vec<Vec<String>>) =
            rows.into_iter().map(|row| (row.json, row.cells)).unzip();
        let document = json!({
            "items": json_rows,
            "total": total.count,
            "total_exact": total.exact,
            "page": args.page,
            "limit": args.limit,
            "next_page": next_page,
        });
        out.show(document, || {
            if cells.is_empty() && offset == 0 {
                return self.empty.to_owned();
            }
            let noun = self.noun;
            let mut footer = if shown == 0 {
                format!(
                    "page {} is past the last of {} {noun}.",
                    args.page,
                    total_text(total)
                )
            } else {
                format!(
                    "{noun} {}–{} of {}.",
                    offset + 1,
                    offset + shown,
                    total_text(total)
                )
            };
            if let Some(next) = next_page {
                footer.push_str(&format!(" Next page: --page {next}; every one: --all."));
            }
            format!(
                "{}\n{}",
                table_of_rows(self.header, cells),
                capitalize(footer)
            )
        });
    }

    /// Prints every row, page by page as `next` reads them (`None`: no more pages): a JSON
    /// document written as it goes, or a header and tab-separated lines.
    pub(crate) fn stream_all(
        &self,
        out: Output,
        total: Total,
        mut next: impl FnMut() -> anyhow::Result<Option<Vec<Row>>>,
    ) -> anyhow::Result<()> {
        let mut written = 0u64;
        if out.is_json() {
            write_stdout(&format!(
                "{{\"total\": {}, \"total_exact\": {}, \"items\": [",
                total.count, total.exact
            ));
        } else {
            write_stdout(&format!("{}\n", self.header.join("\t")));
        }
        while let Some(rows) = next()? {
            let mut chunk = String::new();
            for row in rows {
                if out.is_json() {
                    if written > 0 {
                        chunk.push(',');
                    }
                    chunk.push_str("\n  ");
                    chunk.push_str(&serde_json::to_string(&row.json)?);
                } else {
                    let cells: Vec<String> = row.cells.iter().map(|c| one_line(c)).collect();
                    chunk.push_str(&cells.join("\t"));
                    chunk.push('\n');
                }
                written += 1;
            }
            write_stdout(&chunk);
        }
        if out.is_json() {
            write_stdout("\n]}\n");
        }
        Ok(())
    }
}

/// A cell on one line: tabs and line breaks become spaces.
fn one_line(cell: &str) -> String {
    cell.replace(['\t', '\n', '\r'], " ")
}

fn capitalize(text: String) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// A store's refusal of a query, with the CLI's options named.
pub(crate) fn refused(error: ClientError) -> anyhow::Error {
    match error {
        ClientError::MetadataStore(MetadataStoreError::InvalidQuery { message }) => {
            anyhow::anyhow!("{message} (the list's filters: see --help; every row: --all)")
        }
        other => other.into(),
    }
}

/// `--since`: an age (`30m`, `12h`, `7d`, `2w`) or a UTC date or time (`2026-12-01`,
/// `2026-12-01 14:30`, `2026-12-01T14:30:00Z`), as milliseconds since the Unix epoch.
pub(crate) fn parse_since(text: &str) -> Result<Millis, String> {
    let text = text.trim();
    let invalid = || {
        format!(
            "`{text}` is neither an age (30m, 12h, 7d, 2w) nor a UTC date or time \
             (2026-12-01, 2026-12-01 14:30, 2026-12-01T14:30:00Z)"
        )
    };
    if let Ok(age) = humantime::parse_duration(text) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        let since = now.checked_sub(age).ok_or_else(invalid)?;
        return Millis::try_from(since.as_millis()).map_err(|_| invalid());
    }
    let full = match text.len() {
        10 => format!("{text} 00:00:00"),
        16 => format!("{text}:00"),
        _ => text.to_owned(),
    };
    let time = humantime::parse_rfc3339_weak(full.trim_end_matches('Z')).map_err(|_| invalid())?;
    let since = time.duration_since(UNIX_EPOCH).map_err(|_| invalid())?;
    Millis::try_from(since.as_millis()).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_ages_dates_and_times() {
        assert_eq!(parse_since("2026-12-01"), Ok(1_796_083_200_000));
        assert_eq!(parse_since("2026-12-01 14:30"), Ok(1_796_135_400_000));
        assert_eq!(parse_since("2026-12-01T14:30:05Z"), Ok(1_796_135_405_000));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as Millis;
        let week = parse_since("7d").unwrap();
        assert!((now - 7 * 86_400_000 - week).abs() < 60_000);
        for bad in ["yesterday", "2026-13-01", "7 parsecs", ""] {
            let error = parse_since(bad).unwrap_err();
            assert!(error.contains("neither an age"), "{bad}: {error}");
        }
    }

    #[test]
    fn deep_pages_point_at_filters_and_all() {
        let args = PageArgs {
            limit: 50,
            page: 202,
            all: false,
        };
        let error = args.offset("runs").unwrap_err().to_string();
        assert!(
            error.contains("--all") && error.contains("filters"),
            "{error}"
        );
        let args = PageArgs { page: 201, ..args };
        assert_eq!(args.offset("runs").unwrap(), 10_000);
    }
}

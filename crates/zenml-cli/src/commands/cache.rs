//! `zenml cache list|invalidate`: the step cache of the active stack's metadata store.

use anyhow::bail;
use serde_json::json;
use zenml::metadata_store::{CacheEntry, CacheFilter, MAX_LIMIT, StepRunCursor};
use zenml::pipeline::Client;
use zenml::pipeline::time::format_timestamp;

use super::paging::{Listing, PageArgs, Row, refused};
use crate::args::CacheCommand;
use crate::output::Output;

/// How much of a cache key a table shows.
const KEY_PREFIX: usize = 12;

pub(crate) fn run(out: Output, cmd: CacheCommand) -> anyhow::Result<()> {
    let client = Client::open(&super::repository()?, None)?;
    match cmd {
        CacheCommand::List {
            pipeline,
            step,
            page,
        } => list(out, &client, &CacheFilter { pipeline, step }, &page),
        CacheCommand::Invalidate {
            pipeline,
            step,
            all,
            yes,
        } => {
            if !all && pipeline.is_none() && step.is_none() {
                // clap requires one of them; this guards the meaning of an empty filter.
                bail!("name what to invalidate: --pipeline P, --step S, or --all");
            }
            invalidate(out, &client, &CacheFilter { pipeline, step }, yes)
        }
    }
}

fn describe(filter: &CacheFilter) -> String {
    match (&filter.pipeline, &filter.step) {
        (Some(p), Some(s)) => format!("of step `{s}` of pipeline `{p}`"),
        (Some(p), None) => format!("of pipeline `{p}`"),
        (None, Some(s)) => format!("of step `{s}`"),
        (None, None) => "of every pipeline".to_owned(),
    }
}

fn entry_row(e: CacheEntry) -> Row {
    let json = json!({
        "step": e.step_run.name,
        "pipeline": e.pipeline_name,
        "run": e.run_name,
        "step_run_id": e.step_run.id,
        "cache_key": e.step_run.cache_key,
        "code_hash": e.step_run.code_hash,
        "parameters": e.step_run.parameters,
        "created_at": e.step_run.ended_at,
    });
    let cells = vec![
        e.step_run.name.clone(),
        e.pipeline_name.clone(),
        e.run_name.clone(),
        e.step_run
            .cache_key
            .as_deref()
            .map(|k| format!("{}…", k.chars().take(KEY_PREFIX).collect::<String>()))
            .unwrap_or_default(),
        format_timestamp(e.step_run.ended_at),
    ];
    Row { json, cells }
}

/// `zenml cache list`: a page of cache entries, or every one streamed.
fn list(out: Output, client: &Client, filter: &CacheFilter, page: &PageArgs) -> anyhow::Result<()> {
    let empty = format!("No cache entries {}.", describe(filter));
    let listing = Listing {
        noun: "cache entries",
        header: &["STEP", "PIPELINE", "RUN", "CACHE KEY", "CREATED"],
        empty: &empty,
    };
    if !page.all {
        let offset = page.offset(listing.noun)?;
        let found = client
            .cache_entries_page(filter, None, offset, page.limit)
            .map_err(refused)?;
        let rows = found.items.into_iter().map(entry_row).collect();
        listing.show_page(out, page, rows, found.total);
        return Ok(());
    }
    let first = client
        .cache_entries_page(filter, None, 0, MAX_LIMIT)
        .map_err(refused)?;
    let total = first.total;
    let mut pending = Some(first.items);
    listing.stream_all(out, total, || {
        let Some(entries) = pending.take() else {
            return Ok(None);
        };
        if entries.len() as u64 == MAX_LIMIT
            && let Some(last) = entries.last()
        {
            let after = StepRunCursor::of(&last.step_run);
            let next = client.cache_entries_page(filter, Some(&after), 0, MAX_LIMIT);
            pending = Some(next.map_err(refused)?.items);
        }
        Ok((!entries.is_empty()).then(|| entries.into_iter().map(entry_row).collect()))
    })
}

fn invalidate(out: Output, client: &Client, filter: &CacheFilter, yes: bool) -> anyhow::Result<()> {
    let pending = client.cache_entries(filter)?.len();
    if pending > 0
        && !yes
        && !super::stack::confirm(&format!(
            "Invalidate {pending} cache {} {}? Those steps run again next time.",
            entries(pending),
            describe(filter)
        ))?
    {
        bail!("nothing invalidated");
    }
    let count = if pending > 0 {
        client.invalidate_cache(filter)?
    } else {
        0
    };
    let message = if count == 0 {
        format!(
            "No cache entries {}: nothing invalidated.",
            describe(filter)
        )
    } else {
        format!(
            "Invalidated {count} cache {} {}: the next run computes those steps again.",
            entries(count),
            describe(filter)
        )
    };
    out.show(json!({ "invalidated": count }), || message);
    Ok(())
}

fn entries(count: usize) -> &'static str {
    if count == 1 { "entry" } else { "entries" }
}

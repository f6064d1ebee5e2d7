//! `zenml cache list|invalidate`: the step cache of the active stack's metadata store.

use anyhow::bail;
use serde_json::{Value, json};
use zenml::metadata_store::CacheFilter;
use zenml::pipeline::Client;
use zenml::pipeline::time::format_timestamp;

use crate::args::CacheCommand;
use crate::output::{Output, table};

/// How much of a cache key a table shows.
const KEY_PREFIX: usize = 12;

pub(crate) fn run(out: Output, cmd: CacheCommand) -> anyhow::Result<()> {
    let client = Client::open(&super::repository()?, None)?;
    match cmd {
        CacheCommand::List { pipeline, step } => {
            list(out, &client, &CacheFilter { pipeline, step })
        }
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

fn list(out: Output, client: &Client, filter: &CacheFilter) -> anyhow::Result<()> {
    let entries = client.cache_entries(filter)?;
    let json: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "step": e.step_run.name,
                "pipeline": e.pipeline_name,
                "run": e.run_name,
                "step_run_id": e.step_run.id,
                "cache_key": e.step_run.cache_key,
                "code_hash": e.step_run.code_hash,
                "parameters": e.step_run.parameters,
                "created_at": e.step_run.ended_at,
            })
        })
        .collect();
    out.show(Value::Array(json), || {
        if entries.is_empty() {
            return format!("No cache entries {}.", describe(filter));
        }
        table(
            ["STEP", "PIPELINE", "RUN", "CACHE KEY", "CREATED"],
            entries.iter().map(|e| {
                [
                    e.step_run.name.clone(),
                    e.pipeline_name.clone(),
                    e.run_name.clone(),
                    e.step_run
                        .cache_key
                        .as_deref()
                        .map(|k| format!("{}…", k.chars().take(KEY_PREFIX).collect::<String>()))
                        .unwrap_or_default(),
                    format_timestamp(e.step_run.ended_at),
                ]
            }),
        )
    });
    Ok(())
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

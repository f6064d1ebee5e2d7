//! `zenml pipeline|run|step …`: what the active stack's metadata store recorded.

use serde_json::{Value, json};
use zenml::metadata_store::{
    ArtifactRecord, MAX_LIMIT, Millis, RunCursor, RunOverview, RunQuery, RunStatus, StepRunRecord,
    Total,
};
use zenml::pipeline::Client;
use zenml::pipeline::time::{format_duration, format_timestamp};

use super::paging::{Listing, PageArgs, Row, refused};
use crate::args::{PipelineCommand, PipelineRunsCommand, RunCommand, StepCommand};
use crate::output::{Output, table};

pub(super) fn client() -> anyhow::Result<Client> {
    Ok(Client::open(&super::repository()?, None)?)
}

pub(crate) fn pipeline(out: Output, cmd: PipelineCommand) -> anyhow::Result<()> {
    let client = client()?;
    match cmd {
        PipelineCommand::List { page } => list_pipelines(out, &client, &page)?,
        PipelineCommand::Copy {
            source,
            target,
            file,
        } => super::configs::copy_pipeline(out, &client, &source, &target, file)?,
        PipelineCommand::Runs(PipelineRunsCommand::List {
            pipeline,
            status,
            page,
        }) => list_runs(out, &client, pipeline, status, &page)?,
        PipelineCommand::Compare { pipelines, limit } => {
            super::compare::pipelines(out, &client, &pipelines, limit)?
        }
    }
    Ok(())
}

pub(crate) fn run(out: Output, cmd: RunCommand) -> anyhow::Result<()> {
    let client = client()?;
    match cmd {
        RunCommand::List {
            pipeline,
            status,
            page,
        } => list_runs(out, &client, pipeline, status, &page),
        RunCommand::Describe { run } => describe_run(out, &client, &run),
        RunCommand::Dag { run } => super::lineage::run_dag(out, &client, &run),
        RunCommand::Compare { run_a, run_b } => super::compare::runs(out, &client, &run_a, &run_b),
        RunCommand::ExportConfig { run, file } => {
            super::configs::export_config(out, &client, &run, &file)
        }
        RunCommand::Cancel { run } => {
            let report = client.cancel_run(&run)?;
            out.show(
                json!({ "run": report.run, "id": report.run_id, "status": "cancelled", "stack": report.stack, "stopped_steps": report.stopped }),
                || {
                    format!(
                        "Cancelled run `{}`: its driver starts no more steps; {} running step{} stopped by the orchestrator of stack `{}`.",
                        report.run,
                        report.stopped,
                        if report.stopped == 1 { "" } else { "s" },
                        report.stack
                    )
                },
            );
            Ok(())
        }
    }
}

/// A run's duration; `running` while it runs, `-` for an interrupted run, which never ended.
fn duration(started_at: Millis, ended_at: Option<Millis>, status: RunStatus) -> String {
    match (ended_at, status) {
        (Some(end), _) => format_duration(end - started_at),
        (None, RunStatus::Running) => "running".to_owned(),
        (None, _) => "-".to_owned(),
    }
}

fn run_row(run: RunOverview) -> Row {
    let cells = vec![
        run.name.clone(),
        run.pipeline_name.clone(),
        run.status.as_str().to_owned(),
        format_timestamp(run.started_at),
        duration(run.started_at, run.ended_at, run.status),
        if run.cached_step_runs > 0 {
            format!("{} ({} cached)", run.step_runs, run.cached_step_runs)
        } else {
            run.step_runs.to_string()
        },
    ];
    let json = json!({
        "id": run.id, "name": run.name, "pipeline": run.pipeline_name, "status": run.status,
        "started_at": run.started_at, "ended_at": run.ended_at, "error": run.error,
        "step_runs": run.step_runs, "cached_step_runs": run.cached_step_runs,
    });
    Row { json, cells }
}

/// `zenml pipeline list`: the pipelines by name, a page at a time (a store holds few
/// pipelines, each with many runs: they are read whole, their runs counted in the database).
fn list_pipelines(out: Output, client: &Client, page: &PageArgs) -> anyhow::Result<()> {
    let pipelines = client.pipelines()?;
    let total = Total::exact(pipelines.len() as u64);
    let rows = pipelines.into_iter().map(|p| {
        let latest = p.latest_run.as_ref();
        let cells = vec![
            p.pipeline.name.clone(),
            p.run_count.to_string(),
            latest.map(|r| r.name.clone()).unwrap_or_default(),
            latest
                .map(|r| r.status.as_str().to_owned())
                .unwrap_or_default(),
            latest
                .map(|r| format_timestamp(r.started_at))
                .unwrap_or_default(),
        ];
        let json = serde_json::to_value(&p).unwrap_or(Value::Null);
        Row { json, cells }
    });
    let listing = Listing {
        noun: "pipelines",
        header: &["PIPELINE", "RUNS", "LATEST RUN", "STATUS", "STARTED"],
        empty: "No pipelines recorded yet.",
    };
    if page.all {
        let mut rows = Some(rows.collect::<Vec<_>>());
        return listing.stream_all(out, total, || Ok(rows.take()));
    }
    let offset = page.offset(listing.noun)?;
    let rows = rows
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
        .collect();
    listing.show_page(out, page, rows, total);
    Ok(())
}

/// `zenml run list` and `zenml pipeline runs list`: a page of runs, or every run streamed.
fn list_runs(
    out: Output,
    client: &Client,
    pipeline: Option<String>,
    status: Option<RunStatus>,
    page: &PageArgs,
) -> anyhow::Result<()> {
    let listing = Listing {
        noun: "runs",
        header: &["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "STEPS"],
        empty: if pipeline.is_some() || status.is_some() {
            "No runs match these filters."
        } else {
            "No runs recorded yet."
        },
    };
    let mut query = RunQuery {
        pipeline,
        status,
        limit: page.limit,
        ..RunQuery::default()
    };
    if !page.all {
        query.offset = page.offset("runs")?;
        let found = client.query_runs(&query).map_err(refused)?;
        let rows = found.runs.into_iter().map(run_row).collect();
        listing.show_page(out, page, rows, Total::exact(found.total));
        return Ok(());
    }
    query.limit = MAX_LIMIT;
    let first = client.query_runs(&query).map_err(refused)?;
    let total = Total::exact(first.total);
    let mut pending = Some(first.runs);
    listing.stream_all(out, total, || {
        let Some(runs) = pending.take() else {
            return Ok(None);
        };
        if runs.len() as u64 == query.limit
            && let Some(last) = runs.last()
        {
            pending = Some(client.query_runs_after(&query, &RunCursor::of(last))?.runs);
        }
        Ok((!runs.is_empty()).then(|| runs.into_iter().map(run_row).collect()))
    })
}

fn params_line(step: &StepRunRecord) -> String {
    step.parameters
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn describe_run(out: Output, client: &Client, name: &str) -> anyhow::Result<()> {
    let run = client.run(name)?;
    let mut steps = Vec::new();
    for step in run.steps()? {
        let outputs = step.outputs()?;
        steps.push((step.record, outputs));
    }
    let metadata = run.metadata()?;
    let json = json!({
        "run": run.record,
        "metadata": metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
        "steps": steps.iter().map(|(s, outputs)| json!({
            "step": s,
            "outputs": outputs.iter().map(|(n, a)| json!({ "name": n, "artifact": a })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    out.show(json, || {
        let r = &run.record;
        let mut text = format!(
            "Run `{}` of pipeline `{}`: {}\n  id       {}\n  started  {}\n  duration {}\n",
            r.name,
            r.pipeline_name,
            r.status.as_str(),
            r.id,
            format_timestamp(r.started_at),
            duration(r.started_at, r.ended_at, r.status),
        );
        if let Some(stack) = r.stack.get("name").and_then(Value::as_str) {
            text.push_str(&format!("  stack    {stack}\n"));
        }
        if let Some(error) = &r.error {
            text.push_str(&format!("  error    {error}\n"));
        }
        // Where a detached run's driver runs, and its output.
        for (key, label) in [("driver", "driver  "), ("driver.log", "output  ")] {
            if let Some((_, value)) = metadata.iter().find(|(k, _)| k == key) {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                text.push_str(&format!("  {label} {value}\n"));
            }
        }
        text.push_str(&table(
            ["STEP", "STATUS", "DURATION", "PARAMETERS", "OUTPUTS"],
            steps.iter().map(|(s, outputs)| {
                [
                    s.name.clone(),
                    match &s.error {
                        Some(e) => format!("{}: {e}", s.status.as_str()),
                        None => s.status.as_str().to_owned(),
                    },
                    format_duration(s.ended_at - s.started_at),
                    params_line(s),
                    outputs
                        .iter()
                        .map(|(n, a)| format!("{n}: {} ({})", a.id, a.rust_type))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ]
            }),
        ));
        text
    });
    Ok(())
}

pub(crate) fn step(out: Output, cmd: StepCommand) -> anyhow::Result<()> {
    let client = client()?;
    let (run, step) = match cmd {
        StepCommand::Describe { run, step } => (run, step),
        StepCommand::Logs { run, step, attempt } => {
            return step_logs(out, &client, &run, &step, attempt);
        }
    };
    let run = client.run(&run)?;
    let step = run.step(&step)?;
    let inputs = step.inputs()?;
    let outputs = step.outputs()?;
    let metadata = step.metadata()?;
    let s = &step.record;
    // For a cached step: the run whose step run really produced the outputs.
    let original_run = match &s.original_step_run_id {
        Some(id) => {
            let original = client.stack().metadata_store.get_step_run(id)?;
            Some(
                client
                    .stack()
                    .metadata_store
                    .get_run(&original.run_id)?
                    .name,
            )
        }
        None => None,
    };
    // The failed attempts before this one, for a step that was tried again.
    let attempts: Vec<_> = client
        .stack()
        .metadata_store
        .step_attempts(&run.record.id)?
        .into_iter()
        .filter(|a| a.name == s.name)
        .collect();
    // The jobs its attempts ran as, on orchestrators that name them (`job.<step>.<attempt>`).
    let run_metadata = client
        .stack()
        .metadata_store
        .metadata(&zenml::metadata_store::Resource::Run(run.record.id.clone()))?;
    let jobs: Vec<(u32, String)> = (1..=s.attempt)
        .filter_map(|attempt| {
            let key = zenml::pipeline::job_key(&s.name, attempt);
            run_metadata.iter().find(|(k, _)| *k == key).map(|(_, v)| {
                (
                    attempt,
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
        })
        .collect();
    let json = json!({
        "step": s,
        "run": run.record.name,
        "cached_from_run": original_run,
        "failed_attempts": attempts,
        "jobs": jobs.iter().map(|(attempt, job)| json!({ "attempt": attempt, "job": job })).collect::<Vec<_>>(),
        "inputs": inputs.iter().map(|(n, a)| json!({ "name": n, "artifact": a })).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(|(n, a)| json!({ "name": n, "artifact": a })).collect::<Vec<_>>(),
        "metadata": metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>(),
    });
    out.show(json, || {
        let mut rows = vec![
            ["status".to_owned(), s.status.as_str().to_owned()],
            ["run".to_owned(), run.record.name.clone()],
            ["id".to_owned(), s.id.clone()],
            ["started".to_owned(), format_timestamp(s.started_at)],
            [
                "duration".to_owned(),
                format_duration(s.ended_at - s.started_at),
            ],
            ["code hash".to_owned(), s.code_hash.clone()],
        ];
        if let Some(error) = &s.error {
            rows.push(["error".to_owned(), error.clone()]);
        }
        if s.attempt > 1 {
            rows.push(["attempt".to_owned(), s.attempt.to_string()]);
        }
        rows.extend(
            jobs.iter()
                .map(|(attempt, job)| [format!("job (attempt {attempt})"), job.clone()]),
        );
        rows.extend(attempts.iter().map(|a| {
            [
                format!("attempt {} failed", a.attempt),
                format!(
                    "{} ({})",
                    a.error,
                    format_duration(a.ended_at - a.started_at)
                ),
            ]
        }));
        if let Some(original) = &s.original_step_run_id {
            let run = original_run.as_deref().unwrap_or("?");
            rows.push([
                "cached from".to_owned(),
                format!("run `{run}` (step run {original})"),
            ]);
        }
        if let Some(params) = s.parameters.as_object() {
            rows.extend(
                params
                    .iter()
                    .map(|(k, v)| [format!("parameter {k}"), v.to_string()]),
            );
        }
        rows.extend(
            inputs
                .iter()
                .map(|(n, a)| [format!("input {n}"), artifact_line(a)]),
        );
        rows.extend(
            outputs
                .iter()
                .map(|(n, a)| [format!("output {n}"), artifact_line(a)]),
        );
        rows.extend(
            metadata
                .iter()
                .map(|(k, v)| [format!("metadata {k}"), v.to_string()]),
        );
        format!(
            "Step `{}` of run `{}`\n{}",
            s.name,
            run.record.name,
            table(["PROPERTY", "VALUE"], rows)
        )
    });
    Ok(())
}

fn artifact_line(a: &ArtifactRecord) -> String {
    format!("{} ({}, {} bytes)", a.id, a.rust_type, a.size)
}

/// `zenml step logs RUN STEP [--attempt N]`: the logs as they are, or where they are
/// (`--output json`).
fn step_logs(
    out: Output,
    client: &Client,
    run: &str,
    step: &str,
    attempt: Option<u32>,
) -> anyhow::Result<()> {
    let logs = client.step_logs(run, step, attempt)?;
    if out.is_json() {
        out.show(
            json!({ "attempt": logs.attempt, "attempts": logs.attempts, "path": logs.path, "bytes": logs.bytes }),
            String::new,
        );
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    match client.read_logs(&logs, &mut stdout) {
        Err(zenml::pipeline::ClientError::Artifact(e))
            if std::error::Error::source(&e).is_some_and(|s| {
                s.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        other => other.map(drop).map_err(Into::into),
    }
}

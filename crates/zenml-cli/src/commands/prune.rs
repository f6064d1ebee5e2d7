//! `zenml artifact prune`: what no record needs, in the artifact store and `.zen/staging`.

use std::time::Duration;

use serde_json::json;
use zenml::pipeline::prune::{PrunePlan, format_age};
use zenml::pipeline::time::format_timestamp;
use zenml::pipeline::{Client, PruneOptions};

use crate::output::{Output, table};

/// Bytes for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn plan_table(plan: &PrunePlan) -> String {
    let mut rows: Vec<[String; 4]> = plan
        .orphans
        .iter()
        .map(|o| {
            [
                "unrecorded artifact folder".to_owned(),
                format!("{}/{}", plan.artifact_store_uri, o.path),
                o.bytes.map(bytes).unwrap_or_else(|| "?".to_owned()),
                o.modified_at.map(format_timestamp).unwrap_or_default(),
            ]
        })
        .collect();
    rows.extend(plan.staging.iter().map(|s| {
        [
            "staging leftover".to_owned(),
            s.path.display().to_string(),
            bytes(s.bytes),
            format_timestamp(s.modified_at),
        ]
    }));
    let mut text = table(["WHAT", "WHERE", "SIZE", "MODIFIED"], rows);
    for kept in &plan.kept {
        text.push_str(&format!("\nkept: {} ({})", kept.path, kept.reason));
    }
    text
}

pub(crate) fn prune(
    out: Output,
    client: &Client,
    yes: bool,
    min_age_minutes: u64,
) -> anyhow::Result<()> {
    let options = PruneOptions {
        min_age: Duration::from_secs(min_age_minutes.saturating_mul(60)),
    };
    let plan = client.prune_plan(&options)?;
    let summary = format!(
        "{} unrecorded artifact folder(s) and {} staging leftover(s), {}",
        plan.orphans.len(),
        plan.staging.len(),
        bytes(plan.bytes())
    );
    let context = format!(
        "Artifact store {}: {} recorded artifact folder(s) kept{}; only what is older than {} is deleted.",
        plan.artifact_store_uri,
        plan.recorded_folders,
        if plan.unrecognized_objects > 0 {
            format!(
                ", {} object(s) outside the artifact layout left alone",
                plan.unrecognized_objects
            )
        } else {
            String::new()
        },
        format_age(options.min_age)
    );
    if !yes {
        out.show(json!({ "dry_run": true, "plan": plan }), || {
            if plan.is_empty() {
                let mut text = format!("{context}\nNothing to prune.");
                for kept in &plan.kept {
                    text.push_str(&format!("\nkept: {} ({})", kept.path, kept.reason));
                }
                return text;
            }
            format!(
                "{context}\n{}\nWould delete {summary}. Run `zenml artifact prune --yes` to delete them.",
                plan_table(&plan)
            )
        });
        return Ok(());
    }
    let report = client.prune(&plan)?;
    out.show(
        json!({ "dry_run": false, "plan": plan, "report": report }),
        || {
            let mut text = format!(
                "{context}\nDeleted {} artifact folder(s) ({} object(s)) and {} staging leftover(s): {} freed.",
                report.deleted_folders.len(),
                report.deleted_objects,
                report.deleted_staging.len(),
                bytes(report.bytes)
            );
            for folder in &report.deleted_folders {
                text.push_str(&format!("\ndeleted: {}/{folder}", plan.artifact_store_uri));
            }
            for entry in &report.deleted_staging {
                text.push_str(&format!("\ndeleted: {}", entry.display()));
            }
            for kept in &report.kept {
                text.push_str(&format!("\nkept: {} ({})", kept.path, kept.reason));
            }
            text
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}

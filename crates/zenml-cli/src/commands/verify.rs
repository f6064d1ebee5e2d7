//! `zenml artifact verify [ID … | --run RUN | --all]`: tamper detection.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use zenml::pipeline::artifact_io::ArtifactCheck;
use zenml::pipeline::{ArtifactSelection, Client, Verification};

use crate::output::{Output, table};

/// Re-hashes the selected artifacts, showing a progress bar by bytes on a terminal, prints
/// one line per artifact, and fails when any is missing, truncated or modified.
pub(crate) fn verify(
    out: Output,
    client: &Client,
    selection: &ArtifactSelection,
) -> anyhow::Result<()> {
    let artifacts = client.select_artifacts(selection)?;
    let total: u64 = artifacts.iter().map(|a| a.size).sum();
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} verifying {pos}/{len} bytes ({bytes_per_sec}, {eta} left) {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut findings = Vec::with_capacity(artifacts.len());
    for artifact in &artifacts {
        bar.set_message(artifact.id.clone());
        let found = client.verify_artifact(artifact, &mut |bytes| bar.inc(bytes))?;
        findings.push((artifact, found));
    }
    bar.finish_and_clear();
    let problems = findings.iter().filter(|(_, f)| f.is_problem()).count();
    let unchecked = findings
        .iter()
        .filter(|(_, f)| matches!(f, Verification::OtherStore { .. }))
        .count();
    out.show(
        json!({
            "artifacts": findings.iter().map(|(a, f)| json!({ "id": a.id, "path": a.path, "size": a.size, "finding": f })).collect::<Vec<_>>(),
            "checked": findings.len() - unchecked,
            "problems": problems,
            "not_checked": unchecked,
        }),
        || {
            let mut text = table(
                ["ARTIFACT", "PATH", "RESULT", "DETAIL"],
                findings.iter().map(|(a, f)| {
                    let (result, detail) = describe(f, a.size);
                    [a.id.clone(), a.path.clone(), result.to_owned(), detail]
                }),
            );
            text.push_str(&format!(
                "\n{} artifacts checked, {problems} missing, truncated or modified{}.",
                findings.len() - unchecked,
                if unchecked > 0 {
                    format!(", {unchecked} in another artifact store not checked")
                } else {
                    String::new()
                }
            ));
            text
        },
    );
    if problems > 0 {
        anyhow::bail!(
            "{problems} of {} artifacts are missing, truncated or modified",
            findings.len() - unchecked
        );
    }
    Ok(())
}

/// The result word and a detail for a finding about an artifact of `recorded` bytes.
fn describe(finding: &Verification, recorded: u64) -> (&'static str, String) {
    match finding {
        Verification::Checked(check) => (
            check.as_str(),
            match check {
                ArtifactCheck::Intact { bytes } => format!("{bytes} bytes, hash as recorded"),
                ArtifactCheck::Missing => "no file of it is in the artifact store".to_owned(),
                ArtifactCheck::Truncated { bytes, recorded } => {
                    format!("{bytes} of {recorded} bytes")
                }
                ArtifactCheck::Modified { bytes, .. } => {
                    format!("{bytes} bytes (recorded {recorded}), other content")
                }
                _ => String::new(),
            },
        ),
        Verification::OtherStore { artifact_store } => {
            ("not checked", format!("recorded in {artifact_store}"))
        }
        _ => ("not checked", String::new()),
    }
}

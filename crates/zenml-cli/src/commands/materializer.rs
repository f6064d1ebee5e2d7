//! `zenml materializer …`.

use serde_json::json;
use zenml::materializer::{check_unique, registered};

use crate::args::MaterializerCommand;
use crate::output::{Output, table};

pub(crate) fn run(out: Output, cmd: MaterializerCommand) -> anyhow::Result<()> {
    match cmd {
        MaterializerCommand::List => {
            let all = registered();
            check_unique(&all)?;
            let json = all
                .iter()
                .map(|m| {
                    json!({
                        "rust_type": m.rust_type,
                        "materializer": m.id,
                        "version": m.version,
                        "description": m.description,
                        "source": m.source,
                    })
                })
                .collect();
            out.show(serde_json::Value::Array(json), || {
                table(
                    [
                        "RUST TYPE",
                        "MATERIALIZER",
                        "VERSION",
                        "DESCRIPTION",
                        "SOURCE",
                    ],
                    all.iter().map(|m| {
                        [
                            m.rust_type.to_owned(),
                            m.id.to_owned(),
                            m.version.to_string(),
                            m.description.to_owned(),
                            m.source.to_owned(),
                        ]
                    }),
                )
            });
        }
    }
    Ok(())
}

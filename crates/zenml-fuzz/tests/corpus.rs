//! Every input committed under `fuzz/corpus/<target>/` (what the fuzzers found interesting,
//! the crashes they found once, and seeds written by hand, named `seed-*`) run through its
//! target: none may panic, and every seed must be accepted (so that the targets reach past
//! the first error). A crash the fuzzers find is fixed and its input added here, so that it stays fixed.

use std::path::{Path, PathBuf};

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_corpus_input_is_handled_without_a_panic_and_seeds_are_accepted() {
    let root = corpus_root();
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for target in zenml_fuzz::TARGETS {
        let folder = root.join(target.name);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", folder.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        inputs.sort();
        assert!(
            !inputs.is_empty(),
            "the corpus of `{}` is empty: {}",
            target.name,
            folder.display()
        );
        counts.push((target.name, inputs.len()));
        for input in inputs {
            let data = std::fs::read(&input)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", input.display()));
            let run = target.run;
            let seed = input
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"));
            match std::panic::catch_unwind(move || run(&data)) {
                Ok(true) => {}
                Ok(false) if seed => failures.push(format!(
                    "{}: a hand-written seed (`seed-*`) must be accepted, and was refused",
                    input.display()
                )),
                Ok(false) => {}
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    failures.push(format!("{}: {message}", input.display()));
                }
            }
        }
    }
    eprintln!("corpus inputs: {counts:?}");
    assert!(
        failures.is_empty(),
        "inputs that panic:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_fuzzer_binary_and_a_corpus() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("fuzz/Cargo.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("fuzz/Cargo.toml parses");
    let mut bins: Vec<String> = manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .expect("fuzz/Cargo.toml has [[bin]] targets")
        .iter()
        .filter_map(|bin| bin.get("name").and_then(toml::Value::as_str))
        .map(str::to_owned)
        .collect();
    bins.sort();
    let names: Vec<String> = zenml_fuzz::TARGETS
        .iter()
        .map(|t| t.name.to_owned())
        .collect();
    assert_eq!(
        bins, names,
        "fuzz/Cargo.toml's binaries and zenml_fuzz::TARGETS"
    );
    for name in &names {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("zenml_fuzz::{name}")),
            "{} does not call zenml_fuzz::{name}",
            source.display()
        );
        assert!(
            corpus_root().join(name).is_dir(),
            "no corpus folder for `{name}`"
        );
    }
}

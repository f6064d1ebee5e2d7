//! Keeps the zenml-rs README's "Writing a flavor crate" section true: each of its Rust
//! snippets is an excerpt of this crate's code, which compiles and is tested. (Specific to
//! the zenml-rs repository: a crate copied out of it has no such README and skips this.)

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

/// The text of every `.rs` file below `dir`.
fn sources(dir: &Path, out: &mut String) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn the_readme_snippets_are_excerpts_of_this_crate() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(readme) = fs::read_to_string(crate_dir.join("../../README.md")) else {
        return;
    };
    let Some(section) = readme.split("\n## Writing a flavor crate\n").nth(1) else {
        return;
    };
    let section = section.split("\n## ").next().unwrap();
    let mut code = String::new();
    sources(&crate_dir.join("src"), &mut code);
    sources(&crate_dir.join("tests"), &mut code);

    let snippets: Vec<&str> = section
        .split("```rust\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(snippets.len() >= 4, "the section lost its snippets");
    for snippet in snippets {
        // A line `// …` marks an elision: each part between them is verbatim.
        let mut part = String::new();
        for line in snippet.lines().chain(["// …"]) {
            if line.trim_start().starts_with("// …") {
                assert!(
                    code.contains(part.trim_matches('\n')),
                    "README snippet part not found in examples/custom-flavor:\n{part}"
                );
                part.clear();
            } else {
                part.push_str(line);
                part.push('\n');
            }
        }
    }
}

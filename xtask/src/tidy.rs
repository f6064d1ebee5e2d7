//! Conventions checked over the source tree.

use std::fs;
use std::path::{Path, PathBuf};

/// Every problem found below `root`, one line each.
pub(crate) fn check(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    for package in packages(root)? {
        let manifest = fs::read_to_string(package.join("Cargo.toml"))?;
        let rel = package
            .strip_prefix(root)
            .unwrap_or(&package)
            .display()
            .to_string();
        if !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "{rel}/Cargo.toml: missing `[lints] workspace = true`"
            ));
        }
        if !manifest.contains("description = ") {
            problems.push(format!("{rel}/Cargo.toml: missing `description`"));
        }
        for crate_root in ["src/lib.rs", "src/main.rs"] {
            let file = package.join(crate_root);
            if let Ok(text) = fs::read_to_string(&file)
                && !text.trim_start().starts_with("//!")
            {
                problems.push(format!(
                    "{rel}/{crate_root}: a crate root starts with `//!` docs"
                ));
            }
        }
    }
    for file in rust_files(root)? {
        let text = fs::read_to_string(&file)?;
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (i, line) in text.lines().enumerate() {
            let banned_ignore = ["#[", "ignore]"].concat();
            if line.trim_start().starts_with(&banned_ignore) {
                problems.push(format!(
                    "{rel}:{}: no ignored tests: fix the test or delete it",
                    i + 1
                ));
            }
            if line.ends_with(' ') || line.ends_with('\t') {
                problems.push(format!("{rel}:{}: trailing whitespace", i + 1));
            }
        }
    }
    Ok(problems)
}

/// The folders of the workspace's packages (each with a Cargo.toml), excluding the root.
fn packages(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for group in ["crates", "integrations"] {
        let Ok(entries) = fs::read_dir(root.join(group)) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.join("Cargo.toml").is_file() {
                out.push(path);
            }
        }
    }
    for single in ["xtask", "tests", "examples"] {
        if root.join(single).join("Cargo.toml").is_file() {
            out.push(root.join(single));
        }
    }
    out.sort();
    Ok(out)
}

/// Every `.rs` file of the project, outside `target` folders.
fn rust_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy() {
        let problems = super::check(&crate::project_root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }
}

//! The bodies of zenml-rs's fuzz targets: each public function takes arbitrary bytes, feeds
//! them to one of the parsers that read what users and other programs write, and checks what
//! comes back. A function returns for every input, saying whether the code under test
//! accepted it (rather than refusing it with an error); it panics only when it finds a bug:
//! a parser that panicked, or an accepted value that breaks an invariant (a path that leaves
//! its root, a value that does not survive a save and load).
//!
//! The coverage-guided fuzzers in `fuzz/` (cargo-fuzz layout, `cargo xtask fuzz`) call these
//! functions with generated inputs; `tests/corpus.rs` calls them with every input committed
//! under `fuzz/corpus/`, so that what the fuzzers found stays fixed in `cargo test`.
//!
//! | target           | input                                                    |
//! |------------------|----------------------------------------------------------|
//! | `repository`     | a repository's `.zen/config.toml` (components, stacks)    |
//! | `stack_export`   | a file for `zenml stack import`                          |
//! | `run_config`     | a run configuration (`--config`), resolved on a pipeline |
//! | `names`          | component names, `ObjectPath`s, kinds, memory sizes      |
//! | `materializers`  | the files of an artifact, loaded by every built-in type  |

mod materializers;
mod names;
mod run_config;
mod scratch;
mod stack;

pub use materializers::materializers;
pub use names::names;
pub use run_config::run_config;
pub use stack::{repository, stack_export};

/// A fuzz target: its name (the folder of its corpus and the name of its binary in `fuzz/`)
/// and its body.
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Feeds one input to the code under test; `true` when it was accepted.
    pub run: fn(&[u8]) -> bool,
}

/// Every fuzz target, sorted by name.
pub const TARGETS: &[Target] = &[
    Target {
        name: "materializers",
        run: materializers,
    },
    Target {
        name: "names",
        run: names,
    },
    Target {
        name: "repository",
        run: repository,
    },
    Target {
        name: "run_config",
        run: run_config,
    },
    Target {
        name: "stack_export",
        run: stack_export,
    },
];

//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use zenml::metadata_store::{Millis, RunStatus};

use crate::commands::paging::{PageArgs, parse_since};

/// `--status`: a run status as the lists show it.
fn parse_status(text: &str) -> Result<RunStatus, String> {
    RunStatus::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is no run status; one of running, completed, failed, interrupted, cancelled"
        )
    })
}

/// zenml: ML pipelines on stacks of orchestrators, metadata stores and artifact stores.
#[derive(Debug, Parser)]
#[command(
    name = "zenml",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Output format. `table` and `json` work for every list, describe, get, compare and graph
    /// command; `dot` (Graphviz) only for the graph commands `artifact lineage` and `run dag`;
    /// `csv` only for `pipeline compare`. Other commands refuse `dot` and `csv`.
    #[arg(long, short = 'O', global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) output: OutputFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Tables for people.
    Table,
    /// JSON for scripts.
    Json,
    /// Graphviz DOT, for the graph commands only: `artifact lineage`, `run dag`.
    Dot,
    /// CSV (RFC 4180), for `pipeline compare` only.
    Csv,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a zenml repository (`.zen/`) with a default stack.
    Init {
        /// The folder to initialize (default: the current folder).
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Print the version and the linked flavors.
    Version,
    /// Manage stacks: compositions of an orchestrator, a metadata store and an artifact store.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Manage orchestrators: they decide where and in what order steps run.
    #[command(subcommand)]
    Orchestrator(ComponentCommand),
    /// Manage metadata stores: they record pipelines, runs, artifacts and lineage.
    #[command(subcommand, name = "metadata-store")]
    MetadataStore(ComponentCommand),
    /// Manage artifact stores: they hold artifact bytes.
    #[command(subcommand, name = "artifact-store")]
    ArtifactStore(ComponentCommand),
    /// Inspect materializers: how each Rust type is written to and read from artifacts.
    #[command(subcommand)]
    Materializer(MaterializerCommand),
    /// Shortcuts that change the active stack's metadata or artifact store.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Pipelines recorded in the active stack's metadata store.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Pipeline runs.
    #[command(subcommand)]
    Run(RunCommand),
    /// Step runs.
    #[command(subcommand)]
    Step(StepCommand),
    /// Artifacts.
    #[command(subcommand)]
    Artifact(ArtifactCommand),
    /// The step cache: which step runs later runs may reuse.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Serve the dashboard: pipelines, runs, DAGs, steps, artifacts, lineage and comparisons
    /// in a browser, over the stack's stores (read-only). Stops on Ctrl-C or `zenml down`.
    Up {
        /// The address to listen on; one that is not a loopback address needs --token-env.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// The port (0: any free port).
        #[arg(long, default_value_t = zenml_dashboard::DEFAULT_PORT)]
        port: u16,
        /// The stack whose stores are shown (default: the active stack).
        #[arg(long)]
        stack: Option<String>,
        /// Open the dashboard in the default browser.
        #[arg(long)]
        open: bool,
        /// The environment variable holding the token every request must present (a login
        /// form sets a cookie; the API takes `Authorization: Bearer TOKEN`).
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
    },
    /// Stop the dashboard `zenml up` serves for this repository.
    Down,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PipelineCommand {
    /// List the pipelines with their run counts and latest runs, by name.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// A pipeline's runs.
    #[command(subcommand)]
    Runs(PipelineRunsCommand),
    /// Compare the newest runs of pipelines (default: all) in one table: a row per run, a
    /// column per `step.parameter` and per `step.metric`. `--output csv` writes CSV.
    Compare {
        /// The pipelines (default: every pipeline).
        pipelines: Vec<String>,
        /// How many of the newest runs to compare (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
    },
    /// Copy pipeline SOURCE to TARGET: write a run configuration with SOURCE's latest
    /// resolved parameters that runs SOURCE's code as pipeline TARGET (run the pipeline
    /// program with `--config FILE`). SOURCE's records stay unchanged.
    Copy {
        /// The pipeline to copy.
        source: String,
        /// The new pipeline's name.
        target: String,
        /// Where to write the configuration (default: `<TARGET>.toml`).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PipelineRunsCommand {
    /// List the runs of a pipeline (or of all pipelines), newest first.
    List {
        /// The pipeline.
        pipeline: Option<String>,
        /// Only runs with this status (running, completed, failed, interrupted, cancelled).
        #[arg(long, value_parser = parse_status)]
        status: Option<RunStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunCommand {
    /// List runs, newest first: the newest 50 unless told otherwise.
    List {
        /// Only the runs of this pipeline.
        #[arg(long, short = 'p')]
        pipeline: Option<String>,
        /// Only runs with this status (running, completed, failed, interrupted, cancelled).
        #[arg(long, value_parser = parse_status)]
        status: Option<RunStatus>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a run: its steps with status, duration, parameters and outputs.
    Describe {
        /// The run's name or id.
        run: String,
    },
    /// Show a run's graph: its step runs and their input and output artifacts.
    /// `--output dot` writes Graphviz DOT (`zenml run dag RUN -O dot | dot -Tsvg`).
    Dag {
        /// The run's name or id.
        run: String,
    },
    /// Compare two runs step by step: status, duration, parameters and metrics side by
    /// side; `*` marks values that differ.
    Compare {
        /// The first run's name or id.
        run_a: String,
        /// The second run's name or id.
        run_b: String,
    },
    /// Write a run's fully resolved configuration as a run configuration file; running the
    /// pipeline program with `--config FILE` repeats the run (fully cached on the same
    /// stores).
    ExportConfig {
        /// The run's name or id.
        run: String,
        /// The file to write.
        file: std::path::PathBuf,
    },
    /// Cancel a running (or interrupted) run: record it as cancelled, so that its driver
    /// starts no more steps, and stop its running steps where the orchestrator can (the
    /// `process` flavor's processes, the `slurm` flavor's jobs with scancel). Steps running
    /// in the driver's own process (`local`) finish.
    Cancel {
        /// The run's name or id.
        run: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StepCommand {
    /// Show a step run: status, timing, code hash, parameters, inputs, outputs, metadata.
    Describe {
        /// The run's name or id.
        run: String,
        /// The step's name.
        step: String,
    },
    /// Print what a step wrote while it ran: its process's output on orchestrators that run
    /// steps in processes or jobs of their own, its `log` records when it ran in the
    /// driver's process. Kept in the artifact store with the run.
    Logs {
        /// The run's name or id.
        run: String,
        /// The step's name.
        step: String,
        /// The attempt (default: the step's last attempt that kept logs).
        #[arg(long)]
        attempt: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArtifactCommand {
    /// List artifacts, newest first, with their names, versions and tags: the newest 50
    /// unless told otherwise.
    List {
        #[command(flatten)]
        filter: ArtifactFilterArgs,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show an artifact: URI, type, materializer, hash, size, producer, name, version, tags
    /// and metadata.
    Describe {
        /// The artifact: its id, a name (its latest version) or NAME:VERSION.
        id: String,
    },
    /// List the versions of a name, oldest first.
    Versions {
        /// The name, e.g. `iris-classifier`.
        name: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Tag an artifact.
    Tag {
        /// The artifact: its id, a name (its latest version) or NAME:VERSION.
        artifact: String,
        /// The tag.
        tag: String,
    },
    /// Remove a tag from an artifact.
    Untag {
        /// The artifact: its id, a name (its latest version) or NAME:VERSION.
        artifact: String,
        /// The tag.
        tag: String,
    },
    /// Show the schema of a table or array artifact: its columns, types and nullability,
    /// or its shape and dtype.
    Schema {
        /// The artifact: its id, a name (its latest version) or NAME:VERSION.
        id: String,
    },
    /// Show the statistics of a table or array artifact, column by column; with
    /// `--compare`, side by side with another's, marking the columns whose distribution
    /// moved most.
    Statistics {
        /// The artifact: its id, a name (its latest version) or NAME:VERSION.
        id: String,
        /// The artifact to compare with (e.g. the eval split against the train split).
        #[arg(long, value_name = "ID")]
        compare: Option<String>,
        /// With `--compare`: mark the columns whose distance (Kolmogorov–Smirnov for numbers,
        /// L-infinity of value frequencies otherwise) is at least this.
        #[arg(long, default_value_t = 0.1)]
        threshold: f64,
    },
    /// Show an artifact's lineage: the step runs that produced it and its inputs, upward,
    /// and the step runs (of any run) that consumed it and their outputs, downward.
    /// `--output dot` writes Graphviz DOT.
    Lineage {
        /// The artifact's id.
        id: String,
        /// Follow at most this many step runs each way (default: no limit; 0: the artifact
        /// alone).
        #[arg(long)]
        depth: Option<usize>,
        /// Show at most this many nodes, the nearest first, and say how many more there
        /// are.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
        max_nodes: u64,
    },
    /// Re-hash artifacts against the hashes they were recorded with, reading every byte,
    /// and report each that is missing, truncated or modified (exit code 1 when any is).
    /// Artifacts recorded in another artifact store than the active stack's are listed as
    /// not checked.
    Verify {
        /// The artifacts' ids.
        #[arg(conflicts_with_all = ["run", "all"])]
        ids: Vec<String>,
        /// Every artifact this run (its name or id) produced or reused.
        #[arg(long, conflicts_with = "all")]
        run: Option<String>,
        /// Every recorded artifact.
        #[arg(long)]
        all: bool,
    },
    /// Delete what no record needs from the active stack's artifact store: folders of
    /// artifacts that were never recorded (left by failed or crashed steps) and leftovers
    /// in `.zen/staging`. Without `--yes`, only shows what would be deleted. Recorded
    /// artifacts are never deleted. Do not use it on an artifact store that stacks with
    /// another metadata store share: their artifacts look unrecorded from here.
    Prune {
        /// Delete; without it, nothing is deleted.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Only what was not modified for this many minutes: a running step may not have
        /// recorded its newest outputs yet.
        #[arg(long, value_name = "MINUTES", default_value_t = 60)]
        min_age: u64,
    },
}

/// Which artifacts `artifact list` shows.
#[derive(Debug, Clone, Args)]
pub(crate) struct ArtifactFilterArgs {
    /// Only versions of this name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Only artifacts with this tag.
    #[arg(long)]
    pub(crate) tag: Option<String>,
    /// Only artifacts produced by runs of this pipeline.
    #[arg(long, short = 'p')]
    pub(crate) pipeline: Option<String>,
    /// Only artifacts produced by steps of this name.
    #[arg(long, short = 's')]
    pub(crate) step: Option<String>,
    /// Only artifacts written by this materializer (e.g. `zenml.json`; `materializer list`).
    #[arg(long)]
    pub(crate) materializer: Option<String>,
    /// Only artifacts recorded since: an age (30m, 12h, 7d) or a UTC date or time
    /// (2026-12-01, 2026-12-01 14:30).
    #[arg(long, value_parser = parse_since)]
    pub(crate) since: Option<Millis>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// List the cache entries, newest first: completed step runs that a later step run with
    /// the same code, parameters and inputs reuses instead of running.
    List {
        /// Only entries of this pipeline.
        #[arg(long, short = 'p')]
        pipeline: Option<String>,
        /// Only entries of steps with this name.
        #[arg(long, short = 's')]
        step: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Invalidate cache entries: the next run computes those steps again. The step runs and
    /// their artifacts stay recorded. Needs `--pipeline`, `--step` or `--all`.
    #[command(group(
        clap::ArgGroup::new("selection")
            .args(["pipeline", "step", "all"])
            .required(true)
            .multiple(true)
    ))]
    Invalidate {
        /// Only entries of this pipeline.
        #[arg(long, short = 'p')]
        pipeline: Option<String>,
        /// Only entries of steps with this name.
        #[arg(long, short = 's')]
        step: Option<String>,
        /// Every entry.
        #[arg(long, conflicts_with_all = ["pipeline", "step"])]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StackCommand {
    /// Register a stack from registered components.
    Register {
        /// The stack's name.
        name: String,
        /// The orchestrator.
        #[arg(short = 'o', long)]
        orchestrator: String,
        /// The metadata store.
        #[arg(short = 'm', long = "metadata-store")]
        metadata_store: String,
        /// The artifact store.
        #[arg(short = 'a', long = "artifact-store")]
        artifact_store: String,
        /// Make it the active stack.
        #[arg(long)]
        set: bool,
    },
    /// List the stacks.
    List,
    /// Show a stack's components (default: the active stack).
    Describe {
        /// The stack.
        name: Option<String>,
    },
    /// Print the active stack.
    Get,
    /// Open every component of a stack (default: the active stack) to prove it works:
    /// connects to the metadata store and migrates it, creates the artifact folder.
    Check {
        /// The stack.
        name: Option<String>,
    },
    /// Make a stack the active stack.
    Set {
        /// The stack.
        name: String,
    },
    /// Replace components of a stack (default: the active stack).
    Update {
        /// The stack.
        name: Option<String>,
        /// The new orchestrator.
        #[arg(short = 'o', long)]
        orchestrator: Option<String>,
        /// The new metadata store.
        #[arg(short = 'm', long = "metadata-store")]
        metadata_store: Option<String>,
        /// The new artifact store.
        #[arg(short = 'a', long = "artifact-store")]
        artifact_store: Option<String>,
    },
    /// Rename a stack.
    Rename {
        /// The current name.
        old: String,
        /// The new name.
        new: String,
    },
    /// Register a copy of a stack under a new name.
    Copy {
        /// The stack to copy.
        source: String,
        /// The new stack's name.
        target: String,
    },
    /// Delete a stack (its components stay registered).
    Delete {
        /// The stack.
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Write a stack and its components' configuration to a TOML file (secrets left out).
    Export {
        /// The stack.
        name: String,
        /// The file (default: `<name>.toml`).
        file: Option<PathBuf>,
    },
    /// Register a stack and its components from a TOML file written by `export`.
    Import {
        /// The file.
        file: PathBuf,
        /// Register the stack under this name instead of the file's.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ComponentCommand {
    /// Register a component: `register NAME --flavor F --key=value …` (also `--key value`;
    /// `@file` reads a value from a file).
    Register {
        /// The component's name.
        name: String,
        /// The flavor (see `flavor list`).
        #[arg(short = 'f', long)]
        flavor: Option<String>,
        /// The flavor's settings as `--key=value` or `--key value`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--KEY=VALUE"
        )]
        settings: Vec<String>,
    },
    /// List the components of this kind.
    List,
    /// Show a component's configuration (default: the active stack's).
    Describe {
        /// The component.
        name: Option<String>,
    },
    /// Print the active stack's component of this kind.
    Get,
    /// Change settings of a component: `update NAME --key=value …`.
    Update {
        /// The component.
        name: String,
        /// The settings to change, as `--key=value` or `--key value`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--KEY=VALUE"
        )]
        settings: Vec<String>,
    },
    /// Remove optional settings of a component: `remove-attribute NAME --key …`.
    RemoveAttribute {
        /// The component.
        name: String,
        /// The settings to remove, as `--key`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            required = true,
            value_name = "--KEY"
        )]
        keys: Vec<String>,
    },
    /// Rename a component (stacks using it follow).
    Rename {
        /// The current name.
        old: String,
        /// The new name.
        new: String,
    },
    /// Delete a component that no stack uses.
    Delete {
        /// The component.
        name: String,
    },
    /// The flavors of this kind linked into this build.
    #[command(subcommand)]
    Flavor(FlavorCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum FlavorCommand {
    /// List the flavors.
    List,
    /// Show a flavor's configuration fields with their types, defaults and documentation.
    Describe {
        /// The flavor.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MaterializerCommand {
    /// List the Rust types with a registered materializer.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// The active stack's metadata store.
    #[command(subcommand)]
    Metadata(MetadataConfigCommand),
    /// The active stack's artifact store.
    #[command(subcommand)]
    Artifacts(ArtifactsConfigCommand),
    /// Show the active stack and its components.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum MetadataConfigCommand {
    /// Point the active stack at a metadata store: `set sqlite [--path P]`,
    /// `set mysql --host H --database D [--port --username --password-env]` or
    /// `set postgres --host H --database D [--port --username --password-env --schema
    /// --sslmode]`.
    Set(Box<MetadataSetArgs>),
    /// Show the active stack's metadata store.
    Get,
}

#[derive(Debug, Args)]
pub(crate) struct MetadataSetArgs {
    /// The flavor: `sqlite`, `mysql`, `postgres`, or another linked metadata store flavor.
    pub(crate) flavor: String,
    /// SQLite: the database file (default `.zen/metadata.db`).
    #[arg(long)]
    pub(crate) path: Option<String>,
    /// Server host.
    #[arg(long)]
    pub(crate) host: Option<String>,
    /// Server port.
    #[arg(long)]
    pub(crate) port: Option<String>,
    /// User name.
    #[arg(long)]
    pub(crate) username: Option<String>,
    /// Database name.
    #[arg(long)]
    pub(crate) database: Option<String>,
    /// Name of an environment variable that holds the password.
    #[arg(long)]
    pub(crate) password_env: Option<String>,
    /// A file, readable only by its owner, that holds the password.
    #[arg(long)]
    pub(crate) password_file: Option<String>,
    /// The password itself (discouraged: visible to other users; kept in .zen/secrets.toml).
    #[arg(long)]
    pub(crate) password: Option<String>,
    /// PostgreSQL: the schema that holds the tables (default: the role's, `public`).
    #[arg(long)]
    pub(crate) schema: Option<String>,
    /// PostgreSQL: TLS as libpq's `sslmode` (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`). Other settings: `zenml metadata-store update NAME --KEY=VALUE`.
    #[arg(long)]
    pub(crate) sslmode: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArtifactsConfigCommand {
    /// Point the active stack at an artifact store: a local folder, or a bucket URI such as
    /// `s3://bucket/dir`, `gs://bucket/dir` or `az://container/dir`, served by the linked
    /// flavor that declares the URI's scheme (`artifact-store flavor list` shows them).
    Set {
        /// A folder, or a URI.
        path_or_uri: String,
        /// More settings of the flavor as `--key=value` or `--key value`, e.g.
        /// `--endpoint http://127.0.0.1:9000 --allow-http true`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "--KEY=VALUE"
        )]
        settings: Vec<String>,
    },
    /// Show the active stack's artifact store.
    Get,
}

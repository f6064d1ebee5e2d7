//! Building a pipeline: `#[pipeline]` runs its body with a builder installed, and every step
//! call inside it adds a node.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::runner::StepInvocation;
use crate::step::{Output, StepError};

/// A step parameter's declaration.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    /// The parameter's name.
    pub name: &'static str,
    /// The Rust type.
    pub rust_type: &'static str,
    /// The default from the pipeline's code, as its type serializes it (`Null` when it
    /// cannot be stored faithfully: see [`ParamSpec::default_error`]).
    pub default: Value,
    /// Why the default cannot be stored faithfully (a non-finite float, a value that does
    /// not read back as itself); the run is then refused unless the run configuration gives
    /// the parameter a value.
    pub default_error: Option<String>,
    /// Reads a configured value as the parameter's type and writes it back: the value as
    /// recorded and hashed, so that `1` and `1.0` for an `f64` are one value.
    pub(crate) normalize: fn(&Value) -> Result<Value, String>,
}

/// `value` read as a `T` and written back as JSON; an error when it is no `T`, or when the
/// `T` cannot be written back faithfully (JSON holds no NaN or infinity).
fn normalize<T: Serialize + DeserializeOwned>(value: &Value) -> Result<Value, String> {
    let typed = T::deserialize(value).map_err(|e| e.to_string())?;
    let written = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    // What cannot be written (a NaN becomes `null`) does not read back.
    T::deserialize(&written).map_err(|e| {
        format!("it does not read back as itself once written as JSON ({e}); NaN and infinity cannot be stored")
    })?;
    Ok(written)
}

/// A step input's declaration: which upstream output feeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    /// The input's name (the step function's argument).
    pub name: &'static str,
    /// For a collected input ([`Collected`](crate::Collected)), fed by several upstream
    /// outputs: this one's position among them; `None` for an ordinary input.
    pub index: Option<usize>,
    /// The upstream node.
    pub node: usize,
    /// The upstream output's name.
    pub output: &'static str,
}

impl InputSpec {
    /// The name the input is recorded under: its name, or `name[index]` for one of the
    /// artifacts of a collected input.
    pub fn recorded_name(&self) -> String {
        match self.index {
            Some(index) => format!("{}[{index}]", self.name),
            None => self.name.to_owned(),
        }
    }
}

/// A step output's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// The output's name.
    pub name: &'static str,
    /// The Rust type of its value.
    pub rust_type: &'static str,
    /// The materializer that writes it.
    pub materializer_id: &'static str,
    /// That materializer's version.
    pub materializer_version: u32,
    /// How its artifacts are named, tagged and described.
    pub options: OutputOptions,
}

/// How a step output's artifacts are named, tagged and described: what
/// `#[step(outputs(model(name = "iris-classifier", tags("iris"), statistics = false)))]`
/// declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputOptions {
    /// The name under which each new artifact of the output is recorded as the next
    /// version (1, 2, 3, …); `None` for an unnamed output.
    pub artifact_name: Option<&'static str>,
    /// Tags given to each new artifact of the output.
    pub tags: &'static [&'static str],
    /// Whether the statistics of a table or array are computed when it is saved (its
    /// schema always is).
    pub statistics: bool,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            artifact_name: None,
            tags: &[],
            statistics: true,
        }
    }
}

type StepFn = Box<dyn Fn(&StepInvocation<'_>) -> Result<(), StepError> + Send + Sync>;

/// One step invocation in a pipeline.
pub struct StepNode {
    /// The node's name, unique in the pipeline: the function's name, with `_2`, `_3`, … for
    /// later calls of the same function.
    pub name: String,
    /// The step function's name.
    pub function: &'static str,
    /// blake3 of the step's code and its `version`.
    pub code_hash: String,
    /// The step's own `enable_cache` setting.
    pub enable_cache: Option<bool>,
    /// Parameters, in declaration order.
    pub params: Vec<ParamSpec>,
    /// Inputs, in declaration order.
    pub inputs: Vec<InputSpec>,
    /// Outputs, in declaration order.
    pub outputs: Vec<OutputSpec>,
    /// The resources declared in code (`#[step(resources(…))]`), as written.
    pub resources: DeclaredResources,
    /// How many times the step is tried again after a failure (`#[step(retries = N)]`).
    pub retries: Option<u32>,
    pub(crate) run: StepFn,
}

/// The resources a step declares in code, as written in `#[step(resources(cpus = 4, memory
/// = "16G", gpus = 1))]`; checked when a run's configuration is resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeclaredResources {
    /// CPU cores.
    pub cpus: Option<u32>,
    /// Memory, e.g. `16G`.
    pub memory: Option<&'static str>,
    /// GPUs.
    pub gpus: Option<u32>,
}

impl fmt::Debug for StepNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepNode")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// The nodes a pipeline's body has added so far, with what makes adding one cost the same
/// at the thousandth step as at the first.
#[derive(Default)]
struct Collected {
    nodes: Vec<StepNode>,
    /// How many nodes each step function has so far (for the `_2`, `_3`, … names).
    uses: HashMap<&'static str, usize>,
    /// The code hashes computed so far, by module, function, code and version.
    code_hashes: HashMap<CodeKey, String>,
}

/// What a step's code hash is computed from.
type CodeKey = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

thread_local! {
    static CURRENT: RefCell<Option<Collected>> = const { RefCell::new(None) };
}

/// Runs `body` with a fresh builder installed and returns the nodes it added.
pub(crate) fn collect_nodes(body: impl FnOnce()) -> Vec<StepNode> {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(Collected::default()));
    body();
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        let nodes = current.take().unwrap_or_default().nodes;
        *current = previous;
        nodes
    })
}

/// The code hash of `key`, computed once per pipeline body however many times the step is
/// called in it.
fn memoized_code_hash(key: CodeKey) -> String {
    let (module, function, code, version) = key;
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        match current.as_mut() {
            Some(collected) => collected
                .code_hashes
                .entry(key)
                .or_insert_with(|| code_hash(module, function, code, version))
                .clone(),
            None => code_hash(module, function, code, version),
        }
    })
}

/// The code hash of a step: BLAKE3 over its module path (crate included), its function's
/// name, the canonical text of its tokens and its `version`, each with its length first so
/// that no two different combinations hash the same. Two steps with identical bodies in
/// different modules or crates never share a cache entry.
pub(crate) fn code_hash(module: &str, function: &str, code: &str, version: Option<&str>) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in [
        "zenml-step-code/2",
        module,
        function,
        code,
        version.unwrap_or(""),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// Declares one step call; generated by `#[step]`.
#[doc(hidden)]
pub struct StepBuilder {
    node: StepNode,
}

impl StepBuilder {
    /// Starts a node for the step function `function` of module `module` (its
    /// `module_path!()`, crate included), whose code is `code` (the canonical text of its
    /// tokens that `#[step]` writes).
    pub fn new(
        function: &'static str,
        module: &'static str,
        code: &'static str,
        version: Option<&'static str>,
        enable_cache: Option<bool>,
    ) -> Self {
        StepBuilder {
            node: StepNode {
                name: function.to_owned(),
                function,
                code_hash: memoized_code_hash((module, function, code, version)),
                enable_cache,
                params: Vec::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
                resources: DeclaredResources::default(),
                retries: None,
                run: Box::new(|_| Ok(())),
            },
        }
    }

    /// Declares the resources the step needs (`#[step(resources(…))]`).
    pub fn resources(
        &mut self,
        cpus: Option<u32>,
        memory: Option<&'static str>,
        gpus: Option<u32>,
    ) {
        self.node.resources = DeclaredResources { cpus, memory, gpus };
    }

    /// Declares how many times the step is tried again after a failure
    /// (`#[step(retries = N)]`).
    pub fn retries(&mut self, retries: u32) {
        self.node.retries = Some(retries);
    }

    /// Declares a parameter with its default from the pipeline's code.
    pub fn param<T: Serialize + DeserializeOwned>(&mut self, name: &'static str, default: &T) {
        let written = serde_json::to_value(default)
            .map_err(|e| e.to_string())
            .and_then(|value| normalize::<T>(&value));
        let (default, default_error) = match written {
            Ok(value) => (value, None),
            Err(e) => (Value::Null, Some(e)),
        };
        self.node.params.push(ParamSpec {
            name,
            rust_type: std::any::type_name::<T>(),
            default,
            default_error,
            normalize: normalize::<T>,
        });
    }

    /// Declares an input fed by an upstream output.
    pub fn input<T>(&mut self, name: &'static str, from: Output<T>) {
        self.node.inputs.push(InputSpec {
            name,
            index: None,
            node: from.node,
            output: from.name,
        });
    }

    /// Declares a collected input ([`Collected`](crate::Collected)) fed by every output of
    /// `from`, in that order: the step waits for all of their steps.
    pub fn collected<T>(&mut self, name: &'static str, from: Vec<Output<T>>) {
        for (index, from) in from.into_iter().enumerate() {
            self.node.inputs.push(InputSpec {
                name,
                index: Some(index),
                node: from.node,
                output: from.name,
            });
        }
    }

    /// Declares an output.
    pub fn output<T>(
        &mut self,
        name: &'static str,
        materializer_id: &'static str,
        materializer_version: u32,
    ) {
        self.node.outputs.push(OutputSpec {
            name,
            rust_type: std::any::type_name::<T>(),
            materializer_id,
            materializer_version,
            options: OutputOptions::default(),
        });
    }

    /// Sets the options of output `name`, declared before with [`output`](Self::output).
    ///
    /// # Panics
    ///
    /// When the step declares no output `name` (the `#[step]` macro never does that).
    pub fn output_options(&mut self, name: &'static str, options: OutputOptions) {
        let Some(output) = self.node.outputs.iter_mut().find(|o| o.name == name) else {
            panic!("step `{}` has no output `{name}`", self.node.function);
        };
        output.options = options;
    }

    /// Adds the node to the pipeline being built and returns its index.
    ///
    /// # Panics
    ///
    /// When called outside a `#[pipeline]` function: a step call there only declares the
    /// step, so outside one it is a programming error.
    pub fn finish(
        mut self,
        run: impl Fn(&StepInvocation<'_>) -> Result<(), StepError> + Send + Sync + 'static,
    ) -> usize {
        self.node.run = Box::new(run);
        CURRENT.with(|c| {
            let mut current = c.borrow_mut();
            let Some(collected) = current.as_mut() else {
                panic!(
                    "step `{}` was called outside a #[pipeline] function; steps are called inside a pipeline's body",
                    self.node.function
                );
            };
            let uses = collected.uses.entry(self.node.function).or_insert(0);
            if *uses > 0 {
                self.node.name = format!("{}_{}", self.node.function, *uses + 1);
            }
            *uses += 1;
            collected.nodes.push(self.node);
            collected.nodes.len() - 1
        })
    }

    /// The handle of output `name` of node `node`.
    pub fn handle<T>(node: usize, name: &'static str) -> Output<T> {
        Output::new(node, name)
    }
}

#[cfg(test)]
mod tests {
    use super::code_hash;

    #[test]
    fn the_code_hash_covers_module_function_code_and_version() {
        let base = code_hash("app::train", "fit", "i a", None);
        assert_eq!(base, code_hash("app::train", "fit", "i a", None));
        for other in [
            code_hash("app::serve", "fit", "i a", None),
            code_hash("other::train", "fit", "i a", None),
            code_hash("app::train", "fit2", "i a", None),
            code_hash("app::train", "fit", "i b", None),
            code_hash("app::train", "fit", "i a", Some("2")),
            // Lengths keep the parts apart.
            code_hash("app::trainfit", "", "i a", None),
        ] {
            assert_ne!(base, other);
        }
    }
}

//! What a step is made of: parameters, output handles, the step context and step errors.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Mutex;

use serde_json::Value;

/// A step parameter: a plain serde value with a default in code, overridable from the run
/// configuration, and recorded with every step run. Dereferences to the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Param<T>(T);

impl<T> Param<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Param(value)
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Param<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A collected input: the values of several upstream outputs of one type, in the order the
/// pipeline passed them (a `Vec<Output<T>>`), for a step that joins many branches.
///
/// ```text
/// #[step]
/// fn total(parts: Collected<u64>) -> u64 {
///     parts.iter().sum()
/// }
/// // in a #[pipeline]: let parts: Vec<_> = (0..200).map(work).collect(); total(parts);
/// ```
///
/// Each artifact is recorded as an input named `parts[0]`, `parts[1]`, …
#[derive(Debug, Clone, PartialEq)]
pub struct Collected<T>(Vec<T>);

impl<T> Collected<T> {
    /// Wraps the values.
    pub fn new(values: Vec<T>) -> Self {
        Collected(values)
    }

    /// The values.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T> Deref for Collected<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

/// A handle to one output of a step in a pipeline being built. Passing it to another step
/// makes that step consume the artifact; its type parameter makes wiring an output into an
/// input of another type a compile error.
pub struct Output<T> {
    pub(crate) node: usize,
    pub(crate) name: &'static str,
    _type: PhantomData<fn() -> T>,
}

impl<T> Output<T> {
    pub(crate) fn new(node: usize, name: &'static str) -> Self {
        Output {
            node,
            name,
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Output(step #{}, `{}`)", self.node, self.name)
    }
}

impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Output<T> {}

/// Why a step failed: its message is shown to the user and recorded with the step run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    message: String,
}

impl StepError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

/// What a running step can ask for and report: put `ctx: &StepContext` among a step's
/// arguments to get it.
#[derive(Debug)]
pub struct StepContext {
    pub(crate) step_name: String,
    pub(crate) run_name: String,
    pub(crate) pipeline_name: String,
    pub(crate) step_metadata: Mutex<Vec<(String, Value)>>,
    pub(crate) output_metadata: Mutex<Vec<(String, String, Value)>>,
    /// Metadata that could not be recorded faithfully, worded; the step fails with them.
    pub(crate) metadata_errors: Mutex<Vec<String>>,
}

impl StepContext {
    /// The step's name in the pipeline.
    pub fn step_name(&self) -> &str {
        &self.step_name
    }

    /// The run's name.
    pub fn run_name(&self) -> &str {
        &self.run_name
    }

    /// The pipeline's name.
    pub fn pipeline_name(&self) -> &str {
        &self.pipeline_name
    }

    /// Records a metric or other metadata about this step run (e.g. `accuracy`). A later
    /// value for the same key replaces the earlier one.
    ///
    /// A value JSON cannot hold faithfully (a NaN or infinite float anywhere in it, a value
    /// that fails to serialize) is not recorded as `null`: the step fails when it returns,
    /// naming the key. Log such a value as text if it is meant to be kept.
    pub fn log_metadata(&self, key: impl Into<String>, value: impl serde::Serialize) {
        let key = key.into();
        if let Some(value) = self.recordable(&key, &value) {
            lock(&self.step_metadata).push((key, value));
        }
    }

    /// Records metadata about one of this step's outputs, by output name; values are
    /// checked as [`log_metadata`](Self::log_metadata) checks them.
    pub fn log_output_metadata(
        &self,
        output: impl Into<String>,
        key: impl Into<String>,
        value: impl serde::Serialize,
    ) {
        let (output, key) = (output.into(), key.into());
        if let Some(value) = self.recordable(&format!("{output}.{key}"), &value) {
            lock(&self.output_metadata).push((output, key, value));
        }
    }

    /// `value` as JSON, or `None` after noting why it cannot be recorded faithfully.
    fn recordable(&self, key: &str, value: &impl serde::Serialize) -> Option<Value> {
        let problem = match crate::finite::non_finite_path(value) {
            Some(path) => format!(
                "metadata `{key}` of step `{}` cannot be recorded: `{key}{path}` is NaN or \
                 infinite, which JSON cannot hold; log it as text to keep it",
                self.step_name
            ),
            None => match serde_json::to_value(value) {
                Ok(value) => return Some(value),
                Err(e) => format!(
                    "metadata `{key}` of step `{}` cannot be recorded: {e}",
                    self.step_name
                ),
            },
        };
        lock(&self.metadata_errors).push(problem);
        None
    }
}

/// The guarded value, also when a panic elsewhere poisoned the lock: every value pushed
/// before the panic is still there.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Turns what a step function returned into a result: steps may return a value, or a
/// `Result` whose error can be displayed (any error type, `anyhow::Error`, `String`, …).
/// The error's alternate form (`{:#}`) is used, which includes the causes of errors that
/// print them that way.
pub trait IntoStepResult {
    /// The value on success.
    type Value;
    /// The conversion.
    fn into_step_result(self) -> Result<Self::Value, StepError>;
}

impl<T, E: fmt::Display> IntoStepResult for Result<T, E> {
    type Value = T;
    fn into_step_result(self) -> Result<T, StepError> {
        self.map_err(|e| StepError::new(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> StepContext {
        StepContext {
            step_name: "train".to_owned(),
            run_name: "r".to_owned(),
            pipeline_name: "p".to_owned(),
            step_metadata: Mutex::new(Vec::new()),
            output_metadata: Mutex::new(Vec::new()),
            metadata_errors: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn a_poisoned_lock_keeps_and_takes_metadata() {
        let ctx = context();
        ctx.log_metadata("before", 1);
        std::thread::scope(|scope| {
            let _ = scope
                .spawn(|| {
                    let _guard = ctx.step_metadata.lock();
                    panic!("poisoning the lock on purpose");
                })
                .join();
        });
        assert!(ctx.step_metadata.is_poisoned());
        ctx.log_metadata("after", 2);
        let keys: Vec<String> = lock(&ctx.step_metadata)
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(keys, ["before", "after"]);
    }

    #[test]
    fn values_json_cannot_hold_are_noted_not_nulled() {
        let ctx = context();
        ctx.log_metadata("loss", f64::NAN);
        ctx.log_output_metadata("model", "norms", vec![1.0, f64::INFINITY]);
        assert!(lock(&ctx.step_metadata).is_empty());
        assert!(lock(&ctx.output_metadata).is_empty());
        let errors = lock(&ctx.metadata_errors).clone();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("`loss` is NaN or infinite"),
            "{errors:?}"
        );
        assert!(errors[1].contains("`model.norms[1]`"), "{errors:?}");
    }
}

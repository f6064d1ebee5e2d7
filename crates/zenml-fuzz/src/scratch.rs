//! A scratch folder per thread, for targets whose code under test reads files.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

thread_local! {
    static SCRATCH: RefCell<Option<TempDir>> = const { RefCell::new(None) };
}

/// Calls `f` with this thread's scratch folder, made on first use (in `/dev/shm` where it
/// exists: fuzzers write files at every input). The folder outlives the call: `f` must not
/// rely on what an earlier call left in it.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&Path) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let shm = PathBuf::from("/dev/shm");
            let made = if shm.is_dir() {
                tempfile::Builder::new()
                    .prefix("zenml-fuzz-")
                    .tempdir_in(shm)
            } else {
                tempfile::Builder::new().prefix("zenml-fuzz-").tempdir()
            };
            *slot = Some(made.expect("cannot create a scratch folder for the fuzz target"));
        }
        let dir = slot.as_ref().map(TempDir::path).unwrap_or(Path::new("."));
        f(dir)
    })
}

/// Writes `data` to `path`, replacing it; a failure here is the harness's, not a finding.
pub(crate) fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data)
        .unwrap_or_else(|e| panic!("fuzz harness: cannot write {}: {e}", path.display()));
}

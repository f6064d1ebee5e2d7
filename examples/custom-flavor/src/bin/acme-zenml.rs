//! `acme-zenml`: the whole `zenml` command line, with Acme's flavors linked in.

use std::process::ExitCode;

// The linker leaves out a crate that nothing references, and with it the crate's flavor
// registrations: without this line, `acme.mirror` would be an unknown flavor.
use acme_zenml_flavors as _;

fn main() -> ExitCode {
    zenml_cli::run()
}

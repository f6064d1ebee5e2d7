//! The `zenml` binary: the command line with the flavors this build links.

fn main() -> std::process::ExitCode {
    zenml_cli::run()
}

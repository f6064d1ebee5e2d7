//! The local test servers for bucket flavors, as this repository's `.ci/services` starts
//! them, and the rule for tests that need one: without it a test skips saying how to start
//! it, except under `CI=true`, where it fails.
//!
//! | service | address | bucket / container | credentials |
//! | --- | --- | --- | --- |
//! | [`S3`]: moto (`moto[server]` from PyPI) | `127.0.0.1:5000` | `zenml-test` | any key and secret, region `us-east-1` |
//! | [`AZURITE`]: Azurite 3.35 (npm) | `127.0.0.1:10000` | `zenml-test` | the emulator's development account |
//! | [`GCS`]: `tools/gcs-emulator` (test tooling of this repository) | `127.0.0.1:4443` | `zenml-test` | none (anonymous) |
//! | [`SLURM`]: Slurm 22.05 (Debian), two nodes | `127.0.0.1:6817` | partition `debug` | munge; [`slurm_conf`] |
//!
//! A flavor crate outside this repository can start the same servers the same way and use
//! these definitions in its own tests.
//!
//! The same rule holds for the tools some tests run: [`python_data_tools`] (numpy, pandas
//! and pyarrow) and [`chromium`] (headless Chromium and playwright-core, for the dashboard's
//! browser tests).

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A local test server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// What it is, e.g. `the S3 test server (moto)`.
    pub name: &'static str,
    /// Its address, `127.0.0.1:PORT`.
    pub address: &'static str,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: &'static str,
    /// The bucket (or container) the tests use.
    pub bucket: &'static str,
}

/// The S3 test server: moto on 127.0.0.1:5000.
pub const S3: Service = Service {
    name: "the S3 test server (moto)",
    address: "127.0.0.1:5000",
    url: "http://127.0.0.1:5000",
    bucket: "zenml-test",
};

/// The Azure Blob test server: Azurite on 127.0.0.1:10000.
pub const AZURITE: Service = Service {
    name: "the Azure Blob test server (Azurite)",
    address: "127.0.0.1:10000",
    url: "http://127.0.0.1:10000",
    bucket: "zenml-test",
};

/// The GCS test server: the XML-API emulator of `tools/gcs-emulator` on 127.0.0.1:4443.
pub const GCS: Service = Service {
    name: "the GCS test server (tools/gcs-emulator)",
    address: "127.0.0.1:4443",
    url: "http://127.0.0.1:4443",
    bucket: "zenml-test",
};

impl Service {
    /// Whether the server accepts connections.
    pub fn is_up(&self) -> bool {
        self.address
            .parse::<SocketAddr>()
            .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
    }

    /// Whether a test named `test` can use the server. When it is down, prints how to start
    /// it and returns `false` (the test returns early), except under `CI=true`, where it
    /// panics: CI runs every test.
    pub fn available_for(&self, test: &str) -> bool {
        if self.is_up() {
            return true;
        }
        let advice = format!(
            "{test}: {} is not running on {}; start it with `bash .ci/services`, which \
             installs and starts every test service",
            self.name, self.address
        );
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{advice}; under CI=true this test cannot be skipped"
        );
        eprintln!("skipped: {advice}");
        false
    }

    /// Why the server cannot be used, or `None` when it is up: for reports that record a
    /// skip instead of returning early.
    pub fn unavailable_reason(&self) -> Option<String> {
        (!self.is_up()).then(|| {
            format!(
                "{} is not running on {}; start it with `bash .ci/services`",
                self.name, self.address
            )
        })
    }
}

/// The Slurm test cluster that `.ci/services` starts: `slurmctld` on 127.0.0.1:6817 and two
/// `slurmd` nodes, `n1` and `n2` (2 CPUs each, partition `debug`), configured by
/// [`slurm_conf`].
pub const SLURM: Service = Service {
    name: "the Slurm test cluster (slurmctld and the slurmd nodes n1 and n2)",
    address: "127.0.0.1:6817",
    url: "slurm://127.0.0.1:6817",
    bucket: "debug",
};

/// The folder where `.ci/services` installs and configures the test services:
/// `$ZENML_CI_CACHE`, by default `~/.cache/zenml-rs-ci`.
pub fn ci_cache() -> std::path::PathBuf {
    std::env::var_os("ZENML_CI_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| std::path::PathBuf::from(home).join(".cache/zenml-rs-ci"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from(".cache/zenml-rs-ci"))
}

/// The configuration file of the Slurm test cluster: `$ZENML_CI_CACHE/slurm/slurm.conf`
/// (default cache `~/.cache/zenml-rs-ci`), as `.ci/services` writes it.
pub fn slurm_conf() -> std::path::PathBuf {
    ci_cache().join("slurm/slurm.conf")
}

/// The Python interpreter with numpy, pandas and pyarrow that the interop tests run, for a
/// test named `test`: `$ZENML_TEST_PYTHON`, or the virtualenv `.ci/services` makes
/// (`$ZENML_CI_CACHE/pydata-venv`). When it is missing or lacks one of the three, prints
/// how to make it and returns `None` (the test returns early), except under `CI=true`,
/// where it panics.
pub fn python_data_tools(test: &str) -> Option<std::path::PathBuf> {
    let python = std::env::var_os("ZENML_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ci_cache().join("pydata-venv/bin/python"));
    let usable = std::process::Command::new(&python)
        .args(["-c", "import numpy, pandas, pyarrow"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if usable {
        return Some(python);
    }
    let advice = format!(
        "{test}: `{}` cannot import numpy, pandas and pyarrow; make the virtualenv with \
         `bash .ci/services`, or point ZENML_TEST_PYTHON at a Python that has them \
         (`python3 -m venv DIR && DIR/bin/pip install numpy pandas pyarrow`)",
        python.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{advice}; under CI=true this test cannot be skipped"
    );
    eprintln!("skipped: {advice}");
    None
}

/// A fresh prefix for one test inside a shared bucket: `<test>-<random>`.
pub fn fresh_prefix(test: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{test}-{}", &id[..12])
}

/// What the browser tests drive: headless Chromium and the playwright-core package that
/// drives it, as `.ci/services` installs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    /// The Chromium executable: `$ZENML_TEST_CHROMIUM`, or Debian's `/usr/bin/chromium`.
    pub chromium: std::path::PathBuf,
    /// The folder of npm's `playwright-core` package (it holds `index.mjs`):
    /// `$ZENML_TEST_PLAYWRIGHT`, or `$ZENML_CI_CACHE/playwright/node_modules/playwright-core`.
    pub playwright_core: std::path::PathBuf,
    /// The Node.js program that runs the test scripts: `$ZENML_TEST_NODE`, or `node`.
    pub node: std::path::PathBuf,
}

/// The headless Chromium, playwright-core and Node.js of the browser tests, for a test
/// named `test`. When one of them is missing, prints the command that installs them and
/// returns `None` (the test returns early), except under `CI=true`, where it panics.
pub fn chromium(test: &str) -> Option<Browser> {
    match find_browser() {
        Ok(browser) => Some(browser),
        Err(missing) => {
            let advice = format!(
                "{test}: {missing}; install Chromium and playwright-core with \
                 `bash .ci/services` (`apt-get install -y chromium`, and `npm install \
                 --prefix {} playwright-core`)",
                ci_cache().join("playwright").display()
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{advice}; under CI=true this test cannot be skipped"
            );
            eprintln!("skipped: {advice}");
            None
        }
    }
}

/// The browser test tools, or what is missing.
fn find_browser() -> Result<Browser, String> {
    let from_env = |var: &str| std::env::var_os(var).map(std::path::PathBuf::from);
    let chromium = from_env("ZENML_TEST_CHROMIUM")
        .unwrap_or_else(|| std::path::PathBuf::from("/usr/bin/chromium"));
    let playwright_core = from_env("ZENML_TEST_PLAYWRIGHT")
        .unwrap_or_else(|| ci_cache().join("playwright/node_modules/playwright-core"));
    let node = from_env("ZENML_TEST_NODE").unwrap_or_else(|| std::path::PathBuf::from("node"));
    if !chromium.is_file() {
        return Err(format!(
            "Chromium is not installed (no `{}`)",
            chromium.display()
        ));
    }
    if !playwright_core.join("index.mjs").is_file() {
        return Err(format!(
            "playwright-core is not installed (no `{}`)",
            playwright_core.join("index.mjs").display()
        ));
    }
    let node_runs = std::process::Command::new(&node)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !node_runs {
        return Err(format!("Node.js (`{}`) does not run", node.display()));
    }
    Ok(Browser {
        chromium,
        playwright_core,
        node,
    })
}

//! What the flavors whose database is a server share (`mysql`, `postgres`, or a third
//! party's): where the password comes from, reading TLS files, and running an operation
//! again after a transient failure.
//!
//! This module is for SQL flavor crates, not for applications.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zenml_core::{ComponentContext, ConfigError, SecretString};

use crate::MetadataStoreError;

/// The password settings of a server flavor's configuration: at most one of `password`
/// (kept by the CLI in its secrets file), `password_env` and `password_file`; with none the
/// store connects without a password.
#[derive(Debug, Clone, Copy)]
pub struct PasswordSettings<'a> {
    /// The flavor, e.g. `mysql`, for messages.
    pub flavor: &'static str,
    /// The database's product name, e.g. `MySQL`, for messages.
    pub database: &'static str,
    /// The user the password belongs to, for messages.
    pub username: &'a str,
    /// The `password` key: the password itself.
    pub password: Option<&'a SecretString>,
    /// The `password_env` key: the name of the environment variable that holds it.
    pub password_env: Option<&'a str>,
    /// The `password_file` key: a file only its owner can read that holds it.
    pub password_file: Option<&'a Path>,
}

impl PasswordSettings<'_> {
    /// Checks that at most one source is given and that each given one is usable as a name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let sources: Vec<&str> = [
            ("password", self.password.is_some()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, given)| given.then_some(key))
        .collect();
        if let [first, second, ..] = sources[..] {
            return Err(ConfigError::Invalid(format!(
                "both `{first}` and `{second}` are set for the {} metadata store; give the \
                 password in one way only",
                self.flavor
            )));
        }
        if let Some(name) = self.password_env
            && (name.is_empty() || name.contains(['=', '\0']))
        {
            return Err(ConfigError::InvalidValue {
                key: "password_env".to_owned(),
                message: format!("`{name}` is not an environment variable name"),
            });
        }
        if self.password_file.is_some_and(|p| p.as_os_str().is_empty()) {
            return Err(ConfigError::InvalidValue {
                key: "password_file".to_owned(),
                message: "the password file cannot be empty".to_owned(),
            });
        }
        Ok(())
    }

    /// The password from whichever source is configured: `None` when none is. Errors name
    /// the variable or file that could not be used, never the password. A relative
    /// `password_file` is resolved against the repository root, and a file that other users
    /// may access is refused.
    pub fn resolve(
        &self,
        context: &ComponentContext,
    ) -> Result<Option<SecretString>, MetadataStoreError> {
        if let Some(password) = self.password {
            return Ok(Some(password.clone()));
        }
        if let Some(name) = self.password_env {
            return match std::env::var(name) {
                Ok(value) => Ok(Some(SecretString::new(value))),
                Err(std::env::VarError::NotPresent) => Err(MetadataStoreError::Config(format!(
                    "the environment variable `{name}` named by `password_env` is not set; set \
                     it to the {} password of `{}`",
                    self.database, self.username
                ))),
                Err(std::env::VarError::NotUnicode(_)) => Err(MetadataStoreError::Config(format!(
                    "the environment variable `{name}` named by `password_env` is not valid \
                     UTF-8"
                ))),
            };
        }
        if let Some(file) = self.password_file {
            let path = context.resolve(file);
            check_owner_only(&path)?;
            let text = fs::read_to_string(&path).map_err(|source| MetadataStoreError::Io {
                action: "cannot read the password file",
                path: path.clone(),
                source,
            })?;
            let password = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            return Ok(Some(SecretString::new(password)));
        }
        Ok(None)
    }
}

/// Refuses a password file that users other than its owner may access.
#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), MetadataStoreError> {
    use std::os::unix::fs::PermissionsExt;

    let metadata = fs::metadata(path).map_err(|source| MetadataStoreError::Io {
        action: "cannot read the password file",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(MetadataStoreError::Config(format!(
            "the password file `{}` can be accessed by other users (mode {mode:04o}); restrict it \
             to its owner with `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Other systems have no Unix permission bits to check.
#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> Result<(), MetadataStoreError> {
    Ok(())
}

/// Reads the PEM file `file` given as the configuration key `key` (a relative path against
/// the repository root), so that a missing, unreadable or non-PEM file is reported by name
/// before connecting. `action` says what failed, e.g. `cannot read the TLS root certificate
/// file (`tls_ca`)`.
pub fn read_pem_file(
    context: &ComponentContext,
    key: &str,
    file: &Path,
    action: &'static str,
) -> Result<Vec<u8>, MetadataStoreError> {
    let path = context.resolve(file);
    let data = fs::read(&path).map_err(|source| MetadataStoreError::Io {
        action,
        path: path.clone(),
        source,
    })?;
    if !data.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(MetadataStoreError::Config(format!(
            "the file `{}` given as `{key}` holds no PEM block (`-----BEGIN …`); give a PEM file",
            path.display()
        )));
    }
    Ok(data)
}

/// Whether a failed attempt is worth another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// A conflict with another transaction (a deadlock, a serialization failure, a lock
    /// wait timeout): run it again, a few times at most.
    Conflict,
    /// The connection broke, or a new one could not be made (the server restarts): run it
    /// again on a fresh connection while the time budget lasts.
    ConnectionLost,
    /// A failure for good.
    No,
}

/// How many attempts an operation gets in all when it meets conflicts.
pub const MAX_CONFLICT_ATTEMPTS: u32 = 5;

/// The pause before the second attempt of an operation; it doubles for each further one,
/// up to [`MAX_RETRY_PAUSE`].
pub const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// The longest pause between two attempts.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Runs `attempt` until it succeeds or fails for good, as `classify` judges each failure: a
/// [`Transient::Conflict`] up to [`MAX_CONFLICT_ATTEMPTS`] attempts in all, a
/// [`Transient::ConnectionLost`] as long as the next attempt starts within `budget` of the
/// first (each one counted in `lost`). The pause between attempts starts at
/// [`FIRST_RETRY_PAUSE`] and doubles up to [`MAX_RETRY_PAUSE`].
pub fn retry_transient<T>(
    budget: Duration,
    lost: &AtomicU64,
    classify: impl Fn(&MetadataStoreError) -> Transient,
    mut attempt: impl FnMut() -> Result<T, MetadataStoreError>,
) -> Result<T, MetadataStoreError> {
    let started = Instant::now();
    let mut pause = FIRST_RETRY_PAUSE;
    let mut conflicts = 1;
    loop {
        match attempt() {
            Err(e) => match classify(&e) {
                Transient::Conflict if conflicts < MAX_CONFLICT_ATTEMPTS => conflicts += 1,
                Transient::ConnectionLost if started.elapsed() + pause <= budget => {
                    lost.fetch_add(1, Ordering::SeqCst);
                }
                _ => return Err(e),
            },
            ok => return ok,
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<'a>() -> PasswordSettings<'a> {
        PasswordSettings {
            flavor: "mysql",
            database: "MySQL",
            username: "zenml",
            password: None,
            password_env: None,
            password_file: None,
        }
    }

    #[test]
    fn one_password_source_at_most() {
        let secret = SecretString::new("hunter2");
        let two = PasswordSettings {
            password: Some(&secret),
            password_file: Some(Path::new("pw")),
            ..settings()
        };
        let err = two.validate().unwrap_err().to_string();
        assert!(err.contains("`password`") && err.contains("`password_file`"));
        assert!(!err.contains("hunter2"), "{err}");
        let bad_env = PasswordSettings {
            password_env: Some("A=B"),
            ..settings()
        };
        assert!(bad_env.validate().is_err());
        settings().validate().unwrap();
    }

    #[test]
    fn a_missing_variable_is_named() {
        let missing = PasswordSettings {
            password_env: Some("ZENML_TEST_SURELY_UNSET_PASSWORD"),
            ..settings()
        };
        let context = ComponentContext::new(std::env::temp_dir());
        let err = missing.resolve(&context).unwrap_err().to_string();
        assert!(
            err.contains("ZENML_TEST_SURELY_UNSET_PASSWORD") && err.contains("MySQL password"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_password_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        fs::write(&file, "hunter2\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let open = PasswordSettings {
            password_file: Some(&file),
            ..settings()
        };
        let context = ComponentContext::new(dir.path());
        let err = open.resolve(&context).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && !err.contains("hunter2"),
            "{err}"
        );
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let password = open.resolve(&context).unwrap().unwrap();
        assert_eq!(password.expose(), "hunter2");
    }

    #[test]
    fn conflicts_are_retried_a_few_times_and_lost_connections_within_the_budget() {
        let error = || MetadataStoreError::Config("transient".to_owned());
        let mut attempts = 0;
        let result = retry_transient(
            Duration::from_secs(5),
            &AtomicU64::new(0),
            |_| Transient::Conflict,
            || -> Result<(), _> {
                attempts += 1;
                Err(error())
            },
        );
        assert!(result.is_err());
        assert_eq!(attempts, MAX_CONFLICT_ATTEMPTS);

        let lost = AtomicU64::new(0);
        let mut attempts = 0;
        let result = retry_transient(
            Duration::from_secs(5),
            &lost,
            |_| Transient::ConnectionLost,
            || {
                attempts += 1;
                if attempts < 3 { Err(error()) } else { Ok(7) }
            },
        );
        assert_eq!(result.unwrap(), 7);
        assert_eq!(lost.load(Ordering::SeqCst), 2);

        let mut attempts = 0;
        let result = retry_transient(
            Duration::ZERO,
            &AtomicU64::new(0),
            |_| Transient::ConnectionLost,
            || -> Result<(), _> {
                attempts += 1;
                Err(error())
            },
        );
        assert!(result.is_err());
        assert_eq!(attempts, 1, "no budget, no second attempt");

        let mut attempts = 0;
        let result = retry_transient(
            Duration::from_secs(5),
            &AtomicU64::new(0),
            |_| Transient::No,
            || -> Result<(), _> {
                attempts += 1;
                Err(error())
            },
        );
        assert!(result.is_err());
        assert_eq!(attempts, 1);
    }
}

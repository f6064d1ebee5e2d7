//! Named AWS profiles: static keys from the shared credentials file (`~/.aws/credentials`,
//! or `AWS_SHARED_CREDENTIALS_FILE`) and the region from the shared config file
//! (`~/.aws/config`, or `AWS_CONFIG_FILE`), as the AWS CLI reads them.

use std::path::{Path, PathBuf};

use ini::Ini;
use zenml_core::ConfigError;

/// The keys and region of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
    pub(crate) region: Option<String>,
}

/// The shared credentials and config files: the variables' values, else below `~/.aws/`.
fn shared_files() -> (Option<PathBuf>, Option<PathBuf>) {
    let home = std::env::var_os("HOME").map(|home| Path::new(&home).join(".aws"));
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join("credentials")));
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join("config")));
    (credentials, config)
}

/// Reads profile `name` from the shared files the environment names.
pub(crate) fn load(name: &str) -> Result<Profile, ConfigError> {
    let (credentials, config) = shared_files();
    let credentials = credentials.ok_or_else(|| {
        invalid("no shared credentials file: HOME and AWS_SHARED_CREDENTIALS_FILE are unset".into())
    })?;
    load_from(name, &credentials, config.as_deref())
}

fn invalid(message: String) -> ConfigError {
    ConfigError::InvalidValue {
        key: "profile".to_owned(),
        message,
    }
}

/// Reads profile `name` from these files.
fn load_from(
    name: &str,
    credentials: &Path,
    config: Option<&Path>,
) -> Result<Profile, ConfigError> {
    let read = |path: &Path| -> Result<Option<Ini>, ConfigError> {
        match Ini::load_from_file(path) {
            Ok(ini) => Ok(Some(ini)),
            Err(ini::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(invalid(format!("cannot read `{}`: {e}", path.display()))),
        }
    };
    let keys = read(credentials)?;
    let section = keys.as_ref().and_then(|ini| ini.section(Some(name)));
    let get = |key: &str| section.and_then(|s| s.get(key)).map(str::to_owned);
    let (Some(access_key_id), Some(secret_access_key)) =
        (get("aws_access_key_id"), get("aws_secret_access_key"))
    else {
        return Err(invalid(format!(
            "profile `{name}` has no `aws_access_key_id` and `aws_secret_access_key` in `{}`; \
             only profiles with static keys are read (for SSO or assumed roles, export the \
             temporary keys as AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN)",
            credentials.display()
        )));
    };
    // In the config file, every profile but `default` is written `[profile NAME]`.
    let region = match config.map(read).transpose()?.flatten() {
        Some(ini) => {
            let title = if name == "default" {
                name.to_owned()
            } else {
                format!("profile {name}")
            };
            ini.section(Some(title.as_str()))
                .and_then(|s| s.get("region"))
                .map(str::to_owned)
        }
        None => None,
    };
    Ok(Profile {
        access_key_id,
        secret_access_key,
        session_token: get("aws_session_token"),
        region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_profiles_are_read_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n\
             [team]\naws_access_key_id=AKIDTEAM\naws_secret_access_key=s2\naws_session_token=t\n\n\
             [sso]\nsso_session = corp\n",
        )
        .unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "[default]\nregion = us-west-2\n[profile team]\nregion = eu-west-1\n",
        )
        .unwrap();
        let team = load_from("team", &credentials, Some(&config)).unwrap();
        assert_eq!(
            team,
            Profile {
                access_key_id: "AKIDTEAM".into(),
                secret_access_key: "s2".into(),
                session_token: Some("t".into()),
                region: Some("eu-west-1".into()),
            }
        );
        let default = load_from("default", &credentials, Some(&config)).unwrap();
        assert_eq!(default.region.as_deref(), Some("us-west-2"));
        assert_eq!(default.session_token, None);
        let no_config =
            load_from("default", &credentials, Some(&dir.path().join("absent"))).unwrap();
        assert_eq!(no_config.region, None);
        for (name, needle) in [
            ("sso", "only profiles with static keys"),
            ("nope", "profile `nope`"),
        ] {
            let err = load_from(name, &credentials, Some(&config))
                .unwrap_err()
                .to_string();
            assert!(err.contains("profile") && err.contains(needle), "{err}");
        }
        let err = load_from("team", &dir.path().join("missing"), None).unwrap_err();
        assert!(
            err.to_string().contains("has no `aws_access_key_id`"),
            "{err}"
        );
    }
}

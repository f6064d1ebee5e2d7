//! Bucket URIs: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`,
//! `abfs://container@account.dfs.core.windows.net/prefix`.

use zenml_core::ConfigError;

/// A parsed bucket URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketUri {
    /// The scheme, e.g. `s3`.
    pub(crate) scheme: String,
    /// The bucket (or container).
    pub(crate) bucket: String,
    /// The storage account of an `abfs://container@account.…` URI.
    pub(crate) account: Option<String>,
    /// The key prefix inside the bucket, without leading or trailing `/`; may be empty.
    pub(crate) prefix: String,
}

impl BucketUri {
    /// Parses `uri`, which must use one of `schemes`. Errors name the `path` key.
    pub(crate) fn parse(uri: &str, schemes: &[&str]) -> Result<BucketUri, ConfigError> {
        let invalid = |message: String| ConfigError::InvalidValue {
            key: "path".to_owned(),
            message,
        };
        let expected = schemes
            .iter()
            .map(|s| format!("`{s}://bucket/prefix`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let Some((scheme, rest)) = uri.trim().split_once("://") else {
            return Err(invalid(format!(
                "`{uri}` is not a bucket URI; expected {expected}"
            )));
        };
        if !schemes.contains(&scheme) {
            return Err(invalid(format!(
                "`{uri}` has the scheme `{scheme}://`; expected {expected}"
            )));
        }
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let (bucket, account) = match authority.split_once('@') {
            Some((container, host)) => {
                let account = host.split('.').next().unwrap_or_default();
                if account.is_empty() {
                    return Err(invalid(format!(
                        "`{uri}` names no storage account after `@`"
                    )));
                }
                (container, Some(account.to_owned()))
            }
            None => (authority, None),
        };
        if bucket.is_empty() {
            return Err(invalid(format!(
                "`{uri}` names no bucket; expected {expected}"
            )));
        }
        if !bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(format!(
                "`{bucket}` is not a valid bucket name: use letters, digits, `-`, `_` and `.`"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|segment| {
            matches!(segment, "." | "..") || (segment.is_empty() && !prefix.is_empty())
        }) || prefix.contains(['\\', '?', '#'])
            || prefix.chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "the prefix `{prefix}` of `{uri}` must be `/`-separated names without empty, `.` \
                 or `..` segments, `\\`, `?`, `#` or control characters"
            )));
        }
        Ok(BucketUri {
            scheme: scheme.to_owned(),
            bucket: bucket.to_owned(),
            account,
            prefix: prefix.to_owned(),
        })
    }

    /// The normalized URI, `scheme://bucket/prefix` (without a trailing `/`).
    pub(crate) fn normalized(&self) -> String {
        let authority = match &self.account {
            Some(account) => format!("{}@{account}.dfs.core.windows.net", self.bucket),
            None => self.bucket.clone(),
        };
        if self.prefix.is_empty() {
            format!("{}://{authority}", self.scheme)
        } else {
            format!("{}://{authority}/{}", self.scheme, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_uris_parse_and_normalize() {
        let uri = BucketUri::parse("s3://bucket/team/project/", &["s3"]).unwrap();
        assert_eq!(
            (uri.bucket.as_str(), uri.prefix.as_str()),
            ("bucket", "team/project")
        );
        assert_eq!(uri.normalized(), "s3://bucket/team/project");
        let bare = BucketUri::parse("gs://b", &["gs", "gcs"]).unwrap();
        assert_eq!(
            (bare.prefix.as_str(), bare.normalized().as_str()),
            ("", "gs://b")
        );
        let abfs = BucketUri::parse("abfs://data@acct.dfs.core.windows.net/x", &["abfs"]).unwrap();
        assert_eq!(abfs.account.as_deref(), Some("acct"));
        assert_eq!(abfs.bucket, "data");
        assert_eq!(abfs.normalized(), "abfs://data@acct.dfs.core.windows.net/x");
    }

    #[test]
    fn bad_uris_name_the_path_key_and_what_is_expected() {
        for (bad, needle) in [
            ("bucket/prefix", "not a bucket URI"),
            ("gs://bucket/x", "scheme `gs://`"),
            ("s3:///x", "names no bucket"),
            ("s3://b/a/../c", "without empty"),
            ("s3://b/a//c", "without empty"),
            ("s3://b a/x", "not a valid bucket name"),
        ] {
            let err = BucketUri::parse(bad, &["s3"]).unwrap_err().to_string();
            assert!(err.contains("path") && err.contains(needle), "{bad}: {err}");
        }
    }
}

//! Settings every bucket flavor shares: transfer sizes, concurrency, retries and timeouts,
//! declared once by [`bucket_config!`] and turned into `object_store`'s client options.

use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use zenml_core::ConfigError;

/// Declares a bucket flavor's configuration struct: the fields given, then the transfer
/// settings every bucket flavor has, with one set of docs and defaults.
macro_rules! bucket_config {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, zenml_core::ConfigFields)]
        pub struct $name {
            $($fields)*
            /// The size of each part of a multipart upload, in MiB (at least 5, S3's smallest
            /// part). Objects smaller than this are written with one request.
            #[serde(default = "crate::settings::default_part_size_mib")]
            pub part_size_mib: u64,
            /// How many parts of one object are uploaded at once. Memory use per upload is about
            /// `part_size_mib × (max_concurrency + 1)`.
            #[serde(default = "crate::settings::default_max_concurrency")]
            pub max_concurrency: usize,
            /// How many times a request that failed transiently (a connection error, a timeout,
            /// a 5xx or 429 answer) is retried, with exponential backoff, before the operation
            /// fails.
            #[serde(default = "crate::settings::default_max_retries")]
            pub max_retries: usize,
            /// The longest time, in seconds, spent retrying one request.
            #[serde(default = "crate::settings::default_retry_timeout_secs")]
            pub retry_timeout_secs: u64,
            /// The first pause between retries, in milliseconds; it doubles up to 15 s.
            #[serde(default = "crate::settings::default_retry_backoff_ms")]
            pub retry_backoff_ms: u64,
            /// How long to wait for a connection to the server, in seconds.
            #[serde(default = "crate::settings::default_connect_timeout_secs")]
            pub connect_timeout_secs: u64,
            /// How long one request may take, in seconds: one part of an upload, or a whole
            /// download (whose interrupted body is resumed by the retries).
            #[serde(default = "crate::settings::default_request_timeout_secs")]
            pub request_timeout_secs: u64,
        }

        impl $name {
            /// The transfer settings of this configuration.
            pub(crate) fn transfer(&self) -> crate::settings::TransferSettings {
                crate::settings::TransferSettings {
                    part_size_mib: self.part_size_mib,
                    max_concurrency: self.max_concurrency,
                    max_retries: self.max_retries,
                    retry_timeout_secs: self.retry_timeout_secs,
                    retry_backoff_ms: self.retry_backoff_ms,
                    connect_timeout_secs: self.connect_timeout_secs,
                    request_timeout_secs: self.request_timeout_secs,
                }
            }
        }
    };
}
pub(crate) use bucket_config;

/// The transfer settings of a bucket flavor (see [`bucket_config!`] for each one's meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TransferSettings {
    pub(crate) part_size_mib: u64,
    pub(crate) max_concurrency: usize,
    pub(crate) max_retries: usize,
    pub(crate) retry_timeout_secs: u64,
    pub(crate) retry_backoff_ms: u64,
    pub(crate) connect_timeout_secs: u64,
    pub(crate) request_timeout_secs: u64,
}

impl TransferSettings {
    /// Checks the values; errors name the key.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::InvalidValue {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        if !(5..=5 * 1024).contains(&self.part_size_mib) {
            return invalid("part_size_mib", "a part has 5 to 5120 MiB");
        }
        if !(1..=64).contains(&self.max_concurrency) {
            return invalid("max_concurrency", "between 1 and 64 parts at once");
        }
        if self.connect_timeout_secs == 0 || self.request_timeout_secs == 0 {
            let key = if self.connect_timeout_secs == 0 {
                "connect_timeout_secs"
            } else {
                "request_timeout_secs"
            };
            return invalid(key, "a timeout is at least 1 second");
        }
        Ok(())
    }

    /// The part size in bytes.
    pub(crate) fn part_size(&self) -> usize {
        usize::try_from(self.part_size_mib << 20).unwrap_or(usize::MAX)
    }

    /// `object_store`'s retry settings.
    pub(crate) fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(self.retry_backoff_ms.max(1)),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: Duration::from_secs(self.retry_timeout_secs),
        }
    }

    /// `object_store`'s HTTP client options: the timeouts, and plain HTTP when `allow_http`.
    pub(crate) fn client_options(&self, allow_http: bool) -> ClientOptions {
        ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(self.connect_timeout_secs))
            .with_timeout(Duration::from_secs(self.request_timeout_secs))
    }
}

/// 16 MiB parts.
pub(crate) fn default_part_size_mib() -> u64 {
    16
}

/// Four parts at once.
pub(crate) fn default_max_concurrency() -> usize {
    4
}

/// `object_store`'s default: 10 retries.
pub(crate) fn default_max_retries() -> usize {
    10
}

/// `object_store`'s default: 3 minutes of retries.
pub(crate) fn default_retry_timeout_secs() -> u64 {
    180
}

/// `object_store`'s default: 100 ms.
pub(crate) fn default_retry_backoff_ms() -> u64 {
    100
}

/// 5 seconds to connect.
pub(crate) fn default_connect_timeout_secs() -> u64 {
    5
}

/// 300 seconds per request: a 1 GiB download at 4 MB/s.
pub(crate) fn default_request_timeout_secs() -> u64 {
    300
}

/// An endpoint is an `http(s)://` URL; plain HTTP needs `allow_http`.
pub(crate) fn check_endpoint(key: &str, url: &str, allow_http: bool) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::InvalidValue {
        key: key.to_owned(),
        message,
    };
    if url.starts_with("http://") {
        if !allow_http {
            return Err(invalid(format!(
                "`{url}` is plain HTTP; set `allow_http = true` for a local test server"
            )));
        }
        Ok(())
    } else if url.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(format!(
            "`{url}` is not an http:// or https:// URL"
        )))
    }
}

//! Throughput and peak memory of large transfers on the `s3` flavor, beside `object_store`'s
//! own client doing the same with the same part size and concurrency, against the same S3
//! server. One phase per process, so that each reports its own peak resident memory:
//!
//! ```text
//! bucket_throughput ENDPOINT BUCKET PHASE ARGS…
//!   ours-put FILE KEY        ArtifactStore::put_file (PutMode::Create) of FILE at KEY
//!   ours-put-overwrite FILE KEY  the same with PutMode::Overwrite (no copy into place)
//!   ours-get KEY FILE        ArtifactStore::get_file of KEY into FILE
//!   raw-put FILE KEY         object_store: WriteMultipart of FILE, read in parts
//!   raw-get KEY FILE         object_store: a streamed GET of KEY into FILE
//!   artifact-write FILE KEY  write_artifact of FILE (copied in by its materializer) under KEY
//!   artifact-read KEY HASH   read_artifact of the artifact under KEY, its hash verified
//!   delete KEY               deletes everything below KEY
//! ```
//!
//! Output lines are `key=value`: `seconds`, `bytes`, `peak_rss_kib` (and `hash` for
//! `artifact-write`). `cargo xtask bench bucket` runs the phases and prints the ratios.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use zenml_artifact_store::{ArtifactStore, ArtifactStoreFlavor, ObjectPath, PutMode};
use zenml_core::{ComponentContext, SecretString};
use zenml_materializer::{Materializer, MaterializerError};
use zenml_object_store::S3ArtifactStoreConfig;
use zenml_pipeline::artifact_io::{read_artifact, write_artifact};

type Error = Box<dyn std::error::Error>;

/// The part size and concurrency both clients use (the flavor's defaults).
const PART: usize = 16 << 20;
const CONCURRENCY: usize = 4;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, bucket, phase, rest @ ..] = args.as_slice() else {
        return Err("usage: bucket_throughput ENDPOINT BUCKET PHASE ARGS… (see the docs)".into());
    };
    let arg = |i: usize| -> Result<&str, Error> {
        rest.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("{phase}: missing argument {}", i + 1).into())
    };
    let start = Instant::now();
    let mut extra = Vec::new();
    let bytes = match phase.as_str() {
        "ours-put" | "ours-put-overwrite" => {
            let mode = if phase == "ours-put" {
                PutMode::Create
            } else {
                PutMode::Overwrite
            };
            let store = ours(endpoint, bucket)?;
            store
                .put_file(&ObjectPath::new(arg(1)?)?, Path::new(arg(0)?), mode)?
                .size
        }
        "ours-get" => {
            ours(endpoint, bucket)?.get_file(&ObjectPath::new(arg(0)?)?, Path::new(arg(1)?))?
        }
        "raw-put" => raw_put(&raw(endpoint, bucket)?, Path::new(arg(0)?), arg(1)?)?,
        "raw-get" => raw_get(&raw(endpoint, bucket)?, arg(0)?, Path::new(arg(1)?))?,
        "artifact-write" => {
            let store = ours(endpoint, bucket)?;
            let staging =
                std::env::temp_dir().join(format!("bucket-throughput-{}", std::process::id()));
            let value = PathBuf::from(arg(0)?);
            let written = write_artifact(
                store.as_ref(),
                &staging,
                &ObjectPath::new(arg(1)?)?,
                &FileMaterializer,
                &value,
            );
            let _ = fs::remove_dir_all(&staging);
            let written = written?;
            extra.push(format!("hash={}", written.content_hash));
            written.size
        }
        "artifact-read" => {
            let store = ours(endpoint, bucket)?;
            let staging =
                std::env::temp_dir().join(format!("bucket-throughput-{}", std::process::id()));
            let read = read_artifact(
                store.as_ref(),
                &staging,
                &ObjectPath::new(arg(0)?)?,
                arg(1)?,
                &SizeMaterializer,
            );
            let _ = fs::remove_dir_all(&staging);
            read?
        }
        "delete" => ours(endpoint, bucket)?.delete_prefix(&ObjectPath::new(arg(0)?)?)? as u64,
        other => return Err(format!("unknown phase `{other}`").into()),
    };
    let seconds = start.elapsed().as_secs_f64();
    println!("seconds={seconds:.6}");
    println!("bytes={bytes}");
    println!("peak_rss_kib={}", peak_rss_kib()?);
    for line in extra {
        println!("{line}");
    }
    Ok(())
}

/// The `s3` flavor on the test server, with its default transfer settings.
fn ours(endpoint: &str, bucket: &str) -> Result<Box<dyn ArtifactStore>, Error> {
    let mut config: S3ArtifactStoreConfig = toml::from_str(&format!(
        "path = \"s3://{bucket}/bench\"\nendpoint = \"{endpoint}\"\nallow_http = true\nregion = \"us-east-1\""
    ))?;
    config.access_key_id = Some(SecretString::new("testing"));
    config.secret_access_key = Some(SecretString::new("testing"));
    Ok(config.open(&ComponentContext::new(std::env::temp_dir()))?)
}

/// `object_store`'s own S3 client with the same settings.
fn raw(endpoint: &str, bucket: &str) -> Result<Arc<dyn ObjectStore>, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Arc::new(
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()?,
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?)
}

/// A multipart upload of `file`, read in parts, `CONCURRENCY` parts in flight.
fn raw_put(store: &Arc<dyn ObjectStore>, file: &Path, key: &str) -> Result<u64, Error> {
    let location = StorePath::from(format!("bench/{key}"));
    let mut input = fs::File::open(file)?;
    runtime()?.block_on(async {
        let upload = store.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut total = 0u64;
        loop {
            writer.wait_for_capacity(CONCURRENCY).await?;
            let mut part = vec![0u8; PART];
            let mut filled = 0;
            while filled < PART {
                let n = input.read(&mut part[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            part.truncate(filled);
            total += filled as u64;
            writer.put(part.into());
        }
        writer.finish().await?;
        Ok(total)
    })
}

/// A streamed GET of `key` into `file`.
fn raw_get(store: &Arc<dyn ObjectStore>, key: &str, file: &Path) -> Result<u64, Error> {
    let location = StorePath::from(format!("bench/{key}"));
    let mut output = fs::File::create(file)?;
    runtime()?.block_on(async {
        let mut stream = store.get(&location).await?.into_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            output.write_all(&chunk)?;
            total += chunk.len() as u64;
        }
        Ok(total)
    })
}

/// The process's peak resident memory, from `/proc/self/status`.
fn peak_rss_kib() -> Result<u64, Error> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".into())
}

/// Saves a local file (the value is its path) by copying it into the artifact's folder.
#[derive(Debug)]
struct FileMaterializer;

impl Materializer for FileMaterializer {
    type Value = PathBuf;
    fn id(&self) -> &'static str {
        "bench.file"
    }
    fn version(&self) -> u32 {
        1
    }
    fn save(&self, value: &PathBuf, dir: &Path) -> Result<(), MaterializerError> {
        let file = dir.join("data.bin");
        fs::copy(value, &file)
            .map(drop)
            .map_err(|source| MaterializerError::Io {
                action: "cannot copy into",
                path: file,
                source,
            })
    }
    fn load(&self, dir: &Path) -> Result<PathBuf, MaterializerError> {
        Ok(dir.join("data.bin"))
    }
}

/// Loads an artifact as the size of its one file (the bytes stay on disk).
#[derive(Debug)]
struct SizeMaterializer;

impl Materializer for SizeMaterializer {
    type Value = u64;
    fn id(&self) -> &'static str {
        "bench.file"
    }
    fn version(&self) -> u32 {
        1
    }
    fn save(&self, value: &u64, _dir: &Path) -> Result<(), MaterializerError> {
        Err(MaterializerError::Unsupported {
            id: self.id(),
            rust_type: "u64",
            message: format!("this benchmark materializer only loads (not {value})"),
        })
    }
    fn load(&self, dir: &Path) -> Result<u64, MaterializerError> {
        let file = dir.join("data.bin");
        fs::metadata(&file)
            .map(|m| m.len())
            .map_err(|source| MaterializerError::Io {
                action: "cannot inspect",
                path: file,
                source,
            })
    }
}

//! Moving bytes: single and multipart uploads from a blocking reader, holding at most a few
//! parts in memory, and streamed downloads into a blocking reader, holding a few chunks.

use std::collections::VecDeque;
use std::io::{self, Read};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{
    CopyMode, CopyOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload, PutResult,
    WriteMultipart,
};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use zenml_artifact_store::PutMode;

/// One `PUT` of `payload` at `location` by `mode`.
pub(crate) async fn put_small(
    store: &dyn ObjectStore,
    location: &StorePath,
    payload: Bytes,
    mode: PutMode,
) -> object_store::Result<PutResult> {
    let options = PutOptions {
        mode: match mode {
            PutMode::Overwrite => object_store::PutMode::Overwrite,
            PutMode::Create => object_store::PutMode::Create,
        },
        ..PutOptions::default()
    };
    store
        .put_opts(location, PutPayload::from_bytes(payload), options)
        .await
}

/// Why an upload failed.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// Reading the source failed.
    Source(io::Error),
    /// The backend failed.
    Store(object_store::Error),
}

impl From<object_store::Error> for UploadError {
    fn from(e: object_store::Error) -> UploadError {
        UploadError::Store(e)
    }
}

/// An upload of a blocking reader's bytes.
pub(crate) struct Upload<'a> {
    pub(crate) store: &'a dyn ObjectStore,
    pub(crate) location: &'a StorePath,
    /// Where a large conditional create is uploaded before it is copied into place.
    pub(crate) staging: &'a StorePath,
    pub(crate) mode: PutMode,
    pub(crate) part_size: usize,
    pub(crate) max_concurrency: usize,
}

impl Upload<'_> {
    /// Uploads everything `source` yields and returns the result with the bytes written.
    ///
    /// Up to one part: a single conditional or plain `PUT`. More: a multipart upload (to the
    /// staging location for [`PutMode::Create`], then copied into place only if nothing is
    /// there, then deleted), with up to `max_concurrency` parts in flight. A failure aborts
    /// the multipart upload, so no part and no partial object stays behind.
    pub(crate) async fn run(
        &self,
        source: &mut dyn Read,
    ) -> Result<zenml_artifact_store::PutResult, UploadError> {
        let first = read_part(source, self.part_size).map_err(UploadError::Source)?;
        if first.len() < self.part_size {
            let size = first.len() as u64;
            let result = put_small(self.store, self.location, first.into(), self.mode).await?;
            return Ok(put_result(size, result));
        }
        let target = match self.mode {
            PutMode::Overwrite => self.location,
            PutMode::Create => self.staging,
        };
        let (size, result) = self.multipart(target, first, source).await?;
        if self.mode == PutMode::Overwrite {
            return Ok(put_result(size, result));
        }
        let copied = self
            .store
            .copy_opts(
                self.staging,
                self.location,
                CopyOptions {
                    mode: CopyMode::Create,
                    ..CopyOptions::default()
                },
            )
            .await;
        // The staged copy is only ours; whatever happened, it goes.
        let _ = self.store.delete(self.staging).await;
        copied?;
        // The copy has its own ETag; report the object as it is now.
        let meta = self.store.head(self.location).await?;
        Ok(zenml_artifact_store::PutResult {
            size,
            e_tag: meta.e_tag,
            version: meta.version,
        })
    }

    /// A multipart upload of `first` and the rest of `source` to `target`.
    async fn multipart(
        &self,
        target: &StorePath,
        first: Vec<u8>,
        source: &mut dyn Read,
    ) -> Result<(u64, PutResult), UploadError> {
        let upload = self.store.put_multipart(target).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut size = first.len() as u64;
        writer.put(first.into());
        let outcome: Result<(), UploadError> = async {
            loop {
                writer.wait_for_capacity(self.max_concurrency).await?;
                let part = read_part(source, self.part_size).map_err(UploadError::Source)?;
                if part.is_empty() {
                    return Ok(());
                }
                size += part.len() as u64;
                writer.put(part.into());
            }
        }
        .await;
        match outcome {
            Ok(()) => Ok((size, writer.finish().await?)),
            Err(e) => {
                // Best effort: the backend also expires abandoned uploads.
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

fn put_result(size: u64, result: PutResult) -> zenml_artifact_store::PutResult {
    zenml_artifact_store::PutResult {
        size,
        e_tag: result.e_tag,
        version: result.version,
    }
}

/// Reads up to `len` bytes (fewer only at the end of `source`).
fn read_part(source: &mut dyn Read, len: usize) -> io::Result<Vec<u8>> {
    let mut part = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match source.read(&mut part[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    part.truncate(filled);
    Ok(part)
}

/// Forwards the body of a GET into a channel that a [`StreamReader`] drains, so that the
/// download runs on the shared runtime while a blocking reader consumes it. Chunks that are
/// ready together travel as one batch (fewer wake-ups of the reader); the channel holds a few
/// batches: the whole object is never in memory.
async fn forward(result: object_store::GetResult, sender: mpsc::Sender<Batch>, describe: String) {
    let mut stream = result.into_stream().ready_chunks(BATCH_CHUNKS);
    while let Some(items) = stream.next().await {
        let mut batch = Vec::with_capacity(items.len());
        let mut failure = None;
        for item in items {
            match item {
                Ok(bytes) => batch.push(bytes),
                Err(e) => {
                    failure = Some(read_error(&describe, e));
                    break;
                }
            }
        }
        if !batch.is_empty() && sender.send(Ok(batch)).await.is_err() {
            // The reader was dropped: stop.
            return;
        }
        if let Some(failure) = failure {
            let _ = sender.send(Err(failure)).await;
            return;
        }
    }
}

/// Chunks of a body, or the error that ended it.
type Batch = io::Result<Vec<Bytes>>;

/// The most chunks in one batch.
const BATCH_CHUNKS: usize = 64;

/// The object was replaced while it was being read: its ETag no longer matches.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` was replaced while it was being read")]
pub(crate) struct ObjectChanged(String);

/// The I/O error a reader reports for a failed part; a replaced object is [`ObjectChanged`].
fn read_error(describe: &str, error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::Precondition { .. } => object_changed(describe),
        other => io::Error::other(format!("reading `{describe}`: {other}")),
    }
}

/// The I/O error of a read whose object was replaced before or while it was read.
pub(crate) fn object_changed(describe: &str) -> io::Error {
    io::Error::other(ObjectChanged(describe.to_owned()))
}

/// Whether a read failed because the object was replaced during it.
pub(crate) fn is_object_changed(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<ObjectChanged>())
}

/// A blocking [`Read`] over the body of one GET running on the shared runtime; dropping the
/// reader stops the download.
pub(crate) struct StreamReader {
    receiver: mpsc::Receiver<Batch>,
    queue: VecDeque<Bytes>,
    remaining: u64,
    describe: String,
}

/// The batches buffered between the download and the reader.
const BUFFERED_BATCHES: usize = 4;

impl StreamReader {
    /// A reader of `result`'s body, `len` bytes, downloaded on `runtime`.
    pub(crate) fn start(
        runtime: &Runtime,
        result: object_store::GetResult,
        len: u64,
        describe: String,
    ) -> StreamReader {
        let (sender, receiver) = mpsc::channel(BUFFERED_BATCHES);
        runtime.spawn(forward(result, sender, describe.clone()));
        StreamReader {
            receiver,
            queue: VecDeque::new(),
            remaining: len,
            describe,
        }
    }

    /// A reader of nothing (an empty range).
    pub(crate) fn empty() -> StreamReader {
        let (_, receiver) = mpsc::channel(1);
        StreamReader {
            receiver,
            queue: VecDeque::new(),
            remaining: 0,
            describe: String::new(),
        }
    }

    /// Moves a received batch into the queue.
    fn take(&mut self, batch: Option<Batch>) -> io::Result<()> {
        match batch {
            Some(Ok(chunks)) => {
                self.queue
                    .extend(chunks.into_iter().filter(|c| !c.is_empty()));
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the download of `{}` ended {} bytes early",
                    self.describe, self.remaining
                ),
            )),
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.remaining == 0 {
            return Ok(0);
        }
        while self.queue.is_empty() {
            let batch = self.receiver.blocking_recv();
            self.take(batch)?;
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let mut filled = 0;
        while filled < want {
            let Some(chunk) = self.queue.front_mut() else {
                // Take what already arrived, without waiting for more.
                match self.receiver.try_recv() {
                    Ok(batch) => {
                        self.take(Some(batch))?;
                        continue;
                    }
                    Err(_) => break,
                }
            };
            let n = (want - filled).min(chunk.len());
            buf[filled..filled + n].copy_from_slice(&chunk.split_to(n));
            if chunk.is_empty() {
                self.queue.pop_front();
            }
            filled += n;
        }
        self.remaining -= filled as u64;
        Ok(filled)
    }
}

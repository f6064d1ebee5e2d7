//! The content hash of an artifact's files: BLAKE3 over a stream of (path, length, content)
//! records, computed by several threads for files on disk, or incrementally as bytes arrive.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

use super::{ArtifactFile, ArtifactIoError, io_error};

/// The size of the slices files are hashed in: a power of two, at least one BLAKE3 chunk.
const SLICE_LEN: usize = 1 << 20;
/// The most threads one hash uses.
const MAX_HASH_THREADS: usize = 8;

/// The record header that precedes a file's content in the hashed stream: the relative
/// path's length (8 bytes, little-endian), the path, and the content's length.
pub(super) fn record_header(relative: &str, content_len: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(relative.len() + 16);
    header.extend_from_slice(&(relative.len() as u64).to_le_bytes());
    header.extend_from_slice(relative.as_bytes());
    header.extend_from_slice(&content_len.to_le_bytes());
    header
}

/// The hash and total size of `files`, sorted by relative path (see
/// [`content_hash_of_dir`]).
pub(super) fn hash_files(files: &[ArtifactFile]) -> Result<(String, u64), ArtifactIoError> {
    let stream = Stream::new(files)?;
    // Asked once per process: the answer reads several cgroup files each time, and every
    // artifact is hashed.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(MAX_HASH_THREADS)
    });
    let hash = stream.hash(SLICE_LEN, threads)?;
    Ok((hash.to_hex().to_string(), stream.content_len))
}

/// The bytes a content hash covers: per file, a header (path length, path, content length)
/// and the content, concatenated.
#[derive(Debug)]
struct Stream<'a> {
    /// The segments, in order.
    segments: Vec<Segment<'a>>,
    /// The total length in bytes.
    len: u64,
    /// The total length of the files' contents.
    content_len: u64,
}

/// A part of a [`Stream`].
#[derive(Debug)]
struct Segment<'a> {
    /// Where it starts in the stream.
    start: u64,
    /// Its length.
    len: u64,
    /// A header's bytes, or `None` for a file's content.
    header: Option<Vec<u8>>,
    /// The file the segment belongs to.
    file: &'a Path,
}

impl<'a> Stream<'a> {
    fn new(files: &'a [ArtifactFile]) -> Result<Stream<'a>, ArtifactIoError> {
        let mut segments = Vec::with_capacity(files.len() * 2);
        let (mut len, mut content_len) = (0u64, 0u64);
        for file in files {
            let meta =
                fs::symlink_metadata(&file.path).map_err(io_error("cannot inspect", &file.path))?;
            let content = meta.len();
            let header = record_header(&file.relative, content);
            let header_len = header.len() as u64;
            segments.push(Segment {
                start: len,
                len: header_len,
                header: Some(header),
                file: &file.path,
            });
            segments.push(Segment {
                start: len + header_len,
                len: content,
                header: None,
                file: &file.path,
            });
            len += header_len + content;
            content_len += content;
        }
        Ok(Stream {
            segments,
            len,
            content_len,
        })
    }

    /// The BLAKE3 hash of the stream, read in slices of `slice_len` bytes (a power of two,
    /// at least one BLAKE3 chunk) by up to `threads` threads.
    ///
    /// With more than one slice and thread, each thread hashes a run of consecutive slices
    /// as BLAKE3 subtrees and the chaining values are merged along the BLAKE3 tree, which
    /// gives exactly the hash of the whole stream.
    fn hash(&self, slice_len: usize, threads: usize) -> Result<blake3::Hash, ArtifactIoError> {
        let slice = slice_len as u64;
        let slices = usize::try_from(self.len.div_ceil(slice)).unwrap_or(usize::MAX);
        let threads = threads.min(slices);
        if threads < 2 {
            let mut hasher = blake3::Hasher::new();
            let mut cursor = Cursor::new(self, 0);
            let mut buffer = vec![0u8; slice_len];
            let mut position = 0;
            while position < self.len {
                let n = slice.min(self.len - position) as usize;
                cursor.read_exact(&mut buffer[..n])?;
                hasher.update(&buffer[..n]);
                position += n as u64;
            }
            return Ok(hasher.finalize());
        }
        // Consecutive runs of slices, one per thread.
        let runs: Vec<(usize, usize)> = (0..threads)
            .map(|t| (slices * t / threads, slices * (t + 1) / threads))
            .collect();
        let results: Vec<Result<Vec<ChainingValue>, ArtifactIoError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = runs
                    .iter()
                    .map(|&(first, end)| scope.spawn(move || self.hash_slices(slice, first, end)))
                    .collect();
                handles
                    .into_iter()
                    .map(|handle| {
                        handle
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            });
        let mut chaining_values = Vec::with_capacity(slices);
        for result in results {
            chaining_values.extend(result?);
        }
        let left = left_len(chaining_values.len());
        Ok(merge_subtrees_root(
            &merge(&chaining_values[..left]),
            &merge(&chaining_values[left..]),
            Mode::Hash,
        ))
    }

    /// The chaining values of slices `first..end`, each a complete BLAKE3 subtree.
    fn hash_slices(
        &self,
        slice: u64,
        first: usize,
        end: usize,
    ) -> Result<Vec<ChainingValue>, ArtifactIoError> {
        let mut out = Vec::with_capacity(end - first);
        let mut position = first as u64 * slice;
        let mut cursor = Cursor::new(self, position);
        let mut buffer = vec![0u8; slice as usize];
        for _ in first..end {
            let n = slice.min(self.len - position) as usize;
            cursor.read_exact(&mut buffer[..n])?;
            let mut hasher = blake3::Hasher::new();
            hasher.set_input_offset(position);
            hasher.update(&buffer[..n]);
            out.push(hasher.finalize_non_root());
            position += n as u64;
        }
        Ok(out)
    }
}

/// Merges the chaining values of consecutive, equally sized (except the last) complete
/// subtrees into the chaining value of the subtree they form, following BLAKE3's tree: the
/// left side is the largest power of two strictly smaller than the whole.
fn merge(chaining_values: &[ChainingValue]) -> ChainingValue {
    if let [single] = chaining_values {
        return *single;
    }
    let left = left_len(chaining_values.len());
    merge_subtrees_non_root(
        &merge(&chaining_values[..left]),
        &merge(&chaining_values[left..]),
        Mode::Hash,
    )
}

/// The largest power of two strictly smaller than `n` (at least 2).
fn left_len(n: usize) -> usize {
    n.div_ceil(2).next_power_of_two()
}

/// Reads a [`Stream`] forward from a position.
struct Cursor<'s, 'a> {
    stream: &'s Stream<'a>,
    /// The current segment.
    index: usize,
    /// The position within it.
    offset: u64,
    /// The open file of the current segment, if it is a file's content.
    file: Option<fs::File>,
}

impl<'s, 'a> Cursor<'s, 'a> {
    fn new(stream: &'s Stream<'a>, position: u64) -> Cursor<'s, 'a> {
        // The last segment starting at or before `position`.
        let index = stream
            .segments
            .partition_point(|s| s.start <= position)
            .saturating_sub(1);
        let offset = stream.segments.get(index).map_or(0, |s| position - s.start);
        Cursor {
            stream,
            index,
            offset,
            file: None,
        }
    }

    /// Fills `buffer` with the next bytes of the stream.
    fn read_exact(&mut self, mut buffer: &mut [u8]) -> Result<(), ArtifactIoError> {
        while !buffer.is_empty() {
            let Some(segment) = self.stream.segments.get(self.index) else {
                return Err(changed(self.stream.segments.last().map(|s| s.file)));
            };
            if self.offset == segment.len {
                self.index += 1;
                self.offset = 0;
                self.file = None;
                continue;
            }
            let n = (segment.len - self.offset).min(buffer.len() as u64) as usize;
            let (now, rest) = buffer.split_at_mut(n);
            match &segment.header {
                Some(header) => now.copy_from_slice(&header[self.offset as usize..][..n]),
                None => self.read_file(segment, now)?,
            }
            self.offset += n as u64;
            buffer = rest;
        }
        Ok(())
    }

    /// Fills `buffer` from the current file segment at the current offset.
    fn read_file(
        &mut self,
        segment: &Segment<'_>,
        buffer: &mut [u8],
    ) -> Result<(), ArtifactIoError> {
        let path = segment.file;
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let mut file = fs::File::open(path).map_err(io_error("cannot read", path))?;
                let len = file
                    .metadata()
                    .map_err(io_error("cannot inspect", path))?
                    .len();
                if len != segment.len {
                    return Err(changed(Some(path)));
                }
                file.seek(SeekFrom::Start(self.offset))
                    .map_err(io_error("cannot read", path))?;
                self.file.insert(file)
            }
        };
        file.read_exact(buffer).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                changed(Some(path))
            } else {
                io_error("cannot read", path)(e)
            }
        })
    }
}

/// The error for a file that changed while it was hashed.
fn changed(path: Option<&Path>) -> ArtifactIoError {
    ArtifactIoError::Io {
        action: "cannot hash",
        path: path.map(Path::to_path_buf).unwrap_or_default(),
        source: io::Error::other("the file changed while it was being read"),
    }
}

/// The content hash computed incrementally as an artifact's files arrive (a download),
/// file by file in the byte order of their relative paths: the same hash as
/// [`hash_files`] over the same files, without reading them a second time.
pub(super) struct StreamingHash {
    hasher: blake3::Hasher,
    size: u64,
}

impl StreamingHash {
    pub(super) fn new() -> StreamingHash {
        StreamingHash {
            hasher: blake3::Hasher::new(),
            size: 0,
        }
    }

    /// Starts the next file, of `content_len` bytes.
    pub(super) fn begin_file(&mut self, relative: &str, content_len: u64) {
        self.hasher.update(&record_header(relative, content_len));
        self.size += content_len;
    }

    /// Adds content bytes of the current file.
    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// The hash (64 lowercase hex digits) and the total content size.
    pub(super) fn finish(self) -> (String, u64) {
        (self.hasher.finalize().to_hex().to_string(), self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::super::collect_files;
    use super::*;

    #[test]
    fn hashing_in_parallel_slices_gives_the_sequential_hash() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [0usize, 1, 1023, 1024, 1025, 4096, 5000, 70_001, 0, 3];
        let mut files = Vec::new();
        let mut stream = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let relative = format!("f{i:02}");
            let data: Vec<u8> = (0..*size).map(|b| (b * 31 + i) as u8).collect();
            fs::write(dir.path().join(&relative), &data).unwrap();
            stream.extend_from_slice(&(relative.len() as u64).to_le_bytes());
            stream.extend_from_slice(relative.as_bytes());
            stream.extend_from_slice(&(data.len() as u64).to_le_bytes());
            stream.extend_from_slice(&data);
            files.push(ArtifactFile {
                path: dir.path().join(&relative),
                relative,
            });
        }
        for count in [0, 1, 2, 4, 7, files.len()] {
            let files = &files[..count];
            let expected_len: usize = files
                .iter()
                .map(|f| 16 + f.relative.len() + fs::metadata(&f.path).unwrap().len() as usize)
                .sum();
            let expected = blake3::hash(&stream[..expected_len]);
            let stream = Stream::new(files).unwrap();
            assert_eq!(stream.len as usize, expected_len);
            for slice in [1024, 2048, 8192, 1 << 20] {
                for threads in 1..=5 {
                    assert_eq!(
                        stream.hash(slice, threads).unwrap(),
                        expected,
                        "{count} files, slices of {slice}, {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn a_file_that_changes_while_hashed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), vec![1u8; 5000]).unwrap();
        let files = collect_files(dir.path()).unwrap();
        let stream = Stream::new(&files).unwrap();
        fs::write(dir.path().join("f"), vec![1u8; 4000]).unwrap();
        for threads in [1, 3] {
            let err = stream.hash(1024, threads).unwrap_err();
            assert!(err.to_string().contains("changed while"), "{err}");
        }
    }

    #[test]
    fn the_streaming_hash_is_the_hash_of_the_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("b"), vec![9u8; 3 << 20]).unwrap();
        fs::write(dir.path().join("sub").join("a"), b"small").unwrap();
        fs::write(dir.path().join("a"), b"").unwrap();
        let files = collect_files(dir.path()).unwrap();
        let mut streaming = StreamingHash::new();
        for file in &files {
            let data = fs::read(&file.path).unwrap();
            streaming.begin_file(&file.relative, data.len() as u64);
            for chunk in data.chunks(7777) {
                streaming.update(chunk);
            }
        }
        assert_eq!(streaming.finish(), hash_files(&files).unwrap());
    }
}

//! File access shared by materializers: creating new files, and opening and reading
//! regular files without following links.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::MaterializerError;

/// How many names a [`MaterializerError::MissingFile`] lists.
const MAX_LISTED: usize = 10;

/// Writes `data` to the new file `dir/name`; fails if it exists already.
///
/// For materializers' `save`.
pub fn write_new(dir: &Path, name: &str, data: &[u8]) -> Result<(), MaterializerError> {
    let path = dir.join(name);
    let io_err = |action| {
        let path = path.clone();
        move |source| MaterializerError::Io {
            action,
            path,
            source,
        }
    };
    let mut file = fs::File::create_new(&path).map_err(io_err("cannot create"))?;
    file.write_all(data).map_err(io_err("cannot write"))?;
    file.flush().map_err(io_err("cannot write"))
}

/// Opens the regular file `dir/name` for reading, without following a link: a missing file
/// is [`MaterializerError::MissingFile`] (listing what `dir` holds), a link or anything but
/// a regular file is [`MaterializerError::Mismatch`]. Returns the file and its path.
///
/// For materializers: `id` and `rust_type` name the materializer and the type it loads.
pub fn open_regular(
    dir: &Path,
    name: &str,
    id: &'static str,
    rust_type: &'static str,
) -> Result<(fs::File, PathBuf), MaterializerError> {
    let path = dir.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(MaterializerError::MissingFile {
                id,
                rust_type,
                found: list(dir)?,
                file: path,
            });
        }
        Err(source) => {
            return Err(MaterializerError::Io {
                action: "cannot inspect",
                path,
                source,
            });
        }
    };
    let not_regular = |meta: &fs::Metadata, path: PathBuf| {
        let what = if meta.file_type().is_symlink() {
            "a link, which is not followed"
        } else {
            "not a regular file"
        };
        MaterializerError::Mismatch {
            id,
            rust_type,
            file: path,
            message: format!("it is {what}"),
        }
    };
    if !meta.is_file() {
        return Err(not_regular(&meta, path));
    }
    let file = fs::File::open(&path).map_err(|source| MaterializerError::Io {
        action: "cannot open",
        path: path.clone(),
        source,
    })?;
    // The file opened must be the one inspected: a link put in its place in between is
    // refused too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let opened = file.metadata().map_err(|source| MaterializerError::Io {
            action: "cannot inspect",
            path: path.clone(),
            source,
        })?;
        if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
            return Err(MaterializerError::Mismatch {
                id,
                rust_type,
                file: path,
                message: "it was replaced while it was opened".to_owned(),
            });
        }
    }
    Ok((file, path))
}

/// Reads the regular file `dir/name` whole, without following a link (see
/// [`open_regular`]).
pub fn read_regular(
    dir: &Path,
    name: &str,
    id: &'static str,
    rust_type: &'static str,
) -> Result<Vec<u8>, MaterializerError> {
    let (file, path) = open_regular(dir, name, id, rust_type)?;
    read_whole_file(file).map_err(|source| MaterializerError::Io {
        action: "cannot read",
        path,
        source,
    })
}

/// Files at least this large are read by several threads at once.
const PARALLEL_READ_MIN: u64 = 64 << 20;
/// The blocks a parallel read hands out to its threads.
const READ_BLOCK: usize = 8 << 20;
/// The most threads one read uses.
const MAX_READ_THREADS: usize = 4;

/// Reads the whole file at `path` into memory (see [`read_whole_file`]).
#[cfg(test)]
fn read_whole(path: &Path) -> io::Result<Vec<u8>> {
    read_whole_file(fs::File::open(path)?)
}

/// Reads all of `file` into memory.
///
/// A large file is read into its buffer by several threads, each filling blocks of it with
/// positioned reads. Most of the cost of reading a large page-cached file into fresh memory
/// is the kernel's handling of the first touch of every page of the new buffer, and threads
/// pay it side by side. A file that shrinks or grows while it is read is an error.
fn read_whole_file(mut file: fs::File) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    #[cfg(unix)]
    if len >= PARALLEL_READ_MIN {
        return read_in_parallel(&file, len);
    }
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut data)?;
    Ok(data)
}

/// Reads the `len` bytes of `file` with several threads (see [`read_whole`]).
#[cfg(unix)]
fn read_in_parallel(file: &fs::File, len: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    use std::sync::Mutex;

    let size = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "the file is too large"))?;
    let mut data = vec![0u8; size];
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        // Page faults also wait on the hypervisor on virtual machines, so a thread more than
        // there are cores still helps.
        .saturating_mul(2)
        .clamp(1, MAX_READ_THREADS);
    let blocks = Mutex::new(data.chunks_mut(READ_BLOCK).enumerate());
    let results: Vec<io::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let next = blocks
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .next();
                        let Some((index, block)) = next else {
                            return Ok(());
                        };
                        file.read_exact_at(block, (index * READ_BLOCK) as u64)?;
                    }
                })
            })
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
    results.into_iter().collect::<io::Result<()>>()?;
    if file.read_at(&mut [0u8; 1], len)? != 0 {
        return Err(io::Error::other("the file grew while it was read"));
    }
    Ok(data)
}

/// The sorted names in `dir`, at most [`MAX_LISTED`] and then `…`.
fn list(dir: &Path) -> Result<Vec<String>, MaterializerError> {
    let io_err = |source| MaterializerError::Io {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        names.push(
            entry
                .map_err(io_err)?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    if names.len() > MAX_LISTED {
        names.truncate(MAX_LISTED);
        names.push("…".to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_whole_at_every_size() {
        let dir = tempfile::tempdir().unwrap();
        // Small, exactly one parallel block, and large with a last block cut short.
        for len in [0, 1, READ_BLOCK, PARALLEL_READ_MIN as usize + 12_345] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("{len}.bin"));
            fs::write(&path, &data).unwrap();
            let read = read_whole(&path).unwrap();
            assert!(read == data, "{len} bytes read back differently");
        }
        let err = read_whole(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}

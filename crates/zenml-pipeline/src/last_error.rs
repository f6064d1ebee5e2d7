//! The last `error: …` line a step's process wrote: why it ended, when it ended before it
//! could record itself (it could not open the metadata store, say). The runner adds it to
//! the failure it records, which otherwise could only say how the process exited.

use std::io::{self, Read};

/// The prefix of the line a zenml program writes when it fails.
const ERROR_PREFIX: &str = "error: ";

/// The longest line kept, in bytes; the rest of a longer line is dropped.
const MAX_LINE: usize = 4096;

/// A reader that passes `inner` through while noting its last line that starts with
/// `error: `.
pub(crate) struct LastErrorLine<R> {
    inner: R,
    line: Vec<u8>,
    last: Option<String>,
}

impl<R: Read> LastErrorLine<R> {
    pub(crate) fn new(inner: R) -> LastErrorLine<R> {
        LastErrorLine {
            inner,
            line: Vec::new(),
            last: None,
        }
    }

    /// Reads what is left (what the consumer did not read) and returns the last error line
    /// without its prefix.
    pub(crate) fn finish(mut self) -> Option<String> {
        let _ = io::copy(&mut self, &mut io::sink());
        self.end_line();
        self.last
    }

    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line);
        if let Some(message) = text.trim_end().strip_prefix(ERROR_PREFIX) {
            self.last = Some(message.to_owned());
        }
        self.line.clear();
    }
}

impl<R: Read> Read for LastErrorLine<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        for &byte in &buf[..read] {
            if byte == b'\n' {
                self.end_line();
            } else if self.line.len() < MAX_LINE {
                self.line.push(byte);
            }
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(text: &str, consumed: usize) -> Option<String> {
        let mut reader = LastErrorLine::new(text.as_bytes());
        let mut first = vec![0u8; consumed];
        reader.read_exact(&mut first).unwrap();
        reader.finish()
    }

    #[test]
    fn the_last_error_line_is_kept_whoever_read_how_much() {
        let text = "step starts\nerror: first\nwarning: w\nerror: cannot open the store\nbye\n";
        for consumed in [0, 5, 20, text.len()] {
            assert_eq!(
                last(text, consumed).as_deref(),
                Some("cannot open the store")
            );
        }
        assert_eq!(
            last("error: no newline at the end", 3).as_deref(),
            Some("no newline at the end")
        );
        assert_eq!(last("all is well\n", 0), None);
        assert_eq!(last("", 0), None);
    }

    #[test]
    fn a_long_line_is_cut() {
        let text = format!("error: {}\n", "x".repeat(10_000));
        assert_eq!(
            last(&text, 0).map(|l| l.len()),
            Some(MAX_LINE - ERROR_PREFIX.len())
        );
    }
}

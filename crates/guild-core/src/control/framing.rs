//! Newline framing with a bound: a line longer than the limit is reported (and skipped up to its
//! newline) instead of being buffered, so a client cannot make the daemon allocate without limit
//! and the connection stays usable after an oversized request.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`LineReader::next`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Line(Vec<u8>),
    /// A line longer than the limit; it has been skipped up to and including its newline. The
    /// number is how many bytes it had (at least; counting stops at end of input).
    TooLong(usize),
    /// End of input.
    Eof,
}

/// Reads newline-terminated lines of at most `max` bytes from a buffered reader.
///
/// Cancel-safe: all progress is kept in the reader, so `next` may be used in `tokio::select!`.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// Bytes of the current over-long line seen so far; `Some` while skipping it.
    skipping: Option<usize>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader of lines of at most `max` bytes (newline excluded).
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            skipping: None,
        }
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Reads the next line. A final line without a newline is returned as a line.
    pub async fn next(&mut self) -> std::io::Result<Frame> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if let Some(seen) = self.skipping.take() {
                    return Ok(Frame::TooLong(seen));
                }
                if self.buf.is_empty() {
                    return Ok(Frame::Eof);
                }
                return Ok(Frame::Line(trim_cr(std::mem::take(&mut self.buf))));
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = newline.unwrap_or(available.len());
            match &mut self.skipping {
                Some(seen) => *seen += chunk,
                None if self.buf.len() + chunk > self.max => {
                    self.skipping = Some(self.buf.len() + chunk);
                    self.buf = Vec::new();
                }
                None => self.buf.extend_from_slice(&available[..chunk]),
            }
            let consumed = newline.map_or(chunk, |n| n + 1);
            self.inner.consume(consumed);
            if newline.is_some() {
                if let Some(seen) = self.skipping.take() {
                    return Ok(Frame::TooLong(seen));
                }
                return Ok(Frame::Line(trim_cr(std::mem::take(&mut self.buf))));
            }
        }
    }
}

fn trim_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

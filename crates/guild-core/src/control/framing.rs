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

/// What [`LineReader::next_ref`] read: a [`Frame`] whose line is borrowed from the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Line(&'a [u8]),
    /// A line longer than the limit, skipped (as [`Frame::TooLong`]).
    TooLong(usize),
    /// End of input.
    Eof,
}

/// Largest line buffer kept between lines; a longer line's buffer is released after it.
const MAX_KEPT_LINE: usize = 1024 * 1024;

/// Reads newline-terminated lines of at most `max` bytes from a buffered reader.
///
/// Lines are gathered in a buffer of the reader's own, kept from line to line:
/// [`LineReader::next_ref`] lends them from there, allocating nothing per line.
///
/// Cancel-safe: all progress is kept in the reader, so `next` and `next_ref` may be used in
/// `tokio::select!`.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// Bytes of the current over-long line seen so far; `Some` while skipping it.
    skipping: Option<usize>,
    /// `buf` holds the line lent last, to be cleared by the next read.
    lent: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader of lines of at most `max` bytes (newline excluded).
    pub fn new(inner: R, max: usize) -> LineReader<R> {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            skipping: None,
            lent: false,
        }
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Reads the next line. A final line without a newline is returned as a line.
    pub async fn next(&mut self) -> std::io::Result<Frame> {
        Ok(match self.next_ref().await? {
            FrameRef::Line(line) => Frame::Line(line.to_vec()),
            FrameRef::TooLong(n) => Frame::TooLong(n),
            FrameRef::Eof => Frame::Eof,
        })
    }

    /// Releases the line lent last.
    fn release(&mut self) {
        if std::mem::take(&mut self.lent) {
            self.buf.clear();
            if self.buf.capacity() > MAX_KEPT_LINE {
                self.buf = Vec::new();
            }
        }
    }

    /// The line the last read lent, if it lent one.
    pub fn current(&self) -> Option<&[u8]> {
        self.lent.then(|| trim_cr(&self.buf))
    }

    /// [`LineReader::next`], lending the line instead of handing over a copy: it stays valid
    /// until the next read.
    pub async fn next_ref(&mut self) -> std::io::Result<FrameRef<'_>> {
        self.release();
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if let Some(seen) = self.skipping.take() {
                    return Ok(FrameRef::TooLong(seen));
                }
                if self.buf.is_empty() {
                    return Ok(FrameRef::Eof);
                }
                self.lent = true;
                return Ok(FrameRef::Line(trim_cr(&self.buf)));
            }
            let newline = memchr::memchr(b'\n', available);
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
                    return Ok(FrameRef::TooLong(seen));
                }
                self.lent = true;
                return Ok(FrameRef::Line(trim_cr(&self.buf)));
            }
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

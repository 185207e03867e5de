//! Wire format of the direct request-response protocol (`/guild/<community>/direct/1.0.0`).
//!
//! A request and a response are each one frame on their own stream: an unsigned LEB128
//! varint length (the multiformats `unsigned-varint`, as used throughout libp2p) followed by
//! that many opaque bytes. The bytes are Guild's business; this layer only enforces sizes.
//!
//! A length above the cap is rejected *before* anything is allocated, and the body is read
//! through `take(len)` into a growing buffer, so a peer that announces a large frame and
//! sends nothing costs us nothing.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{request_response, StreamProtocol};

/// Longest varint we accept: 10 bytes encode any `u64`; anything longer is malformed.
const MAX_VARINT_LEN: usize = 10;

/// The direct protocol's codec: length-prefixed opaque bytes with hard size caps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirectCodec {
    /// Largest request accepted or sent, in bytes.
    max_request: usize,
    /// Largest response accepted or sent, in bytes.
    max_response: usize,
}

impl DirectCodec {
    pub(crate) fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
        }
    }
}

impl request_response::Codec for DirectCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.max_response).await
    }
}

/// Reads one frame of at most `max` bytes.
pub(crate) async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let len = read_varint(io).await?;
    let len = usize::try_from(len)
        .ok()
        .filter(|len| *len <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("frame of {len} bytes exceeds the maximum of {max}"),
            )
        })?;
    let mut body = Vec::new();
    // `len <= max` bounds how far `take` lets the buffer grow.
    io.take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame truncated: {} of {len} bytes", body.len()),
        ));
    }
    Ok(body)
}

/// Writes one frame, refusing bodies above `max` bytes. The request-response handler closes
/// the stream afterwards.
pub(crate) async fn write_frame<T>(io: &mut T, body: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    if body.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes exceeds the maximum of {max}", body.len()),
        ));
    }
    let mut prefix = [0u8; MAX_VARINT_LEN];
    let prefix_len = encode_varint(body.len() as u64, &mut prefix);
    io.write_all(&prefix[..prefix_len]).await?;
    io.write_all(body).await?;
    io.flush().await
}

/// Encodes `value` as an unsigned LEB128 varint into `buf`, returning the length used.
fn encode_varint(mut value: u64, buf: &mut [u8; MAX_VARINT_LEN]) -> usize {
    let mut i = 0;
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            buf[i] = byte;
            return i + 1;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
}

/// Reads an unsigned LEB128 varint, rejecting overlong encodings.
async fn read_varint<T>(io: &mut T) -> io::Result<u64>
where
    T: AsyncRead + Unpin + Send,
{
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_LEN {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let bits = u64::from(byte[0] & 0x7f);
        let shift = 7 * i as u32;
        if i == MAX_VARINT_LEN - 1 && bits > 1 {
            break; // would overflow u64
        }
        value |= bits << shift;
        if byte[0] & 0x80 == 0 {
            // Minimal encoding: a final zero byte after the first one is padding.
            if i > 0 && byte[0] == 0 {
                break;
            }
            return Ok(value);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "malformed length prefix",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use futures::{executor::block_on, io::Cursor};
    use libp2p::request_response::Codec as _;

    use super::*;

    fn protocol() -> StreamProtocol {
        StreamProtocol::new("/guild/test/direct/1.0.0")
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(write_frame(&mut out, body, usize::MAX)).unwrap();
        out.into_inner()
    }

    #[test]
    fn round_trip_requests_and_responses() {
        let mut codec = DirectCodec::new(1024, 4096);
        for len in [0usize, 1, 127, 128, 300, 1024] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut wire = Cursor::new(Vec::new());
            block_on(codec.write_request(&protocol(), &mut wire, body.clone())).unwrap();
            let mut wire = Cursor::new(wire.into_inner());
            let read = block_on(codec.read_request(&protocol(), &mut wire)).unwrap();
            assert_eq!(read, body);
        }
        let body = vec![7u8; 4096];
        let mut wire = Cursor::new(Vec::new());
        block_on(codec.write_response(&protocol(), &mut wire, body.clone())).unwrap();
        let mut wire = Cursor::new(wire.into_inner());
        assert_eq!(
            block_on(codec.read_response(&protocol(), &mut wire)).unwrap(),
            body
        );
    }

    #[test]
    fn oversized_frames_are_refused_on_write() {
        let mut codec = DirectCodec::new(10, 20);
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(codec.write_request(&protocol(), &mut wire, vec![0; 11])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.into_inner().is_empty(), "nothing may be written");
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(codec.write_response(&protocol(), &mut wire, vec![0; 21])).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn oversized_frames_are_refused_on_read() {
        let mut codec = DirectCodec::new(10, 20);
        let mut wire = Cursor::new(frame(&[0; 11]));
        let err = block_on(codec.read_request(&protocol(), &mut wire)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let mut wire = Cursor::new(frame(&[0; 21]));
        let err = block_on(codec.read_response(&protocol(), &mut wire)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    /// A reader announcing a huge frame and then failing: if the codec allocated from the
    /// announced length it would abort the test process; it must fail on the prefix alone.
    struct HostilePrefix {
        prefix: Cursor<Vec<u8>>,
    }

    impl AsyncRead for HostilePrefix {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let n = futures::ready!(Pin::new(&mut self.prefix).poll_read(cx, buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::other("body must not be read")));
            }
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn huge_announced_length_is_rejected_before_reading_the_body() {
        let mut prefix = [0u8; MAX_VARINT_LEN];
        let len = encode_varint(u64::MAX, &mut prefix);
        let mut io = HostilePrefix {
            prefix: Cursor::new(prefix[..len].to_vec()),
        };
        let err = block_on(read_frame(&mut io, 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors() {
        let mut wire = frame(&[1, 2, 3, 4]);
        wire.truncate(3);
        let err = block_on(read_frame(&mut Cursor::new(wire), 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

        let eleven_continuations = vec![0x80u8; 11];
        let err = block_on(read_frame(&mut Cursor::new(eleven_continuations), 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let padded = vec![0x81u8, 0x00, 0xAA];
        let err = block_on(read_frame(&mut Cursor::new(padded), 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        let empty: Vec<u8> = Vec::new();
        let err = block_on(read_frame(&mut Cursor::new(empty), 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn varints_match_the_multiformats_encoding() {
        let encode = |value: u64| {
            let mut buf = [0u8; MAX_VARINT_LEN];
            let len = encode_varint(value, &mut buf);
            buf[..len].to_vec()
        };
        assert_eq!(encode(0), [0x00]);
        assert_eq!(encode(1), [0x01]);
        assert_eq!(encode(127), [0x7f]);
        assert_eq!(encode(128), [0x80, 0x01]);
        assert_eq!(encode(300), [0xac, 0x02]);
        let mut buf = [0u8; MAX_VARINT_LEN];
        assert_eq!(encode_varint(u64::MAX, &mut buf), 10);
        for value in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let len = encode_varint(value, &mut buf);
            let read = block_on(read_varint(&mut Cursor::new(buf[..len].to_vec()))).unwrap();
            assert_eq!(read, value);
        }
    }
}

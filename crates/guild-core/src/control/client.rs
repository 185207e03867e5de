//! A client of the control socket, used by the `guild` CLI, tests and Rust scripts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), guild_core::control::ClientError> {
//! use guild_core::control::{Client, Call};
//! let mut client = Client::connect("/home/me/.local/share/guild/guild.sock").await?;
//! let status = client.status().await?;
//! println!("{} has {} peers", status.peer_id, status.connected_peers);
//! let mut events = client.subscribe(vec!["peer.*".into()]).await?;
//! while let Some(event) = events.next().await? {
//!     println!("{}", event.kind());
//! }
//! # Ok(()) }
//! ```

use super::call::{Call, SubscribeParams};
use super::event::{Event, EVENT_KINDS};
use super::framing::{FrameRef, LineReader};
use super::types::{Status, Subscribed};
use super::wire::{CallError, Request, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Largest response or event line the client accepts (a `find` with many results is large, but
/// not this large).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// The socket is read this much at a time: a typical `find` answer (8–9 KB for 20 results) in
/// one read.
const READ_BUFFER: usize = 64 * 1024;

/// What can go wrong talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket (it does not exist, or connecting is refused).
    #[error("no guild daemon is listening on {}", socket.display())]
    NotRunning {
        /// The socket tried.
        socket: PathBuf,
    },
    /// Connecting failed for another reason (permissions, not a socket…).
    #[error("cannot connect to the control socket {}: {source}", socket.display())]
    Connect {
        /// The socket tried.
        socket: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    /// The daemon answered with an error.
    #[error("{0}")]
    Call(CallError),
    /// The daemon closed the connection (it stopped, or refused this client).
    #[error("the guild daemon closed the connection")]
    Closed,
    /// The daemon answered something this client does not understand.
    #[error("unexpected answer from the guild daemon: {0}")]
    Protocol(String),
}

/// A connection to the daemon's control socket. Requests are sent one at a time and answered in
/// order.
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    reader: LineReader<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
    next_id: u64,
}

impl Client {
    /// Connects to the socket. A missing socket or a refused connection is
    /// [`ClientError::NotRunning`].
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Client, ClientError> {
        let socket = socket.as_ref().to_path_buf();
        let stream = match UnixStream::connect(&socket).await {
            Ok(stream) => stream,
            Err(e) if is_not_running(&e) => return Err(ClientError::NotRunning { socket }),
            Err(source) => return Err(ClientError::Connect { socket, source }),
        };
        Ok(Client::from_stream(stream, socket))
    }

    /// Wraps a connected stream (`socket` is only used in messages).
    pub fn from_stream(stream: UnixStream, socket: PathBuf) -> Client {
        let (read, writer) = stream.into_split();
        Client {
            socket,
            reader: LineReader::new(
                BufReader::with_capacity(READ_BUFFER, read),
                MAX_RESPONSE_BYTES,
            ),
            writer,
            next_id: 1,
        }
    }

    /// The socket this client is connected to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends a call and waits for its result. An error answer is [`ClientError::Call`].
    pub async fn call(&mut self, call: &Call) -> Result<Value, ClientError> {
        self.call_as(call).await
    }

    /// Sends a call and decodes its result as `T`.
    pub async fn call_as<T: DeserializeOwned>(&mut self, call: &Call) -> Result<T, ClientError> {
        self.call_decode(call).await
    }

    /// Sends a call and returns its result undecoded, valid until the next call: for a caller
    /// that decodes it later, or passes it on. The answer's envelope is checked as
    /// [`Client::call`] checks it.
    pub async fn call_raw(&mut self, call: &Call) -> Result<&RawValue, ClientError> {
        self.call_decode(call).await
    }

    /// Sends a call and decodes its result as `T` in the same pass as the answer's envelope,
    /// borrowing from the answer where `T` does (valid until the next call): for a caller that
    /// needs only part of a large result, with no intermediate [`Value`]. The envelope is
    /// checked as [`Client::call`] checks it.
    pub async fn call_decode<'a, T: Deserialize<'a>>(
        &'a mut self,
        call: &Call,
    ) -> Result<T, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            id: Value::from(id),
            call: call.clone(),
        };
        let mut line = request
            .to_line()
            .map_err(|e| ClientError::Protocol(format!("cannot encode request: {e}")))?;
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await?;
        let line = self.read_response_line().await?;
        let envelope: Envelope<T> = serde_json::from_slice(line).map_err(|e| {
            ClientError::Protocol(format!(
                "cannot read the `{}` answer: {e}: {}",
                call.method(),
                String::from_utf8_lossy(&line[..line.len().min(200)])
            ))
        })?;
        if envelope.id != id && !envelope.id.is_null() {
            return Err(ClientError::Protocol(format!(
                "answer to request {} arrived for request {id}",
                envelope.id
            )));
        }
        match (envelope.result, envelope.error) {
            (Some(result), None) => Ok(result),
            (None, Some(error)) => Err(ClientError::Call(error)),
            _ => Err(ClientError::Protocol(
                "a response has exactly one of `result` and `error`".into(),
            )),
        }
    }

    /// `status`.
    pub async fn status(&mut self) -> Result<Status, ClientError> {
        self.call_as(&Call::Status).await
    }

    /// Subscribes to events of these kinds (empty: all). The connection becomes an event stream.
    pub async fn subscribe(mut self, kinds: Vec<String>) -> Result<Subscription, ClientError> {
        let ack: Subscribed = self
            .call_as(&Call::Subscribe(SubscribeParams { kinds }))
            .await?;
        Ok(Subscription {
            kinds: ack.kinds,
            client: self,
        })
    }

    async fn read_line(&mut self) -> Result<&[u8], ClientError> {
        match self.reader.next_ref().await? {
            FrameRef::Line(line) => Ok(line),
            FrameRef::TooLong(n) => Err(ClientError::Protocol(format!(
                "a line of {n} bytes exceeds the client's limit of {MAX_RESPONSE_BYTES}"
            ))),
            FrameRef::Eof => Err(ClientError::Closed),
        }
    }

    /// The next line that is not blank.
    async fn read_response_line(&mut self) -> Result<&[u8], ClientError> {
        // Blank lines are skipped by looking ahead: the line lent last is released by the next
        // read, so a line kept must be the last one read.
        loop {
            if !self.read_line().await?.iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        match self.reader.current() {
            Some(line) => Ok(line),
            None => Err(ClientError::Closed),
        }
    }
}

/// A response as [`Client::call_decode`] reads it: the result decoded as `R` in the same pass.
#[derive(Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
struct Envelope<R> {
    #[serde(default)]
    id: Value,
    #[serde(default, deserialize_with = "present")]
    result: Option<R>,
    #[serde(default)]
    error: Option<CallError>,
}

/// Tells `"result": null` (present: the result is `null`) from a missing `result`.
fn present<'de, D: serde::Deserializer<'de>, R: Deserialize<'de>>(
    d: D,
) -> Result<Option<R>, D::Error> {
    R::deserialize(d).map(Some)
}

/// An event stream from `subscribe`.
#[derive(Debug)]
pub struct Subscription {
    client: Client,
    kinds: Vec<String>,
}

impl Subscription {
    /// The kinds subscribed to, as acknowledged by the daemon (empty: all).
    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }

    /// The next event as raw JSON (including kinds this build does not know), or `None` when the
    /// daemon ends the stream (it is shutting down).
    pub async fn next_value(&mut self) -> Result<Option<Value>, ClientError> {
        let line = match self.client.read_line().await {
            Ok(line) => line,
            Err(ClientError::Closed) => return Ok(None),
            Err(e) => return Err(e),
        };
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| ClientError::Protocol(format!("event is not JSON: {e}")))?;
        // The daemon ends a stream with an error object (e.g. shutting down): surface it.
        if value.get("event").is_none() {
            if let Ok(Response {
                outcome: Err(error),
                ..
            }) = serde_json::from_value::<Response>(value.clone())
            {
                return Err(ClientError::Call(error));
            }
        }
        Ok(Some(value))
    }

    /// The next event this build knows (events of newer kinds are skipped), or `None` at the end
    /// of the stream.
    pub async fn next(&mut self) -> Result<Option<Event>, ClientError> {
        loop {
            let Some(value) = self.next_value().await? else {
                return Ok(None);
            };
            let known = value
                .get("event")
                .and_then(Value::as_str)
                .is_some_and(|k| EVENT_KINDS.contains(&k));
            if !known {
                continue;
            }
            return serde_json::from_value(value)
                .map(Some)
                .map_err(|e| ClientError::Protocol(format!("malformed event: {e}")));
        }
    }

    /// The events as a `Stream`, ending when the daemon ends the subscription.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Event, ClientError>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut sub = state?;
            match sub.next().await {
                Ok(Some(event)) => Some((Ok(event), Some(sub))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// Whether a connect error means "no daemon": no socket file, or nobody accepting on it.
pub fn is_not_running(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

//! The envelope: requests, responses, error objects and error codes.
//!
//! Shapes follow JSON-RPC 2.0 without the `"jsonrpc": "2.0"` member (it is accepted and ignored
//! when a client sends it): a request is `{"id": …, "method": "…", "params": {…}}`, a response
//! `{"id": …, "result": …}` or `{"id": …, "error": {"code": …, "message": "…"}}`. Unlike JSON-RPC,
//! a request without `id` is answered too (with `"id": null`), so `echo '{"method":"status"}' |
//! nc -U guild.sock` works.

use super::call::{Call, CallParseError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Why a request failed, as a stable integer on the wire.
///
/// The first five are JSON-RPC 2.0's; the others sit in its "server error" range
/// (`-32000..=-32099`). A code this build does not know decodes as [`ErrorCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `-32700`: the line is not JSON.
    ParseError,
    /// `-32600`: JSON, but not a request object (`method` missing, bad `id`, unknown member).
    InvalidRequest,
    /// `-32601`: no such method.
    MethodNotFound,
    /// `-32602`: the method exists but its `params` are wrong (the message says which field).
    InvalidParams,
    /// `-32603`: the daemon failed (a bug or an I/O error on its side).
    Internal,
    /// `-32001`: the request line exceeds the daemon's limit (`control.max_request_bytes`).
    RequestTooLarge,
    /// `-32002`: the thing asked for does not exist (a peer, a profile, a skill to remove).
    NotFound,
    /// `-32003`: a remote peer could not be reached.
    PeerUnreachable,
    /// `-32004`: the daemon cannot serve this now (network not ready, feature not available).
    Unavailable,
    /// `-32005`: the daemon is shutting down.
    ShuttingDown,
    /// `-32006`: too many control connections (`control.max_connections`); retry later.
    Busy,
    /// `-32007`: the client runs as another user than the daemon.
    Forbidden,
    /// A code this build does not know.
    Other(i64),
    /// `-32008`: the daemon is still loading its store (the message says how far); retry
    /// shortly. `status` answers this while loading; other calls wait for the load a while
    /// first.
    Loading,
}

impl ErrorCode {
    /// Every code this build knows, for documentation and tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::Internal,
        ErrorCode::RequestTooLarge,
        ErrorCode::NotFound,
        ErrorCode::PeerUnreachable,
        ErrorCode::Unavailable,
        ErrorCode::ShuttingDown,
        ErrorCode::Busy,
        ErrorCode::Forbidden,
        ErrorCode::Loading,
    ];

    /// The integer on the wire.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::RequestTooLarge => -32001,
            ErrorCode::NotFound => -32002,
            ErrorCode::PeerUnreachable => -32003,
            ErrorCode::Unavailable => -32004,
            ErrorCode::ShuttingDown => -32005,
            ErrorCode::Busy => -32006,
            ErrorCode::Forbidden => -32007,
            ErrorCode::Other(code) => code,
            ErrorCode::Loading => -32008,
        }
    }

    /// The code for an integer.
    pub fn from_code(code: i64) -> ErrorCode {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.code() == code)
            .unwrap_or(ErrorCode::Other(code))
    }

    /// A short snake_case name, as used in `docs/control-socket.md`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "parse_error",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::MethodNotFound => "method_not_found",
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::Internal => "internal",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PeerUnreachable => "peer_unreachable",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Busy => "busy",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Other(_) => "other",
            ErrorCode::Loading => "loading",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.code())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(ErrorCode::from_code)
    }
}

/// An error answer: `{"code": …, "message": "…"}`. What a node returns from a call that fails, and
/// what a client gets back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// A sentence a user can act on.
    pub message: String,
}

impl CallError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CallError {
        CallError {
            code,
            message: message.into(),
        }
    }
    /// [`ErrorCode::InvalidParams`].
    pub fn invalid_params(message: impl Into<String>) -> CallError {
        CallError::new(ErrorCode::InvalidParams, message)
    }
    /// [`ErrorCode::NotFound`].
    pub fn not_found(message: impl Into<String>) -> CallError {
        CallError::new(ErrorCode::NotFound, message)
    }
    /// [`ErrorCode::PeerUnreachable`].
    pub fn peer_unreachable(message: impl Into<String>) -> CallError {
        CallError::new(ErrorCode::PeerUnreachable, message)
    }
    /// [`ErrorCode::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> CallError {
        CallError::new(ErrorCode::Unavailable, message)
    }
    /// [`ErrorCode::Internal`], from anything displayable.
    pub fn internal(error: impl fmt::Display) -> CallError {
        CallError::new(ErrorCode::Internal, error.to_string())
    }
    /// [`ErrorCode::ShuttingDown`].
    pub fn shutting_down() -> CallError {
        CallError::new(ErrorCode::ShuttingDown, "the guild daemon is shutting down")
    }
}

impl From<crate::record::RecordError> for CallError {
    /// A record the domain rules refuse was built from the caller's input: `invalid_params`.
    fn from(e: crate::record::RecordError) -> CallError {
        CallError::invalid_params(e.to_string())
    }
}

impl From<crate::skill::SkillError> for CallError {
    /// A tag from the caller's input: `invalid_params`.
    fn from(e: crate::skill::SkillError) -> CallError {
        CallError::invalid_params(e.to_string())
    }
}

/// Serialises a typed result into the `result` value of a response.
pub fn to_result<T: Serialize>(value: &T) -> Result<Value, CallError> {
    serde_json::to_value(value).map_err(CallError::internal)
}

/// A parsed request: its id (echoed in the response) and the typed call.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The client's id: a string, a number or null.
    pub id: Value,
    /// What is asked.
    pub call: Call,
}

impl Request {
    /// Encodes the request as one JSON line (without the newline).
    pub fn to_line(&self) -> Result<String, serde_json::Error> {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.clone());
        obj.insert("method".into(), Value::from(self.call.method()));
        if let Some(params) = self.call.params()? {
            obj.insert("params".into(), params);
        }
        serde_json::to_string(&Value::Object(obj))
    }
}

/// Members a request may carry.
const REQUEST_MEMBERS: &[&str] = &["id", "method", "params", "jsonrpc"];

/// Parses one request line. On failure returns the id (null when it could not be read) and the
/// error to answer with.
///
/// The envelope is checked first, then the method is looked up, then its params are decoded, so
/// "unknown method" and "invalid params" are told apart.
pub fn parse_request(line: &[u8]) -> Result<Request, (Value, CallError)> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        (
            Value::Null,
            CallError::new(
                ErrorCode::ParseError,
                format!("request is not valid JSON: {e}"),
            ),
        )
    })?;
    let invalid =
        |id: &Value, msg: String| (id.clone(), CallError::new(ErrorCode::InvalidRequest, msg));
    let Value::Object(mut obj) = value else {
        return Err(invalid(
            &Value::Null,
            "a request must be a JSON object with `method`".into(),
        ));
    };
    let id = obj.remove("id").unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return Err(invalid(
            &Value::Null,
            "`id` must be a string, a number or null".into(),
        ));
    }
    if let Some(unknown) = obj.keys().find(|k| !REQUEST_MEMBERS.contains(&k.as_str())) {
        return Err(invalid(
            &id,
            format!("unknown member `{unknown}` in request; expected id, method and params"),
        ));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return Err(invalid(&id, "`method` must be a string".into())),
        None => return Err(invalid(&id, "request has no `method`".into())),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p),
        Some(_) => return Err(invalid(&id, "`params` must be an object".into())),
    };
    match Call::from_parts(&method, params) {
        Ok(call) => Ok(Request { id, call }),
        Err(e) => {
            let code = match e {
                CallParseError::UnknownMethod(_) => ErrorCode::MethodNotFound,
                CallParseError::InvalidParams { .. } => ErrorCode::InvalidParams,
            };
            Err((id, CallError::new(code, e.to_string())))
        }
    }
}

/// A response: the request's id and its result or error.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request answered (null when the request could not be read).
    pub id: Value,
    /// The result, or why there is none.
    pub outcome: Result<Value, CallError>,
}

impl Response {
    /// A success.
    pub fn result(id: Value, result: Value) -> Response {
        Response {
            id,
            outcome: Ok(result),
        }
    }
    /// A failure.
    pub fn error(id: Value, error: CallError) -> Response {
        Response {
            id,
            outcome: Err(error),
        }
    }

    /// Encodes the response as one JSON line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|e| {
            // Only a non-string map key could fail here; answer with an internal error instead.
            let fallback = Response::error(self.id.clone(), CallError::internal(e));
            serde_json::to_string(&fallback).unwrap_or_default()
        });
        line.push('\n');
        line
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("id", &self.id)?;
        match &self.outcome {
            Ok(result) => map.serialize_entry("result", result)?,
            Err(error) => map.serialize_entry("error", error)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            id: Value,
            #[serde(default, deserialize_with = "present")]
            result: Option<Value>,
            #[serde(default)]
            error: Option<CallError>,
        }
        // Tells `"result": null` (present) from a missing `result`.
        fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
            Value::deserialize(d).map(Some)
        }
        let raw = Raw::deserialize(d)?;
        let outcome = match (raw.result, raw.error) {
            (Some(result), None) => Ok(result),
            (None, Some(error)) => Err(error),
            _ => {
                return Err(serde::de::Error::custom(
                    "a response has exactly one of `result` and `error`",
                ))
            }
        };
        Ok(Response {
            id: raw.id,
            outcome,
        })
    }
}

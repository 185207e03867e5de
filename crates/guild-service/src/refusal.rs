//! Typed refusals: every reason the service turns something down, with the detail a person needs.
//! A refusal becomes a wire [`DirectResponse::Error`], a gossip verdict, a metric label or a socket
//! error only at the edge; nothing compares strings.

use guild_core::control::CallError;
use guild_core::wire::{DirectResponse, RefusalReason};
use guild_core::RecordError;

/// Why the service turned an input down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct Refusal {
    /// The reason, for programs.
    pub reason: RefusalReason,
    /// The reason, for people.
    pub detail: String,
}

impl Refusal {
    /// A refusal with its detail.
    pub fn new(reason: RefusalReason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }

    /// Already held.
    pub fn duplicate(detail: impl Into<String>) -> Refusal {
        Refusal::new(RefusalReason::Duplicate, detail)
    }

    /// No authority over what it acts on.
    pub fn unauthorised(detail: impl Into<String>) -> Refusal {
        Refusal::new(RefusalReason::Unauthorised, detail)
    }

    /// Refers to something unknown here.
    pub fn unknown(detail: impl Into<String>) -> Refusal {
        Refusal::new(RefusalReason::Unknown, detail)
    }

    /// Over budget.
    pub fn rate_limited(detail: impl Into<String>) -> Refusal {
        Refusal::new(RefusalReason::RateLimited, detail)
    }

    /// Addressed elsewhere or not carried on this path.
    pub fn not_here(detail: impl Into<String>) -> Refusal {
        Refusal::new(RefusalReason::NotAddressedHere, detail)
    }

    /// Refers to something closed.
    pub fn closed(detail: impl Into<String>) -> Refusal {
        Refusal::new(RefusalReason::Closed, detail)
    }

    /// The store failed.
    pub fn store(e: impl std::fmt::Display) -> Refusal {
        Refusal::new(RefusalReason::StoreFailure, format!("store error: {e}"))
    }

    /// The wire form.
    pub fn to_response(&self) -> DirectResponse {
        DirectResponse::Error {
            reason: self.reason,
            message: self.detail.clone(),
        }
    }

    /// The socket form, for a control call that was refused.
    pub fn to_call_error(&self) -> CallError {
        match self.reason {
            RefusalReason::Unknown => CallError::not_found(self.detail.clone()),
            RefusalReason::StoreFailure => CallError::internal(&self.detail),
            RefusalReason::Busy | RefusalReason::RateLimited => {
                CallError::unavailable(self.detail.clone())
            }
            _ => CallError::invalid_params(self.detail.clone()),
        }
    }
}

impl From<RecordError> for Refusal {
    fn from(e: RecordError) -> Refusal {
        let reason = match &e {
            RecordError::Codec {
                source: guild_core::codec::CodecError::TooLarge { .. },
                ..
            } => RefusalReason::Oversized,
            RecordError::Codec { .. } => RefusalReason::Malformed,
            RecordError::BadSignature { .. }
            | RecordError::SignerMismatch { .. }
            | RecordError::BadKey { .. } => RefusalReason::BadSignature,
            RecordError::FromTheFuture { .. } => RefusalReason::FromTheFuture,
            RecordError::Expired { .. } => RefusalReason::Expired,
            RecordError::UnsupportedVersion { .. }
            | RecordError::Lifetime { .. }
            | RecordError::Field { .. } => RefusalReason::Malformed,
        };
        Refusal::new(reason, e.to_string())
    }
}

impl From<crate::StorageError> for Refusal {
    fn from(e: crate::StorageError) -> Refusal {
        Refusal::store(e)
    }
}

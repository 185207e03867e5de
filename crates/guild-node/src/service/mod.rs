//! The node's domain logic that needs no I/O: the skill index and ranking, catch-up sync, and the
//! record intake rules (rate limits). The runtime in [`crate::node`] feeds it and performs its
//! decisions.

pub mod index;
pub mod intake;
pub mod sync;

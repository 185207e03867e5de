//! The Guild daemon: configuration, the Guild home, the node (domain service over the network and
//! the store), the control-socket server and the web dashboard ([`web`], a second client of the
//! same [`control::Handle`]).
//!
//! ```text
//!  guild CLI ──┐            ┌────────────── daemon ────────────────┐
//!  scripts  ───┼─ control ──┤ control server → node service (logic) │── store (sled)
//!              │  socket    │                    ↑↓ commands/events │
//!              └────────────┤              network event loop       │── libp2p swarm
//!                           └───────────────────────────────────────┘
//! ```

pub mod api;
pub mod config;
pub mod control;
pub mod daemon;
pub mod home;
pub mod invite;
pub mod metrics;
pub mod node;
pub mod web;

pub use guild_service::OWN_PROFILE_KEY;

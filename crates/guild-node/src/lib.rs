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
pub mod metrics;
pub mod node;
pub mod service;
pub mod stats;
pub mod web;

/// `meta` key of the node's own signed profile.
pub const OWN_PROFILE_KEY: &str = "own_profile";

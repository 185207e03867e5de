//! The control-socket protocol (newline-delimited JSON over a Unix socket) and its client.

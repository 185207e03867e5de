//! The control-socket server.

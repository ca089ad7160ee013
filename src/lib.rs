//! Redwing: a Redis-compatible, thread-per-core in-memory data server.
//!
//! Layers, lowest first (each may use only those before it):
//! `protocol`, `config`, `storage` → `runtime` → `commands` → `server` →
//! the binary in `main.rs`, which wires them together. See
//! docs/ARCHITECTURE.md for the threads and the life of a command.

pub mod acl;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod glob;
pub mod lifecycle;
pub mod logging;
pub mod memory;
pub mod persistence;
pub mod protocol;
pub mod replication;
pub mod runtime;
pub mod scripting;
pub mod sentinel;
pub mod server;
pub mod storage;
pub mod strtod;
pub mod syscheck;

/// Redwing's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

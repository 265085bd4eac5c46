//! raftkv: a small replicated key-value node built on raft-rs and RocksDB.
//!
//! It is the *system under test* of the raft-chaos harness: a Raft group of
//! these nodes serves a string key-value store over HTTP/JSON (see `API.md`),
//! and can be started with deliberate defects (`--unsafe-...`) so that the
//! harness can prove its checkers catch the anomalies they cause.
//!
//! Module map:
//! * [`clock`]     – coarse timeouts that survive libfaketime clock jumps.
//! * [`config`]    – command line / environment configuration.
//! * [`error`]     – client-visible errors and their definiteness.
//! * [`logging`]   – stderr logging, also used as raft-rs's slog drain.
//! * [`command`]   – the replicated commands and their state-machine semantics.
//! * [`storage`]   – RocksDB persistence: raft log, hard/conf state, snapshots, KV state.
//! * [`transport`] – peer-to-peer raft message transport over TCP.
//! * [`raft_loop`] – the single thread that drives the raft-rs `RawNode`.
//! * [`lease`]     – leader lease bookkeeping for `read=lease`.
//! * [`api`]       – the client HTTP API.
//! * [`node`]      – wiring: start a node, run it until a signal, shut down.
//! * [`health`]    – `raftkv health`, the container healthcheck.

// Protobuf messages are built by assigning fields of a default instance.
#![allow(clippy::field_reassign_with_default, clippy::type_complexity)]

pub mod api;
pub mod clock;
pub mod command;
pub mod config;
pub mod error;
pub mod health;
pub mod lease;
pub mod logging;
pub mod node;
pub mod raft_loop;
pub mod storage;
pub mod transport;

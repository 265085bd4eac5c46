//! Configuration: the command line, every flag also settable by environment.
//!
//! [`Cli`] is the raw clap definition (flags + `RAFTKV_*` variables);
//! [`Config`] is the validated form the node runs with. Deliberate defects are
//! collected into [`Unsafe`] from the individual `--unsafe-...` flags and the
//! comma-separated `--unsafe`/`RAFTKV_UNSAFE` list.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

/// How a read is made linearizable (or deliberately not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Through the Raft log as a proposal.
    Log,
    /// ReadIndex at the leader, then wait until applied >= read index.
    Index,
    /// Leader lease; falls back to ReadIndex when the lease is not valid.
    Lease,
    /// ReadIndex requested by a follower from the leader, served locally.
    Follower,
    /// Local state, no check at all (a deliberate defect).
    Stale,
}

impl ReadMode {
    /// Parses a mode name as used in `?read=` and `--read-mode`.
    pub fn parse(s: &str) -> Option<ReadMode> {
        Some(match s {
            "log" => ReadMode::Log,
            "index" => ReadMode::Index,
            "lease" => ReadMode::Lease,
            "follower" => ReadMode::Follower,
            "stale" => ReadMode::Stale,
            _ => return None,
        })
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            ReadMode::Log => "log",
            ReadMode::Index => "index",
            ReadMode::Lease => "lease",
            ReadMode::Follower => "follower",
            ReadMode::Stale => "stale",
        }
    }
}

/// The deliberate defects, all off by default (see API.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsafe {
    /// Every read is served from local state without any check.
    pub stale_reads: bool,
    /// Lease without drift margin, as long as two election timeouts, no re-check.
    pub lease_ignore_drift: bool,
    /// Writes acknowledged once appended to the leader's log, before commit.
    pub ack_before_commit: bool,
    /// RocksDB writes are not fsynced.
    pub no_fsync: bool,
}

impl Unsafe {
    /// The enabled defects' names, as reported by `/status`.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.stale_reads {
            v.push("stale-reads");
        }
        if self.lease_ignore_drift {
            v.push("lease-ignore-drift");
        }
        if self.ack_before_commit {
            v.push("ack-before-commit");
        }
        if self.no_fsync {
            v.push("no-fsync");
        }
        v
    }

    fn enable(&mut self, name: &str) -> Result<(), String> {
        match name.trim().trim_start_matches("unsafe-") {
            "" => {}
            "stale-reads" => self.stale_reads = true,
            "lease-ignore-drift" => self.lease_ignore_drift = true,
            "ack-before-commit" => self.ack_before_commit = true,
            "no-fsync" => self.no_fsync = true,
            other => return Err(format!("unknown unsafe flag {other:?}")),
        }
        Ok(())
    }
}

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(name = "raftkv", version, about = "Raft + RocksDB key-value node", subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands besides running a node.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// GET /status of a node; exit 0 if it answers 200, else 1 (a healthcheck).
    Health {
        /// Client address of the node to check.
        #[arg(long, default_value = "127.0.0.1:8000", env = "RAFTKV_HEALTH_ADDR")]
        addr: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("not a boolean: {other:?}")),
    }
}

/// Flags for running a node. Every flag has a `RAFTKV_*` environment variable.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// This node's raft id (>= 1).
    #[arg(long, env = "RAFTKV_ID", required = true)]
    pub id: Option<u64>,
    /// Client HTTP listen address.
    #[arg(long, env = "RAFTKV_LISTEN", default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,
    /// Raft peer transport listen address.
    #[arg(long, env = "RAFTKV_RAFT_LISTEN", default_value = "0.0.0.0:9000")]
    pub raft_listen: SocketAddr,
    /// Initial members: `1=ip:9000,2=ip:9000,...` (raft addresses). A node whose
    /// own id is listed bootstraps with exactly these voters; a node not listed
    /// (or started with --join) waits to be added and receives a snapshot.
    #[arg(long, env = "RAFTKV_PEERS", default_value = "")]
    pub peers: String,
    /// Client addresses of peers, `1=ip:8000,...`; default: the peer's raft IP
    /// with this node's client port.
    #[arg(long, env = "RAFTKV_CLIENT_PEERS", default_value = "")]
    pub client_peers: String,
    /// Do not bootstrap even if listed in --peers; wait to be added.
    #[arg(long, env = "RAFTKV_JOIN", action = ArgAction::Set, value_parser = parse_bool, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub join: bool,
    /// Data directory (RocksDB).
    #[arg(long, env = "RAFTKV_DATA", default_value = "/data")]
    pub data: PathBuf,
    /// Default read path: log, index, lease, follower or stale.
    #[arg(long, env = "RAFTKV_READ_MODE", default_value = "index")]
    pub read_mode: String,
    /// fsync every RocksDB write (default true).
    #[arg(long, env = "RAFTKV_SYNC", action = ArgAction::Set, value_parser = parse_bool, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    pub sync: bool,
    /// Comma-separated defects: stale-reads, lease-ignore-drift, ack-before-commit, no-fsync.
    #[arg(long = "unsafe", env = "RAFTKV_UNSAFE", default_value = "")]
    pub unsafe_list: String,
    /// Defect: every read is served from local state without any check.
    #[arg(long, env = "RAFTKV_UNSAFE_STALE_READS", action = ArgAction::Set, value_parser = parse_bool, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub unsafe_stale_reads: bool,
    /// Defect: leader lease with no drift margin, as long as two election timeouts.
    #[arg(long, env = "RAFTKV_UNSAFE_LEASE_IGNORE_DRIFT", action = ArgAction::Set, value_parser = parse_bool, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub unsafe_lease_ignore_drift: bool,
    /// Defect: acknowledge writes once in the leader's log, before commit.
    #[arg(long, env = "RAFTKV_UNSAFE_ACK_BEFORE_COMMIT", action = ArgAction::Set, value_parser = parse_bool, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub unsafe_ack_before_commit: bool,
    /// Defect: do not fsync RocksDB writes (same as --sync false).
    #[arg(long, env = "RAFTKV_UNSAFE_NO_FSYNC", action = ArgAction::Set, value_parser = parse_bool, default_value_t = false, num_args = 0..=1, default_missing_value = "true")]
    pub unsafe_no_fsync: bool,
    /// Raft tick interval in milliseconds.
    #[arg(long, env = "RAFTKV_TICK_MS", default_value_t = 100)]
    pub tick_ms: u64,
    /// Election timeout in ticks (randomized in [n, 2n)).
    #[arg(long, env = "RAFTKV_ELECTION_TICKS", default_value_t = 10)]
    pub election_ticks: usize,
    /// Heartbeat interval in ticks.
    #[arg(long, env = "RAFTKV_HEARTBEAT_TICKS", default_value_t = 1)]
    pub heartbeat_ticks: usize,
    /// Fraction of the election timeout given up as clock-drift margin for leases.
    #[arg(long, env = "RAFTKV_LEASE_DRIFT", default_value_t = 0.5)]
    pub lease_drift: f64,
    /// Client request timeout in milliseconds.
    #[arg(long, env = "RAFTKV_REQUEST_TIMEOUT_MS", default_value_t = 2000)]
    pub request_timeout_ms: u64,
    /// Compact the log when more than this many applied entries are kept.
    #[arg(long, env = "RAFTKV_COMPACT_THRESHOLD", default_value_t = 2000)]
    pub compact_threshold: u64,
    /// Applied entries kept after a compaction (for slightly lagging followers).
    #[arg(long, env = "RAFTKV_COMPACT_KEEP", default_value_t = 200)]
    pub compact_keep: u64,
}

/// Validated configuration of a running node.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: u64,
    pub listen: SocketAddr,
    pub raft_listen: SocketAddr,
    /// Raft addresses of the initial members (id -> "ip:port").
    pub peers: BTreeMap<u64, String>,
    /// Client addresses of the initial members (id -> "ip:port").
    pub client_peers: BTreeMap<u64, String>,
    /// Whether this node bootstraps the cluster with `peers` as voters.
    pub bootstrap: bool,
    pub data: PathBuf,
    pub read_mode: ReadMode,
    pub sync: bool,
    pub unsafe_flags: Unsafe,
    pub tick: Duration,
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    pub lease_drift: f64,
    pub request_timeout: Duration,
    pub compact_threshold: u64,
    pub compact_keep: u64,
}

/// Parses `1=host:port,2=host:port`.
pub fn parse_id_map(s: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut m = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("expected id=host:port, got {part:?}"))?;
        let id: u64 = id.trim().parse().map_err(|_| format!("bad id in {part:?}"))?;
        if id == 0 {
            return Err("id 0 is reserved".into());
        }
        let addr = addr.trim();
        if addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
            return Err(format!("bad address in {part:?}"));
        }
        m.insert(id, addr.to_string());
    }
    Ok(m)
}

/// The client address of a peer by default: its raft host with our client port.
pub fn default_client_addr(raft_addr: &str, client_port: u16) -> String {
    let host = raft_addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(raft_addr);
    format!("{host}:{client_port}")
}

impl Config {
    /// Validates raw flags into a [`Config`].
    pub fn from_args(a: &RunArgs) -> Result<Config, String> {
        let id = a.id.ok_or("--id is required")?;
        if id == 0 {
            return Err("--id must be >= 1".into());
        }
        let mut peers = parse_id_map(&a.peers)?;
        let explicit_client = parse_id_map(&a.client_peers)?;
        let mut bootstrap = !a.join && (peers.is_empty() || peers.contains_key(&id));
        if peers.is_empty() {
            // A single-node cluster of just this node.
            peers.insert(id, a.raft_listen.to_string());
            bootstrap = !a.join;
        }
        let mut client_peers = BTreeMap::new();
        for (pid, raddr) in &peers {
            let c = explicit_client
                .get(pid)
                .cloned()
                .unwrap_or_else(|| default_client_addr(raddr, a.listen.port()));
            client_peers.insert(*pid, c);
        }
        for (pid, c) in explicit_client {
            client_peers.entry(pid).or_insert(c);
        }
        let read_mode = ReadMode::parse(a.read_mode.trim())
            .ok_or_else(|| format!("unknown read mode {:?}", a.read_mode))?;
        let mut u = Unsafe::default();
        for name in a.unsafe_list.split(',') {
            u.enable(name)?;
        }
        u.stale_reads |= a.unsafe_stale_reads;
        u.lease_ignore_drift |= a.unsafe_lease_ignore_drift;
        u.ack_before_commit |= a.unsafe_ack_before_commit;
        u.no_fsync |= a.unsafe_no_fsync || !a.sync;
        if a.tick_ms == 0 || a.election_ticks < 3 || a.heartbeat_ticks == 0 || a.heartbeat_ticks >= a.election_ticks {
            return Err("need tick-ms > 0, election-ticks >= 3 and 0 < heartbeat-ticks < election-ticks".into());
        }
        if !(0.0..1.0).contains(&a.lease_drift) {
            return Err("--lease-drift must be in [0, 1)".into());
        }
        Ok(Config {
            id,
            listen: a.listen,
            raft_listen: a.raft_listen,
            peers,
            client_peers,
            bootstrap,
            data: a.data.clone(),
            read_mode,
            sync: !u.no_fsync,
            unsafe_flags: u,
            tick: Duration::from_millis(a.tick_ms),
            election_ticks: a.election_ticks,
            heartbeat_ticks: a.heartbeat_ticks,
            lease_drift: a.lease_drift,
            request_timeout: Duration::from_millis(a.request_timeout_ms.max(1)),
            compact_threshold: a.compact_threshold.max(1),
            compact_keep: a.compact_keep,
        })
    }

    /// The election timeout as a duration.
    pub fn election_timeout(&self) -> Duration {
        self.tick * self.election_ticks as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_peers_and_client_defaults() {
        let cli = Cli::try_parse_from([
            "raftkv", "--id", "2", "--listen", "0.0.0.0:8001", "--peers",
            "1=10.0.0.1:9000,2=10.0.0.2:9000", "--unsafe", "stale-reads,no-fsync",
        ])
        .unwrap();
        let c = Config::from_args(&cli.run).unwrap();
        assert_eq!(c.peers.len(), 2);
        assert_eq!(c.client_peers[&1], "10.0.0.1:8001");
        assert!(c.bootstrap);
        assert!(c.unsafe_flags.stale_reads && c.unsafe_flags.no_fsync && !c.sync);
        assert_eq!(c.unsafe_flags.names(), vec!["stale-reads", "no-fsync"]);
    }

    #[test]
    fn joins_when_not_listed_and_rejects_garbage() {
        let cli = Cli::try_parse_from(["raftkv", "--id", "4", "--peers", "1=10.0.0.1:9000"]).unwrap();
        assert!(!Config::from_args(&cli.run).unwrap().bootstrap);
        assert!(parse_id_map("1=nope").is_err());
        let cli = Cli::try_parse_from(["raftkv", "--id", "1", "--unsafe", "bogus"]).unwrap();
        assert!(Config::from_args(&cli.run).is_err());
        let cli = Cli::try_parse_from(["raftkv", "health"]).unwrap();
        assert!(cli.command.is_some());
    }
}

//! Wiring: open storage, bootstrap if new, start the raft thread, the peer
//! transport and the HTTP API, then run until SIGTERM/SIGINT and shut down
//! cleanly (pending requests answered, WAL flushed, database closed, exit 0).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use crate::api::{self, Api};
use crate::config::Config;
use crate::lease::Lease;
use crate::raft_loop::{initial_state, Input, RaftLoop, Shared};
use crate::storage::{NodeStorage, PeerInfo};
use crate::transport::{self, Transport};
use crate::{log_error, log_info};

/// Inbox length of the raft thread.
const INBOX: usize = 65536;

/// Runs a node until a signal; returns the process exit code.
pub fn run(cfg: Config) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log_error!("cannot start runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(serve(cfg)) {
        Ok(()) => 0,
        Err(e) => {
            log_error!("{e}");
            1
        }
    }
}

async fn serve(cfg: Config) -> Result<(), String> {
    let store = NodeStorage::open(&cfg.data, cfg.sync)?;
    if !store.is_initialized() {
        if cfg.bootstrap {
            let voters: Vec<u64> = cfg.peers.keys().copied().collect();
            let peers: BTreeMap<u64, PeerInfo> = cfg
                .peers
                .iter()
                .map(|(id, a)| {
                    let client = cfg.client_peers.get(id).cloned().unwrap_or_default();
                    (*id, PeerInfo { raft_addr: a.clone(), client_addr: client })
                })
                .collect();
            store.bootstrap(&voters, &peers)?;
            log_info!("bootstrapped a new cluster with voters {voters:?}");
        } else {
            log_info!("empty data directory, not bootstrapping: waiting to be added to a cluster");
        }
    } else {
        log_info!("recovered from disk: applied {} snapshot {}", store.applied(), store.snapshot_index());
    }

    let raft_listener =
        TcpListener::bind(cfg.raft_listen).await.map_err(|e| format!("bind {}: {e}", cfg.raft_listen))?;
    let http_listener = TcpListener::bind(cfg.listen).await.map_err(|e| format!("bind {}: {e}", cfg.listen))?;

    let (inbox_tx, inbox_rx) = mpsc::channel::<Input>(INBOX);
    let (applied_tx, _) = watch::channel(store.applied());
    let shared = Arc::new(Shared {
        id: cfg.id,
        state: Mutex::new(initial_state(Lease::new(Lease::length_for(&cfg), !cfg.unsafe_flags.lease_ignore_drift))),
        peers: RwLock::new(BTreeMap::new()),
        applied: applied_tx,
    });
    let transport = Transport::new(tokio::runtime::Handle::current(), inbox_tx.clone());
    let mut raft = RaftLoop::new(cfg.clone(), store.clone(), inbox_rx, transport, shared.clone())?;
    raft.init_shared();
    crate::raft_loop::spawn_ticker(cfg.tick, inbox_tx.clone()).map_err(|e| format!("spawn ticker: {e}"))?;
    let raft_thread = std::thread::Builder::new()
        .name("raft".into())
        .spawn(move || raft.run())
        .map_err(|e| format!("spawn raft thread: {e}"))?;
    tokio::spawn(transport::serve(raft_listener, inbox_tx.clone()));

    let api = Arc::new(Api { cfg: cfg.clone(), shared, store, inbox: inbox_tx.clone() });
    let app = api::router(api.clone());
    log_info!(
        "node {} serving clients on {} and peers on {} (read mode {}, unsafe {:?}, sync {})",
        cfg.id, cfg.listen, cfg.raft_listen, cfg.read_mode.name(), cfg.unsafe_flags.names(), cfg.sync
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(http_listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });

    wait_for_signal().await;
    log_info!("signal received, shutting down");
    // Stop raft first: pending requests get their answers right away.
    let _ = inbox_tx.try_send(Input::Shutdown);
    drop(inbox_tx);
    let _ = stop_tx.send(());
    let joined = tokio::task::spawn_blocking(move || raft_thread.join());
    let _ = tokio::time::timeout(Duration::from_secs(5), joined).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    drop(api);
    log_info!("bye");
    Ok(())
}

async fn wait_for_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

//! Raft peer transport: length-prefixed protobuf `eraftpb::Message` frames over TCP.
//!
//! Every node listens on its raft port and reads frames from any connection,
//! handing messages to the raft thread's inbox (dropping them if the inbox is
//! full). For sending, each peer has one outbound connection driven by its own
//! tokio task fed through a bounded queue: the raft thread only ever does a
//! non-blocking `try_send`, so a slow, paused or partitioned peer can never
//! block it — when the queue is full, messages are dropped and raft is told the
//! peer is unreachable (raft retransmits by itself).
//!
//! The outbound task reconnects with a short backoff after any failure.
//! Connects and writes have timeouts and the socket has `TCP_USER_TIMEOUT`, so a
//! connection into a partition (iptables DROP) is abandoned within seconds
//! instead of waiting out TCP's exponential retransmission backoff; after the
//! partition heals a fresh connection is made. A snapshot message's delivery
//! (or failure) is reported back so raft can resume replication.
//!
//! Frame: `u32` big-endian length, then that many bytes of protobuf.

use std::collections::HashMap;
use std::time::Duration;

use protobuf::Message as PbMessage;
use raft::prelude::{Message, MessageType};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// The raft thread's inbox.
type Inbox = mpsc::Sender<Input>;

use crate::raft_loop::Input;
use crate::{log_debug, log_info, log_warn};

/// Largest accepted frame (snapshots travel as one message).
pub const MAX_FRAME: usize = 512 << 20;
/// Per-peer outbound queue length.
const QUEUE: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
const WRITE_TIMEOUT: Duration = Duration::from_millis(3000);
const USER_TIMEOUT: Duration = Duration::from_millis(3000);
const BACKOFF: Duration = Duration::from_millis(200);

struct Peer {
    addr: String,
    tx: mpsc::Sender<Message>,
    task: tokio::task::JoinHandle<()>,
}

/// Outbound side, owned by the raft thread.
pub struct Transport {
    rt: Handle,
    inbox: Inbox,
    peers: HashMap<u64, Peer>,
}

impl Transport {
    pub fn new(rt: Handle, inbox: Inbox) -> Transport {
        Transport { rt, inbox, peers: HashMap::new() }
    }

    /// Adds a peer or changes its address (restarting its connection).
    pub fn set_peer(&mut self, id: u64, addr: &str) {
        if self.peers.get(&id).is_some_and(|p| p.addr == addr) {
            return;
        }
        self.remove_peer(id);
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = self.rt.spawn(peer_task(id, addr.to_string(), rx, self.inbox.clone()));
        self.peers.insert(id, Peer { addr: addr.to_string(), tx, task });
    }

    /// Stops sending to a peer.
    pub fn remove_peer(&mut self, id: u64) {
        if let Some(p) = self.peers.remove(&id) {
            p.task.abort();
        }
    }

    /// Queues a message; false (and the message is dropped) if the peer is
    /// unknown or its queue is full.
    pub fn send(&mut self, msg: Message) -> bool {
        let to = msg.to;
        match self.peers.get(&to) {
            Some(p) => p.tx.try_send(msg).is_ok(),
            None => false,
        }
    }
}

fn is_snapshot(m: &Message) -> bool {
    m.get_msg_type() == MessageType::MsgSnapshot
}

async fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let stream = crate::clock::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timeout"))??;
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(&stream);
    let _ = sock.set_tcp_user_timeout(Some(USER_TIMEOUT));
    let _ = sock.set_keepalive(true);
    Ok(stream)
}

fn encode(m: &Message, out: &mut Vec<u8>) -> bool {
    match m.write_to_bytes() {
        Ok(b) if b.len() <= MAX_FRAME => {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(&b);
            true
        }
        _ => false,
    }
}

/// Tells raft about messages that will not be delivered.
fn report_dropped(inbox: &Inbox, to: u64, msgs: &[Message]) {
    if msgs.is_empty() {
        return;
    }
    for m in msgs.iter().filter(|m| is_snapshot(m)) {
        let _ = inbox.try_send(Input::SnapshotStatus { to: m.to, ok: false });
    }
    let _ = inbox.try_send(Input::Unreachable(to));
}

async fn peer_task(id: u64, addr: String, mut rx: mpsc::Receiver<Message>, inbox: Inbox) {
    let mut warned = false;
    loop {
        let stream = match connect(&addr).await {
            Ok(s) => {
                log_info!("transport: connected to peer {id} at {addr}");
                warned = false;
                s
            }
            Err(e) => {
                if !warned {
                    log_warn!("transport: cannot connect to peer {id} at {addr}: {e}");
                    warned = true;
                }
                // Everything queued meanwhile is stale: drop it.
                let mut dropped = Vec::new();
                while let Ok(m) = rx.try_recv() {
                    dropped.push(m);
                }
                report_dropped(&inbox, id, &dropped);
                crate::clock::sleep(BACKOFF).await;
                continue;
            }
        };
        let mut w = BufWriter::with_capacity(256 << 10, stream);
        let mut buf = Vec::with_capacity(64 << 10);
        loop {
            let Some(first) = rx.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < 256 {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            buf.clear();
            for m in &batch {
                if !encode(m, &mut buf) {
                    log_warn!("transport: dropping unencodable message to {id}");
                }
            }
            let res = crate::clock::timeout(WRITE_TIMEOUT, async {
                w.write_all(&buf).await?;
                w.flush().await
            })
            .await;
            match res {
                Ok(Ok(())) => {
                    for m in batch.iter().filter(|m| is_snapshot(m)) {
                        let _ = inbox.try_send(Input::SnapshotStatus { to: m.to, ok: true });
                    }
                }
                Ok(Err(e)) => {
                    log_debug!("transport: write to peer {id} failed: {e}");
                    report_dropped(&inbox, id, &batch);
                    break;
                }
                Err(_) => {
                    log_debug!("transport: write to peer {id} timed out");
                    report_dropped(&inbox, id, &batch);
                    break;
                }
            }
        }
        crate::clock::sleep(BACKOFF).await;
    }
}

/// Accepts peer connections and feeds their messages into the raft inbox.
pub async fn serve(listener: TcpListener, inbox: Inbox) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let inbox = inbox.clone();
                tokio::spawn(async move {
                    if let Err(e) = read_frames(stream, inbox).await {
                        log_debug!("transport: inbound connection from {peer} closed: {e}");
                    }
                });
            }
            Err(e) => {
                log_warn!("transport: accept failed: {e}");
                crate::clock::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn read_frames(stream: TcpStream, inbox: Inbox) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut r = tokio::io::BufReader::with_capacity(256 << 10, stream);
    let mut buf = Vec::new();
    loop {
        let len = r.read_u32().await? as usize;
        if len > MAX_FRAME {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "frame too large"));
        }
        buf.resize(len, 0);
        r.read_exact(&mut buf).await?;
        let m = Message::parse_from_bytes(&buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        match inbox.try_send(Input::Raft(Box::new(m))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {} // raft retransmits
            Err(TrySendError::Closed(_)) => return Ok(()),
        }
    }
}

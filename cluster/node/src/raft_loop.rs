//! The raft thread: the only place that touches the raft-rs `RawNode`.
//!
//! It owns the `RawNode`, the write side of storage and the outbound
//! transport, and serves an inbox of [`Input`]s from the HTTP handlers and the
//! transport. Each turn it: handles queued inputs, ticks on schedule, then
//! processes one `Ready` (send messages, persist snapshot/entries/hard state in
//! one fsynced batch, apply committed entries with their applied index in one
//! batch, hand out ReadIndex results, advance), and publishes a status view.
//! The view is also published as soon as entries are applied, before their
//! clients are answered: a `/status` asked after an acknowledged write counts it.
//!
//! Proposals are tracked by log index and a unique id inside the entry: the
//! client is answered when *that* entry applies. If the leader loses its
//! leadership (or its term changes) first, pending proposals get the unknown
//! outcome `leadership_lost`; if a different entry is applied at that index the
//! proposal provably never happened and gets a definite error.
//!
//! ReadIndex requests carry a 16-byte context (node id, counter). The leader
//! only serves ReadIndex once it has committed an entry in its term; requests
//! made before that are deferred until it has. Every ReadIndex round the
//! leader completes also renews its lease (see [`crate::lease`]); while lease
//! reads are being used, the loop starts one renewal round per tick.
//!
//! A leader that applies its own removal transfers its leadership to the most
//! up-to-date remaining voter (raft-rs would keep it leading a group it is no
//! longer part of, which then never elects anyone else).
//!
//! For the first election timeout after start the node ignores vote requests,
//! so that a node restarted inside a lease cannot help elect a second leader
//! while the lease holder still serves reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use protobuf::Message as PbMessage;
use raft::prelude::*;
use raft::{SnapshotStatus, StateRole};
use tokio::sync::{mpsc, oneshot, watch};

use crate::command::{self, Cmd, CmdResult, Proposal, TxnOp};
use crate::config::Config;
use crate::error::ApiError;
use crate::lease::Lease;
use crate::storage::{NodeStorage, PeerInfo};
use crate::transport::Transport;
use crate::{log_debug, log_error, log_info, log_warn};

/// Answer channel of a proposal.
pub type CmdReply = oneshot::Sender<Result<CmdResult, ApiError>>;
/// Answer channel of a ReadIndex request: the read index.
pub type ReadReply = oneshot::Sender<Result<u64, ApiError>>;
/// Answer channel of an admin request.
pub type AdminReply = oneshot::Sender<Result<(), ApiError>>;

/// Everything the raft thread can be asked to do.
pub enum Input {
    /// A message from a peer.
    Raft(Box<Message>),
    /// Propose a command (leader only).
    Propose { cmd: Cmd, reply: CmdReply },
    /// ReadIndex; `leader_only` rejects it on a follower.
    ReadIndex { leader_only: bool, reply: ReadReply },
    /// A membership change (leader only), answered once applied.
    ConfChange { cc: ConfChange, reply: AdminReply },
    /// Start a leadership transfer (leader only), answered at once.
    Transfer { to: u64, reply: AdminReply },
    /// The transport delivered (or failed to deliver) a snapshot.
    SnapshotStatus { to: u64, ok: bool },
    /// The transport dropped messages to a peer.
    Unreachable(u64),
    /// One raft tick elapsed.
    Tick,
    /// Stop: fail what is pending, flush, exit the thread.
    Shutdown,
}

/// Starts the thread that sends [`Input::Tick`] every `tick`, measured with
/// relative sleeps (`nanosleep`: libfaketime scales it by the clock rate, so a
/// fast clock ticks faster, and never shifts it by the offset). It stops when
/// the raft loop has gone.
pub fn spawn_ticker(tick: Duration, inbox: mpsc::Sender<Input>) -> std::io::Result<()> {
    std::thread::Builder::new().name("raft-ticker".into()).spawn(move || loop {
        std::thread::sleep(tick);
        if let Err(mpsc::error::TrySendError::Closed(_)) = inbox.try_send(Input::Tick) {
            return;
        }
    })?;
    Ok(())
}

/// The node's state as published for the HTTP handlers.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub role: StateRole,
    pub term: u64,
    pub leader: u64,
    pub commit: u64,
    pub applied: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// Whether the leader has committed an entry in its term.
    pub committed_in_term: bool,
    pub lease: Lease,
    /// Last time a lease read was asked for (drives lease renewal rounds).
    pub lease_demand: Option<Instant>,
}

/// State shared between the raft thread and the HTTP handlers.
pub struct Shared {
    pub id: u64,
    pub state: Mutex<NodeState>,
    pub peers: RwLock<BTreeMap<u64, PeerInfo>>,
    pub applied: watch::Sender<u64>,
}

impl Shared {
    /// The current leader's id and client address, as far as this node knows.
    pub fn leader_hint(&self) -> (Option<u64>, Option<String>) {
        let leader = self.state.lock().unwrap().leader;
        if leader == 0 {
            return (None, None);
        }
        let addr = self.peers.read().unwrap().get(&leader).map(|p| p.client_addr.clone());
        (Some(leader), addr)
    }
}

enum Reply {
    Cmd(CmdReply),
    Conf(AdminReply),
}

struct PendingProposal {
    id: u64,
    term: u64,
    reply: Reply,
}

struct PendingRead {
    reply: Option<ReadReply>,
    started: Instant,
    term: u64,
    leader_side: bool,
}

/// The raft thread's state.
pub struct RaftLoop {
    cfg: Config,
    node: RawNode<NodeStorage>,
    store: NodeStorage,
    inbox: mpsc::Receiver<Input>,
    transport: Transport,
    shared: Arc<Shared>,
    proposals: HashMap<u64, PendingProposal>,
    reads: HashMap<u64, PendingRead>,
    deferred_reads: Vec<u64>,
    counter: u64,
    ticks: u64,
    prev_role: StateRole,
    prev_term: u64,
    last_renewal: Option<Instant>,
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

fn ctx_bytes(id: u64, n: u64) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&n.to_be_bytes());
    v
}

fn ctx_counter(ctx: &[u8], id: u64) -> Option<u64> {
    if ctx.len() != 16 || ctx[..8] != id.to_be_bytes() {
        return None;
    }
    Some(u64::from_be_bytes(ctx[8..16].try_into().unwrap()))
}

/// The result a blind write will have, known before it applies (used only by
/// `--unsafe-ack-before-commit`).
fn blind_result(cmd: &Cmd) -> CmdResult {
    match cmd {
        Cmd::Txn { ops } => CmdResult::Txn(ops.iter().map(|o: &TxnOp| (o.clone(), None)).collect()),
        _ => CmdResult::Ok,
    }
}

impl RaftLoop {
    /// Builds the raft node from storage.
    pub fn new(
        cfg: Config,
        store: NodeStorage,
        inbox: mpsc::Receiver<Input>,
        transport: Transport,
        shared: Arc<Shared>,
    ) -> Result<RaftLoop, String> {
        let rc = raft::Config {
            id: cfg.id,
            election_tick: cfg.election_ticks,
            heartbeat_tick: cfg.heartbeat_ticks,
            applied: store.applied(),
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_uncommitted_size: 64 << 20,
            ..Default::default()
        };
        rc.validate().map_err(|e| format!("raft config: {e}"))?;
        let logger = crate::logging::raft_logger(cfg.id);
        let node = RawNode::new(&rc, store.clone(), &logger).map_err(|e| format!("raft init: {e}"))?;
        let prev_term = node.raft.term;
        Ok(RaftLoop {
            cfg,
            node,
            store,
            inbox,
            transport,
            shared,
            proposals: HashMap::new(),
            reads: HashMap::new(),
            deferred_reads: Vec::new(),
            counter: unix_nanos(),
            ticks: 0,
            prev_role: StateRole::Follower,
            prev_term,
            last_renewal: None,
        })
    }

    /// Runs until [`Input::Shutdown`] or until every sender is gone.
    ///
    /// The loop blocks on its inbox without any timeout; time enters only as
    /// [`Input::Tick`]s from [`spawn_ticker`]. (std's and tokio's timed waits
    /// use absolute monotonic deadlines, which break when libfaketime shifts
    /// the monotonic clock; a ticker built on relative sleeps does not.)
    pub fn run(mut self) {
        self.publish();
        'outer: while let Some(input) = self.inbox.blocking_recv() {
            if !self.handle(input) {
                break;
            }
            for _ in 0..4096 {
                match self.inbox.try_recv() {
                    Ok(input) => {
                        if !self.handle(input) {
                            break 'outer;
                        }
                    }
                    Err(_) => break,
                }
            }
            self.hand_off_if_removed();
            if let Err(e) = self.on_ready() {
                log_error!("fatal storage error: {e}");
                std::process::exit(70);
            }
            self.after_ready();
        }
        self.shutdown();
    }

    /// A leader that applied its own removal hands its leadership to the most
    /// up-to-date remaining voter (and again if that transfer aborts, say
    /// because the transferee is down). raft-rs leaves such a leader in place:
    /// it drops every proposal but keeps heartbeating the others, so they
    /// never elect anyone and the group could not make progress until it died.
    fn hand_off_if_removed(&mut self) {
        let r = &self.node.raft;
        let voters = r.prs().conf().voters();
        if r.state != StateRole::Leader || voters.contains(self.cfg.id) || r.lead_transferee.is_some() {
            return;
        }
        let best = r
            .prs()
            .iter()
            .filter(|(id, _)| **id != self.cfg.id && voters.contains(**id))
            .max_by_key(|(id, p)| (p.matched, std::cmp::Reverse(**id)))
            .map(|(id, _)| *id);
        let Some(to) = best else { return };
        let term = r.term;
        log_info!("removed from the configuration while leader (term {term}): handing leadership to {to}");
        // As for any transfer: the new leader's election bypasses the
        // followers' leases, so this node's lease must not be trusted.
        self.shared.state.lock().unwrap().lease.disable_for_term(term);
        self.node.transfer_leader(to);
    }

    fn next_counter(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    fn committed_in_term(&self) -> bool {
        let r = &self.node.raft;
        r.raft_log.term(r.raft_log.committed).is_ok_and(|t| t == r.term)
    }

    fn not_leader(&self) -> ApiError {
        let leader = self.node.raft.leader_id;
        if leader == 0 {
            return ApiError::not_leader(None, None);
        }
        let addr = self.shared.peers.read().unwrap().get(&leader).map(|p| p.client_addr.clone());
        ApiError::not_leader(Some(leader), addr)
    }

    /// Handles one input; false means stop.
    fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Raft(m) => {
                let t = m.get_msg_type();
                if (t == MessageType::MsgRequestVote || t == MessageType::MsgRequestPreVote)
                    && m.term > self.node.raft.term
                    && self.ticks < self.cfg.election_ticks as u64
                {
                    log_debug!("ignoring vote request from {} during startup quiet period", m.from);
                    return true;
                }
                if let Err(e) = self.node.step(*m) {
                    log_debug!("step: {e}");
                }
            }
            Input::Propose { cmd, reply } => self.propose(cmd, reply),
            Input::ReadIndex { leader_only, reply } => self.read_index(leader_only, Some(reply)),
            Input::ConfChange { cc, reply } => self.propose_conf_change(cc, reply),
            Input::Transfer { to, reply } => {
                if !self.is_leader() {
                    let _ = reply.send(Err(self.not_leader()));
                } else if !self.node.raft.prs().conf().voters().contains(to) {
                    let _ = reply.send(Err(ApiError::bad_request(format!("{to} is not a voter"))));
                } else {
                    if to != self.cfg.id {
                        let term = self.node.raft.term;
                        self.shared.state.lock().unwrap().lease.disable_for_term(term);
                        self.node.transfer_leader(to);
                    }
                    let _ = reply.send(Ok(()));
                }
            }
            Input::SnapshotStatus { to, ok } => {
                let s = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                self.node.report_snapshot(to, s);
            }
            Input::Unreachable(id) => self.node.report_unreachable(id),
            Input::Tick => {
                self.node.tick();
                self.ticks += 1;
                self.on_tick(Instant::now());
            }
            Input::Shutdown => return false,
        }
        true
    }

    fn propose(&mut self, cmd: Cmd, reply: CmdReply) {
        if !self.is_leader() {
            let _ = reply.send(Err(self.not_leader()));
            return;
        }
        let id = self.next_counter();
        let ack_early = self.cfg.unsafe_flags.ack_before_commit && cmd.is_blind_write();
        let early = ack_early.then(|| blind_result(&cmd));
        let data = Proposal { id, cmd }.encode();
        let before = self.node.raft.raft_log.last_index();
        if let Err(e) = self.node.propose(vec![], data) {
            let _ = reply.send(Err(ApiError::dropped(format!("raft dropped the proposal: {e}"))));
            return;
        }
        let index = self.node.raft.raft_log.last_index();
        if index == before {
            let _ = reply.send(Err(ApiError::dropped("proposal not appended")));
            return;
        }
        if let Some(r) = early {
            // Defect: answer before the entry is committed (or even persisted).
            let _ = reply.send(Ok(r));
            return;
        }
        let term = self.node.raft.term;
        self.proposals.insert(index, PendingProposal { id, term, reply: Reply::Cmd(reply) });
    }

    fn propose_conf_change(&mut self, cc: ConfChange, reply: AdminReply) {
        if !self.is_leader() {
            let _ = reply.send(Err(self.not_leader()));
            return;
        }
        let id = self.next_counter();
        let before = self.node.raft.raft_log.last_index();
        if let Err(e) = self.node.propose_conf_change(id.to_be_bytes().to_vec(), cc) {
            let _ = reply.send(Err(ApiError::dropped(format!("raft dropped the conf change: {e}"))));
            return;
        }
        let index = self.node.raft.raft_log.last_index();
        if index == before {
            let _ = reply.send(Err(ApiError::dropped("conf change not appended")));
            return;
        }
        let term = self.node.raft.term;
        self.proposals.insert(index, PendingProposal { id, term, reply: Reply::Conf(reply) });
    }

    fn read_index(&mut self, leader_only: bool, reply: Option<ReadReply>) {
        let leader = self.is_leader();
        if !leader && (leader_only || self.node.raft.leader_id == 0) {
            if let Some(r) = reply {
                let _ = r.send(Err(self.not_leader()));
            }
            return;
        }
        let n = self.next_counter();
        let term = self.node.raft.term;
        self.reads.insert(n, PendingRead { reply, started: Instant::now(), term, leader_side: leader });
        if leader && !self.committed_in_term() {
            self.deferred_reads.push(n);
        } else {
            self.node.read_index(ctx_bytes(self.cfg.id, n));
        }
    }

    fn on_tick(&mut self, now: Instant) {
        // Lease renewal: one ReadIndex round per tick while lease reads are in use.
        if self.is_leader() && self.committed_in_term() {
            let demand = self.shared.state.lock().unwrap().lease_demand;
            let wanted = demand.is_some_and(|d| now.saturating_duration_since(d) < Duration::from_secs(5));
            let due = self.last_renewal.is_none_or(|t| now.saturating_duration_since(t) >= self.cfg.tick);
            if wanted && due {
                self.last_renewal = Some(now);
                self.read_index(true, None);
            }
        }
        // Forget abandoned reads and proposals whose clients are gone.
        let horizon = self.cfg.request_timeout * 2;
        self.reads.retain(|_, r| {
            now.saturating_duration_since(r.started) < horizon && r.reply.as_ref().is_none_or(|s| !s.is_closed())
        });
        self.proposals.retain(|_, p| match &p.reply {
            Reply::Cmd(s) => !s.is_closed(),
            Reply::Conf(s) => !s.is_closed(),
        });
    }

    fn send_messages(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            let to = m.to;
            let snap = m.get_msg_type() == MessageType::MsgSnapshot;
            if !self.transport.send(m) {
                if snap {
                    self.node.report_snapshot(to, SnapshotStatus::Failure);
                }
                self.node.report_unreachable(to);
            }
        }
    }

    fn on_ready(&mut self) -> Result<(), String> {
        if !self.node.has_ready() {
            return Ok(());
        }
        let mut rd = self.node.ready();
        if !rd.messages().is_empty() {
            self.send_messages(rd.take_messages());
        }
        if !rd.snapshot().is_empty() {
            let snap = rd.snapshot().clone();
            let md = snap.get_metadata();
            log_info!("applying snapshot at index {} term {}", md.index, md.term);
            self.store.apply_snapshot(&snap)?;
            self.refresh_peers();
            self.applied_to(md.index);
        }
        self.store.append(rd.entries(), rd.hs())?;
        let committed = rd.take_committed_entries();
        self.apply(committed)?;
        if !rd.persisted_messages().is_empty() {
            self.send_messages(rd.take_persisted_messages());
        }
        let read_states = rd.take_read_states();
        self.on_read_states(read_states);
        let mut light = self.node.advance(rd);
        self.send_messages(light.take_messages());
        let committed = light.take_committed_entries();
        self.apply(committed)?;
        self.node.advance_apply();
        self.maybe_compact()?;
        Ok(())
    }

    fn on_read_states(&mut self, states: Vec<ReadState>) {
        let term = self.node.raft.term;
        let leader = self.is_leader();
        for rs in states {
            let Some(n) = ctx_counter(&rs.request_ctx, self.cfg.id) else { continue };
            let Some(p) = self.reads.remove(&n) else { continue };
            if p.leader_side && leader && p.term == term {
                self.shared.state.lock().unwrap().lease.extend(p.started, term);
            }
            if let Some(r) = p.reply {
                let _ = r.send(Ok(rs.index));
            }
        }
    }

    fn refresh_peers(&mut self) {
        let mut peers = self.store.peers();
        // Addresses given on the command line override replicated ones.
        for (id, addr) in &self.cfg.peers {
            let client = self.cfg.client_peers.get(id).cloned().unwrap_or_default();
            peers.insert(*id, PeerInfo { raft_addr: addr.clone(), client_addr: client });
        }
        let cs = self.store.conf_state();
        for (id, p) in &peers {
            let member = cs.voters.contains(id) || cs.learners.contains(id) || self.cfg.peers.contains_key(id);
            if *id != self.cfg.id && member {
                self.transport.set_peer(*id, &p.raft_addr);
            }
        }
        *self.shared.peers.write().unwrap() = peers;
    }

    fn apply(&mut self, entries: Vec<Entry>) -> Result<(), String> {
        let Some(last) = entries.last().map(|e| e.index) else { return Ok(()) };
        if last <= self.store.applied() {
            return Ok(());
        }
        let mut results: Vec<(u64, u64, Option<u64>, Option<CmdResult>)> = Vec::new();
        let mut membership_changed = false;
        let store = self.store.clone();
        let mut batch = store.begin_apply();
        for e in &entries {
            if e.index <= store.applied() {
                continue;
            }
            match e.get_entry_type() {
                EntryType::EntryNormal => match Proposal::decode(&e.data) {
                    Some(p) => {
                        let r = command::apply(&p.cmd, &mut batch);
                        results.push((e.index, e.term, Some(p.id), Some(r)));
                    }
                    None => results.push((e.index, e.term, None, None)),
                },
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    let cs = if e.get_entry_type() == EntryType::EntryConfChange {
                        let cc = ConfChange::parse_from_bytes(&e.data).map_err(|e| e.to_string())?;
                        if matches!(cc.get_change_type(), ConfChangeType::AddNode | ConfChangeType::AddLearnerNode) {
                            if let Ok(p) = serde_json::from_slice::<PeerInfo>(&cc.context) {
                                batch.put_peer(cc.node_id, &p);
                            }
                        }
                        log_info!("applying conf change {:?} node {}", cc.get_change_type(), cc.node_id);
                        self.node.apply_conf_change(&cc)
                    } else {
                        let cc = ConfChangeV2::parse_from_bytes(&e.data).map_err(|e| e.to_string())?;
                        self.node.apply_conf_change(&cc)
                    };
                    match cs {
                        Ok(cs) => batch.set_conf_state(cs),
                        Err(err) => log_warn!("conf change at {} rejected: {err}", e.index),
                    }
                    membership_changed = true;
                    let id = (e.context.len() == 8).then(|| u64::from_be_bytes(e.context[..8].try_into().unwrap()));
                    results.push((e.index, e.term, id, Some(CmdResult::Ok)));
                }
            }
        }
        batch.commit(last)?;
        if membership_changed {
            self.refresh_peers();
        }
        // Before any client hears of these entries: what it learns next from
        // /status must already count them.
        self.applied_to(last);
        for (index, term, id, result) in results {
            let Some(p) = self.proposals.remove(&index) else { continue };
            let ours = p.term == term && id == Some(p.id);
            match (p.reply, ours) {
                (Reply::Cmd(r), true) => {
                    let _ = r.send(Ok(result.unwrap_or(CmdResult::Ok)));
                }
                (Reply::Conf(r), true) => {
                    let _ = r.send(Ok(()));
                }
                // Another entry was committed at our index: ours can never commit.
                (Reply::Cmd(r), false) => {
                    let _ = r.send(Err(ApiError::dropped("entry superseded by another leader's entry")));
                }
                (Reply::Conf(r), false) => {
                    let _ = r.send(Err(ApiError::dropped("conf change rejected (another one is pending)")));
                }
            }
        }
        Ok(())
    }

    fn maybe_compact(&mut self) -> Result<(), String> {
        if self.store.applied_log_len() > self.cfg.compact_threshold {
            let to = self.store.applied().saturating_sub(self.cfg.compact_keep);
            log_debug!("compacting log up to {to}");
            self.store.compact(to)?;
        }
        Ok(())
    }

    /// Fails what depends on leadership when it is lost, issues deferred
    /// reads, and publishes the status view.
    fn after_ready(&mut self) {
        let role = self.node.raft.state;
        let term = self.node.raft.term;
        if role != self.prev_role || term != self.prev_term {
            log_info!(
                "role {:?} term {} leader {} (was {:?} term {})",
                role, term, self.node.raft.leader_id, self.prev_role, self.prev_term
            );
            if self.prev_role == StateRole::Leader {
                for (_, p) in self.proposals.drain() {
                    match p.reply {
                        Reply::Cmd(r) => {
                            let _ = r.send(Err(ApiError::leadership_lost()));
                        }
                        Reply::Conf(r) => {
                            let _ = r.send(Err(ApiError::leadership_lost()));
                        }
                    }
                }
                let leader_reads: Vec<u64> =
                    self.reads.iter().filter(|(_, r)| r.leader_side).map(|(k, _)| *k).collect();
                for k in leader_reads {
                    if let Some(PendingRead { reply: Some(r), .. }) = self.reads.remove(&k) {
                        let _ = r.send(Err(ApiError::leadership_lost().for_read()));
                    }
                }
                self.deferred_reads.clear();
                self.shared.state.lock().unwrap().lease.clear();
            }
            self.prev_role = role;
            self.prev_term = term;
        }
        if role == StateRole::Leader && !self.deferred_reads.is_empty() && self.committed_in_term() {
            for n in std::mem::take(&mut self.deferred_reads) {
                self.node.read_index(ctx_bytes(self.cfg.id, n));
            }
            // Serve them in this turn rather than the next.
            if let Err(e) = self.on_ready() {
                log_error!("fatal storage error: {e}");
                std::process::exit(70);
            }
        }
        self.publish();
    }

    /// Makes `index` the applied index everyone sees: the status view first,
    /// then the readers waiting on the watch. Called before any client is
    /// answered for an entry up to `index`, so a client that saw its write
    /// acknowledged (or its read served) never gets a `/status` that lags it.
    fn applied_to(&self, index: u64) {
        self.publish();
        let _ = self.shared.applied.send_replace(index);
    }

    fn publish(&self) {
        let r = &self.node.raft;
        let conf = r.prs().conf();
        let mut voters: Vec<u64> = conf.voters().ids().iter().collect();
        voters.sort_unstable();
        let mut learners: Vec<u64> = conf.learners().iter().copied().collect();
        learners.sort_unstable();
        let committed_in_term = self.committed_in_term();
        let mut s = self.shared.state.lock().unwrap();
        s.role = r.state;
        s.term = r.term;
        s.leader = r.leader_id;
        s.commit = r.raft_log.committed;
        s.applied = self.store.applied();
        s.last_index = r.raft_log.last_index();
        s.snapshot_index = self.store.snapshot_index();
        s.voters = voters;
        s.learners = learners;
        s.committed_in_term = committed_in_term;
    }

    fn shutdown(mut self) {
        log_info!("raft loop stopping");
        for (_, p) in self.proposals.drain() {
            match p.reply {
                Reply::Cmd(r) => {
                    let _ = r.send(Err(ApiError::shutting_down()));
                }
                Reply::Conf(r) => {
                    let _ = r.send(Err(ApiError::shutting_down()));
                }
            }
        }
        for (_, r) in self.reads.drain() {
            if let Some(r) = r.reply {
                let _ = r.send(Err(ApiError::shutting_down().for_read()));
            }
        }
        if let Err(e) = self.store.flush() {
            log_warn!("flush at shutdown failed: {e}");
        }
    }

    /// Initial status view and peer table, before the loop runs.
    pub fn init_shared(&mut self) {
        self.refresh_peers();
        self.publish();
    }
}

/// A fresh status view for a node that has not run yet.
pub fn initial_state(lease: Lease) -> NodeState {
    NodeState {
        role: StateRole::Follower,
        term: 0,
        leader: 0,
        commit: 0,
        applied: 0,
        last_index: 0,
        snapshot_index: 0,
        voters: vec![],
        learners: vec![],
        committed_in_term: false,
        lease,
        lease_demand: None,
    }
}

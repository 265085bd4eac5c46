//! The client HTTP/JSON API (documented in `API.md`).
//!
//! Handlers validate input (bounded sizes, strict JSON shapes), then either
//! read local state (after the chosen read path has established that it is
//! fresh enough) or hand a command to the raft thread and wait, with the
//! request timeout, for its result. They never forward to the leader: a
//! request that needs the leader answers `not_leader` with a hint instead.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use raft::prelude::{ConfChange, ConfChangeType};
use raft::StateRole;
use serde_json::{json, Value};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use crate::clock::{timeout_at, Deadline};

use crate::command::{Cmd, CmdResult, TxnOp};
use crate::config::{Config, ReadMode};
use crate::error::ApiError;
use crate::raft_loop::{Input, Shared};
use crate::storage::{NodeStorage, PeerInfo};

/// Largest accepted request body.
pub const MAX_BODY: usize = 1 << 20;
/// Longest accepted key, in bytes.
pub const MAX_KEY: usize = 1024;

/// What every handler needs.
pub struct Api {
    pub cfg: Config,
    pub shared: Arc<Shared>,
    pub store: NodeStorage,
    pub inbox: mpsc::Sender<Input>,
}

type ApiResult = Result<Response, ApiError>;

/// Builds the router.
pub fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/kv/:key", get(get_key).put(put_key))
        .route("/kv/:key/cas", post(cas_key))
        .route("/kv/:key/append", post(append_key))
        .route("/txn", post(txn))
        .route("/status", get(status))
        .route("/admin/add", post(admin_add))
        .route("/admin/remove", post(admin_remove))
        .route("/admin/transfer", post(admin_transfer))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

fn ok(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

fn key_of(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(k) = p.map_err(|e| ApiError::bad_request(format!("bad key: {e}")))?;
    if k.is_empty() || k.len() > MAX_KEY {
        return Err(ApiError::bad_request(format!("key must be 1..={MAX_KEY} bytes")));
    }
    Ok(k)
}

fn json_body(b: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let b = b.map_err(|e| {
        if e.status().as_u16() == 413 {
            ApiError::too_large(format!("body larger than {MAX_BODY} bytes"))
        } else {
            ApiError::bad_request(format!("cannot read body: {e}"))
        }
    })?;
    let v: Value = serde_json::from_slice(&b).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("body must be a JSON object"));
    }
    Ok(v)
}

fn str_field(v: &Value, f: &str) -> Result<String, ApiError> {
    v.get(f)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request(format!("field {f:?} must be a string")))
}

fn u64_field(v: &Value, f: &str) -> Result<u64, ApiError> {
    v.get(f)
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("field {f:?} must be a positive integer")))
}

impl Api {
    fn read_mode(&self, q: &Option<String>) -> Result<ReadMode, ApiError> {
        let Some(q) = q else { return Ok(self.cfg.read_mode) };
        for pair in q.split('&') {
            if let Some(m) = pair.strip_prefix("read=") {
                return ReadMode::parse(m).ok_or_else(|| ApiError::bad_request(format!("unknown read mode {m:?}")));
            }
        }
        Ok(self.cfg.read_mode)
    }

    fn deadline(&self) -> Deadline {
        Deadline::after(self.cfg.request_timeout)
    }

    fn submit(&self, input: Input) -> Result<(), ApiError> {
        self.inbox.try_send(input).map_err(|e| match e {
            TrySendError::Full(_) => ApiError::overloaded(),
            TrySendError::Closed(_) => ApiError::unavailable("raft loop stopped"),
        })
    }

    fn require_leader(&self) -> Result<(), ApiError> {
        if self.shared.state.lock().unwrap().role == StateRole::Leader {
            return Ok(());
        }
        let (l, a) = self.shared.leader_hint();
        Err(ApiError::not_leader(l, a))
    }

    /// Proposes a command and waits for its result.
    async fn propose(&self, cmd: Cmd) -> Result<CmdResult, ApiError> {
        self.require_leader()?;
        let deadline = self.deadline();
        let (tx, rx) = oneshot::channel();
        self.submit(Input::Propose { cmd, reply: tx })?;
        match timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ApiError::shutting_down()),
            Err(_) => Err(ApiError::timeout()),
        }
    }

    /// Runs ReadIndex and waits until the state machine caught up with it.
    async fn read_index(&self, leader_only: bool, deadline: Deadline) -> Result<(), ApiError> {
        if leader_only {
            self.require_leader()?;
        }
        let (tx, rx) = oneshot::channel();
        self.submit(Input::ReadIndex { leader_only, reply: tx })?;
        let idx = match timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(ApiError::shutting_down()),
            Err(_) => return Err(ApiError::timeout()),
        };
        self.wait_applied(idx, deadline).await
    }

    async fn wait_applied(&self, idx: u64, deadline: Deadline) -> Result<(), ApiError> {
        let mut rx = self.shared.applied.subscribe();
        let res = match timeout_at(deadline, rx.wait_for(|a| *a >= idx)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ApiError::shutting_down()),
            Err(_) => Err(ApiError::timeout()),
        };
        res
    }

    /// The lease read index if this node is the leader with a valid lease.
    fn lease_index(&self, now: Instant) -> Option<(u64, u64)> {
        let mut s = self.shared.state.lock().unwrap();
        s.lease_demand = Some(now);
        let term = s.term;
        let valid = s.lease.valid_at(now, term);
        (s.role == StateRole::Leader && s.committed_in_term && valid).then_some((s.commit, term))
    }

    fn lease_still_valid(&self, term: u64) -> bool {
        let mut s = self.shared.state.lock().unwrap();
        s.role == StateRole::Leader && s.lease.valid_at(Instant::now(), term)
    }

    /// Reads `keys` from local state once `mode` says local state is fresh enough.
    async fn read(&self, keys: &[&str], mode: ReadMode) -> Result<Vec<Option<String>>, ApiError> {
        let local = || self.store.get_many(keys).map_err(ApiError::internal);
        if self.cfg.unsafe_flags.stale_reads || mode == ReadMode::Stale {
            return local();
        }
        let deadline = self.deadline();
        match mode {
            ReadMode::Stale => local(),
            ReadMode::Index | ReadMode::Log => {
                self.read_index(true, deadline).await?;
                local()
            }
            ReadMode::Follower => {
                self.read_index(false, deadline).await?;
                local()
            }
            ReadMode::Lease => {
                self.require_leader()?;
                if let Some((idx, term)) = self.lease_index(Instant::now()) {
                    self.wait_applied(idx, deadline).await?;
                    let values = local()?;
                    // The lease must still hold after the read (a pause between
                    // the check and the read must not yield a stale value).
                    if self.cfg.unsafe_flags.lease_ignore_drift || self.lease_still_valid(term) {
                        return Ok(values);
                    }
                }
                self.read_index(true, deadline).await?;
                local()
            }
        }
    }
}

async fn get_key(
    State(api): State<Arc<Api>>,
    key: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let key = key_of(key)?;
    let mode = api.read_mode(&q)?;
    let value = if mode == ReadMode::Log && !api.cfg.unsafe_flags.stale_reads {
        match api.propose(Cmd::Get { key }).await.map_err(ApiError::for_read)? {
            CmdResult::Value(v) => v,
            _ => None,
        }
    } else {
        api.read(&[key.as_str()], mode).await.map_err(ApiError::for_read)?.pop().flatten()
    };
    ok(json!({ "value": value }))
}

async fn put_key(
    State(api): State<Arc<Api>>,
    key: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let key = key_of(key)?;
    let value = str_field(&json_body(body)?, "value")?;
    ok(api.propose(Cmd::Put { key, value }).await?.to_json())
}

async fn append_key(
    State(api): State<Arc<Api>>,
    key: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let key = key_of(key)?;
    let value = str_field(&json_body(body)?, "value")?;
    ok(api.propose(Cmd::Append { key, value }).await?.to_json())
}

async fn cas_key(
    State(api): State<Arc<Api>>,
    key: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let key = key_of(key)?;
    let v = json_body(body)?;
    let from = match v.get("from") {
        Some(Value::Null) | None => None,
        Some(Value::String(s)) => Some(s.clone()),
        _ => return Err(ApiError::bad_request("field \"from\" must be a string or null")),
    };
    let to = str_field(&v, "to")?;
    ok(api.propose(Cmd::Cas { key, from, to }).await?.to_json())
}

async fn txn(State(api): State<Arc<Api>>, RawQuery(q): RawQuery, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let v = json_body(body)?;
    let mode = api.read_mode(&q)?;
    let ops = crate::command::parse_txn_ops(&v, MAX_KEY).map_err(ApiError::bad_request)?;
    let cmd = Cmd::Txn { ops };
    if cmd.is_read_only() && (mode != ReadMode::Log || api.cfg.unsafe_flags.stale_reads) {
        let Cmd::Txn { ops } = cmd else { unreachable!() };
        let keys: Vec<&str> = ops
            .iter()
            .map(|o| match o {
                TxnOp::Read(k) | TxnOp::Write(k, _) | TxnOp::Append(k, _) => k.as_str(),
            })
            .collect();
        let values = api.read(&keys, mode).await.map_err(ApiError::for_read)?;
        let out = CmdResult::Txn(ops.iter().cloned().zip(values).collect());
        return ok(out.to_json());
    }
    let read_only = cmd.is_read_only();
    let r = api.propose(cmd).await.map_err(|e| if read_only { e.for_read() } else { e })?;
    ok(r.to_json())
}

async fn status(State(api): State<Arc<Api>>) -> ApiResult {
    let s = api.shared.state.lock().unwrap().clone();
    let (leader, leader_addr) = api.shared.leader_hint();
    let clock_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let role = match s.role {
        StateRole::Leader => "leader",
        StateRole::Follower => "follower",
        StateRole::Candidate => "candidate",
        StateRole::PreCandidate => "pre_candidate",
    };
    let mut members: Vec<u64> = s.voters.iter().chain(s.learners.iter()).copied().collect();
    members.sort_unstable();
    let now = Instant::now();
    let lease_ms = (s.role == StateRole::Leader)
        .then(|| s.lease.remaining(now, s.term).map(|d| d.as_millis() as u64))
        .flatten();
    ok(json!({
        "id": api.cfg.id,
        "role": role,
        "term": s.term,
        "leader": leader,
        "leader_addr": leader_addr,
        "commit": s.commit,
        "applied": s.applied,
        "clock_ms": clock_ms,
        "read_mode": api.cfg.read_mode.name(),
        "members": members,
        "voters": s.voters,
        "learners": s.learners,
        "unsafe": api.cfg.unsafe_flags.names(),
        "last_index": s.last_index,
        "snapshot_index": s.snapshot_index,
        "lease_remaining_ms": lease_ms,
        "lease_length_ms": s.lease.length().as_millis() as u64,
        "sync": api.cfg.sync,
    }))
}

async fn admin(api: &Api, input: impl FnOnce(oneshot::Sender<Result<(), ApiError>>) -> Input) -> ApiResult {
    api.require_leader()?;
    let deadline = api.deadline();
    let (tx, rx) = oneshot::channel();
    api.submit(input(tx))?;
    match timeout_at(deadline, rx).await {
        Ok(Ok(r)) => r?,
        Ok(Err(_)) => return Err(ApiError::shutting_down()),
        Err(_) => return Err(ApiError::timeout()),
    }
    ok(json!({"ok": true}))
}

async fn admin_add(State(api): State<Arc<Api>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let v = json_body(body)?;
    let id = u64_field(&v, "id")?;
    let raft_addr = str_field(&v, "raft_addr")?;
    let client_addr = match v.get("client_addr") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => crate::config::default_client_addr(&raft_addr, api.cfg.listen.port()),
        _ => return Err(ApiError::bad_request("field \"client_addr\" must be a string")),
    };
    for a in [&raft_addr, &client_addr] {
        if a.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
            return Err(ApiError::bad_request(format!("bad address {a:?}")));
        }
    }
    let mut cc = ConfChange::default();
    cc.set_change_type(ConfChangeType::AddNode);
    cc.node_id = id;
    cc.context = serde_json::to_vec(&PeerInfo { raft_addr, client_addr }).unwrap().into();
    admin(&api, |reply| Input::ConfChange { cc, reply }).await
}

async fn admin_remove(State(api): State<Arc<Api>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let v = json_body(body)?;
    let mut cc = ConfChange::default();
    cc.set_change_type(ConfChangeType::RemoveNode);
    cc.node_id = u64_field(&v, "id")?;
    admin(&api, |reply| Input::ConfChange { cc, reply }).await
}

async fn admin_transfer(State(api): State<Arc<Api>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let v = json_body(body)?;
    let to = u64_field(&v, "to")?;
    admin(&api, |reply| Input::Transfer { to, reply }).await
}

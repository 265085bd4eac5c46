//! RocksDB persistence for one node: the Raft log, hard state, conf state,
//! snapshot (truncation) metadata, and the key-value state machine.
//!
//! Everything lives in one RocksDB instance under key prefixes:
//!
//! | key                  | value                                            |
//! |----------------------|--------------------------------------------------|
//! | `m/hs`               | raft `HardState` (protobuf)                       |
//! | `m/cs`               | raft `ConfState` as of the applied index          |
//! | `m/trunc`            | index and term of the last compacted entry        |
//! | `m/applied`          | applied index                                     |
//! | `l/<index be64>`     | raft `Entry` (protobuf)                           |
//! | `d/<key>`            | state machine: the value of `key`                 |
//! | `p/<id be64>`        | state machine: a member's addresses (JSON)        |
//!
//! The applied index is always written in the same `WriteBatch` as the state
//! it describes (state-machine writes, conf state), so a restart resumes from a
//! consistent point and re-applies the committed log after it. Writes are
//! fsynced unless the node runs with `--unsafe-no-fsync`.
//!
//! A snapshot is the state machine (`d/` and `p/` keys) at the applied index
//! plus the conf state; compaction deletes log entries up to an applied index
//! and records their index/term in `m/trunc`, so peers that need older entries
//! get a snapshot instead.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};

use protobuf::Message as PbMessage;
use raft::prelude::*;
use raft::{GetEntriesContext, RaftState, StorageError};
use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};

use crate::command::KvView;

const K_HARD_STATE: &[u8] = b"m/hs";
const K_CONF_STATE: &[u8] = b"m/cs";
const K_TRUNC: &[u8] = b"m/trunc";
const K_APPLIED: &[u8] = b"m/applied";
const P_LOG: &[u8] = b"l/";
const P_DATA: &[u8] = b"d/";
const P_PEER: &[u8] = b"p/";

/// The index/term that a bootstrapped cluster starts from. Nodes that join
/// later start at 0, so the leader must send them a snapshot, which carries
/// the initial membership (it is never in the log).
pub const INIT_INDEX: u64 = 5;

/// Addresses of a member, kept in the replicated state so every node (and
/// every snapshot) knows how to reach members added at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub raft_addr: String,
    pub client_addr: String,
}

fn log_key(index: u64) -> Vec<u8> {
    let mut k = P_LOG.to_vec();
    k.extend_from_slice(&index.to_be_bytes());
    k
}

fn data_key(key: &str) -> Vec<u8> {
    let mut k = P_DATA.to_vec();
    k.extend_from_slice(key.as_bytes());
    k
}

fn peer_key(id: u64) -> Vec<u8> {
    let mut k = P_PEER.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The first key after every key with this prefix.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut e = prefix.to_vec();
    *e.last_mut().unwrap() += 1;
    e
}

fn u64_pair(a: u64, b: u64) -> Vec<u8> {
    let mut v = a.to_be_bytes().to_vec();
    v.extend_from_slice(&b.to_be_bytes());
    v
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| u64::from_be_bytes(s.try_into().unwrap()))
}

fn store_err(e: impl std::fmt::Display) -> raft::Error {
    raft::Error::Store(StorageError::Other(e.to_string().into()))
}

/// What the node keeps in memory about its persistent raft state.
#[derive(Debug, Clone, Default)]
struct Meta {
    hard_state: HardState,
    conf_state: ConfState,
    trunc_index: u64,
    trunc_term: u64,
    last_index: u64,
    applied: u64,
}

/// A handle on the node's RocksDB; cheap to clone and shared between the raft
/// thread (which owns all writes) and the HTTP handlers (which read values).
#[derive(Clone)]
pub struct NodeStorage {
    db: Arc<DB>,
    meta: Arc<RwLock<Meta>>,
    sync: bool,
}

impl NodeStorage {
    /// Opens (creating if needed) the database under `path` and loads its metadata.
    pub fn open(path: &Path, sync: bool) -> Result<NodeStorage, String> {
        std::fs::create_dir_all(path).map_err(|e| format!("create {}: {e}", path.display()))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(2);
        opts.set_max_log_file_size(1 << 20);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        opts.set_write_buffer_size(16 << 20);
        let db = DB::open(&opts, path).map_err(|e| format!("open rocksdb at {}: {e}", path.display()))?;
        let s = NodeStorage { db: Arc::new(db), meta: Arc::default(), sync };
        s.load()?;
        Ok(s)
    }

    fn load(&self) -> Result<(), String> {
        let get = |k: &[u8]| self.db.get(k).map_err(|e| e.to_string());
        let mut m = Meta::default();
        if let Some(b) = get(K_HARD_STATE)? {
            m.hard_state = HardState::parse_from_bytes(&b).map_err(|e| e.to_string())?;
        }
        if let Some(b) = get(K_CONF_STATE)? {
            m.conf_state = ConfState::parse_from_bytes(&b).map_err(|e| e.to_string())?;
        }
        if let Some(b) = get(K_TRUNC)? {
            m.trunc_index = read_u64(&b, 0).unwrap_or(0);
            m.trunc_term = read_u64(&b, 8).unwrap_or(0);
        }
        if let Some(b) = get(K_APPLIED)? {
            m.applied = read_u64(&b, 0).unwrap_or(0);
        }
        m.applied = m.applied.max(m.trunc_index);
        // The last log entry, if any: seek to the end of the log prefix.
        let end = prefix_end(P_LOG);
        let mut it = self.db.iterator(IteratorMode::From(&end, Direction::Reverse));
        m.last_index = m.trunc_index;
        if let Some(Ok((k, _))) = it.next() {
            if k.starts_with(P_LOG) {
                m.last_index = read_u64(&k, P_LOG.len()).unwrap_or(0).max(m.trunc_index);
            }
        }
        // Applied entries are committed; a crash between writes must not leave
        // commit behind applied (raft-rs refuses to start like that).
        if m.hard_state.commit < m.applied {
            m.hard_state.commit = m.applied;
        }
        *self.meta.write().unwrap() = m;
        Ok(())
    }

    fn write_opts(&self) -> WriteOptions {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.sync);
        wo
    }

    fn write(&self, batch: WriteBatch) -> Result<(), String> {
        self.db.write_opt(batch, &self.write_opts()).map_err(|e| format!("rocksdb write: {e}"))
    }

    /// Whether this database already holds raft state (a restart).
    pub fn is_initialized(&self) -> bool {
        let m = self.meta.read().unwrap();
        m.conf_state != ConfState::default() || m.hard_state != HardState::default() || m.last_index > 0
    }

    /// Bootstraps a fresh cluster: `voters` become the initial configuration,
    /// recorded as if a snapshot at [`INIT_INDEX`] had been applied.
    pub fn bootstrap(&self, voters: &[u64], peers: &BTreeMap<u64, PeerInfo>) -> Result<(), String> {
        let mut cs = ConfState::default();
        cs.voters = voters.to_vec();
        let mut hs = HardState::default();
        hs.term = INIT_INDEX;
        hs.commit = INIT_INDEX;
        let mut b = WriteBatch::default();
        b.put(K_CONF_STATE, cs.write_to_bytes().map_err(|e| e.to_string())?);
        b.put(K_HARD_STATE, hs.write_to_bytes().map_err(|e| e.to_string())?);
        b.put(K_TRUNC, u64_pair(INIT_INDEX, INIT_INDEX));
        b.put(K_APPLIED, INIT_INDEX.to_be_bytes());
        for (id, p) in peers {
            b.put(peer_key(*id), serde_json::to_vec(p).unwrap());
        }
        self.write(b)?;
        self.load()
    }

    /// Persists new log entries (truncating any conflicting suffix) and/or a
    /// new hard state, in one batch.
    pub fn append(&self, entries: &[Entry], hs: Option<&HardState>) -> Result<(), String> {
        if entries.is_empty() && hs.is_none() {
            return Ok(());
        }
        let mut b = WriteBatch::default();
        let old_last = self.meta.read().unwrap().last_index;
        let mut new_last = old_last;
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            for e in entries {
                b.put(log_key(e.index), e.write_to_bytes().map_err(|e| e.to_string())?);
            }
            if last.index < old_last {
                b.delete_range(log_key(last.index + 1), log_key(old_last + 1));
            }
            debug_assert!(first.index <= old_last + 1);
            new_last = last.index;
        }
        if let Some(hs) = hs {
            b.put(K_HARD_STATE, hs.write_to_bytes().map_err(|e| e.to_string())?);
        }
        self.write(b)?;
        let mut m = self.meta.write().unwrap();
        m.last_index = new_last;
        if let Some(hs) = hs {
            m.hard_state = hs.clone();
        }
        Ok(())
    }

    /// Replaces the whole state (state machine, log, conf state) with a
    /// snapshot received from the leader, in one batch.
    pub fn apply_snapshot(&self, snap: &Snapshot) -> Result<(), String> {
        let md = snap.get_metadata();
        let mut b = WriteBatch::default();
        b.delete_range(P_DATA, &prefix_end(P_DATA)[..]);
        b.delete_range(P_PEER, &prefix_end(P_PEER)[..]);
        b.delete_range(P_LOG, &prefix_end(P_LOG)[..]);
        for (k, v) in decode_snapshot_data(&snap.data)? {
            if !(k.starts_with(P_DATA) || k.starts_with(P_PEER)) {
                return Err("snapshot holds a key outside the state machine".into());
            }
            b.put(k, v);
        }
        let mut hs = self.meta.read().unwrap().hard_state.clone();
        hs.term = hs.term.max(md.term);
        hs.commit = hs.commit.max(md.index);
        b.put(K_HARD_STATE, hs.write_to_bytes().map_err(|e| e.to_string())?);
        b.put(K_CONF_STATE, md.get_conf_state().write_to_bytes().map_err(|e| e.to_string())?);
        b.put(K_TRUNC, u64_pair(md.index, md.term));
        b.put(K_APPLIED, md.index.to_be_bytes());
        self.write(b)?;
        let mut m = self.meta.write().unwrap();
        m.hard_state = hs;
        m.conf_state = md.get_conf_state().clone();
        m.trunc_index = md.index;
        m.trunc_term = md.term;
        m.last_index = md.index;
        m.applied = md.index;
        Ok(())
    }

    /// Starts a batch that applies committed entries.
    pub fn begin_apply(&self) -> ApplyBatch<'_> {
        ApplyBatch { store: self, batch: WriteBatch::default(), overlay: HashMap::new(), conf_state: None }
    }

    /// Deletes log entries up to and including `index` (which must be applied).
    pub fn compact(&self, index: u64) -> Result<(), String> {
        let (first, applied) = {
            let m = self.meta.read().unwrap();
            (m.trunc_index + 1, m.applied)
        };
        if index < first || index > applied {
            return Ok(());
        }
        let term = raft::Storage::term(self, index).map_err(|e| e.to_string())?;
        let mut b = WriteBatch::default();
        b.delete_range(log_key(first), log_key(index + 1));
        b.put(K_TRUNC, u64_pair(index, term));
        self.write(b)?;
        let mut m = self.meta.write().unwrap();
        m.trunc_index = index;
        m.trunc_term = term;
        Ok(())
    }

    /// Reads one value from the state machine.
    pub fn get(&self, key: &str) -> Result<Option<String>, String> {
        match self.db.get(data_key(key)) {
            Ok(Some(v)) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reads several values from one consistent point in time.
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, String> {
        let snap = self.db.snapshot();
        keys.iter()
            .map(|k| {
                snap.get(data_key(k))
                    .map(|v| v.map(|v| String::from_utf8_lossy(&v).into_owned()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    /// Member addresses recorded in the state machine.
    pub fn peers(&self) -> BTreeMap<u64, PeerInfo> {
        let mut out = BTreeMap::new();
        for item in self.db.iterator(IteratorMode::From(P_PEER, Direction::Forward)) {
            let Ok((k, v)) = item else { break };
            if !k.starts_with(P_PEER) {
                break;
            }
            if let (Some(id), Ok(p)) = (read_u64(&k, P_PEER.len()), serde_json::from_slice(&v)) {
                out.insert(id, p);
            }
        }
        out
    }

    pub fn applied(&self) -> u64 {
        self.meta.read().unwrap().applied
    }

    pub fn hard_state(&self) -> HardState {
        self.meta.read().unwrap().hard_state.clone()
    }

    pub fn conf_state(&self) -> ConfState {
        self.meta.read().unwrap().conf_state.clone()
    }

    /// Index of the last compacted entry (the snapshot index).
    pub fn snapshot_index(&self) -> u64 {
        self.meta.read().unwrap().trunc_index
    }

    /// Number of applied entries still in the log.
    pub fn applied_log_len(&self) -> u64 {
        let m = self.meta.read().unwrap();
        m.applied.saturating_sub(m.trunc_index)
    }

    /// Flushes the WAL to disk (used at shutdown).
    pub fn flush(&self) -> Result<(), String> {
        self.db.flush_wal(true).map_err(|e| e.to_string())
    }

    /// Builds a snapshot of the state machine at the applied index.
    fn build_snapshot(&self) -> raft::Result<Snapshot> {
        let m = self.meta.read().unwrap().clone();
        let term = if m.applied == m.trunc_index {
            m.trunc_term
        } else {
            raft::Storage::term(self, m.applied)?
        };
        let view = self.db.snapshot();
        let mut data = Vec::new();
        for prefix in [P_DATA, P_PEER] {
            for item in view.iterator(IteratorMode::From(prefix, Direction::Forward)) {
                let (k, v) = item.map_err(store_err)?;
                if !k.starts_with(prefix) {
                    break;
                }
                push_frame(&mut data, &k);
                push_frame(&mut data, &v);
            }
        }
        let mut snap = Snapshot::default();
        snap.data = data.into();
        let md = snap.mut_metadata();
        md.index = m.applied;
        md.term = term;
        md.set_conf_state(m.conf_state);
        Ok(snap)
    }
}

fn push_frame(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// Decodes snapshot data: a sequence of length-prefixed key, value pairs.
fn decode_snapshot_data(mut b: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let take = |b: &mut &[u8]| -> Result<Vec<u8>, String> {
        if b.len() < 4 {
            return Err("truncated snapshot".into());
        }
        let n = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        if b.len() < 4 + n {
            return Err("truncated snapshot".into());
        }
        let v = b[4..4 + n].to_vec();
        *b = &b[4 + n..];
        Ok(v)
    };
    while !b.is_empty() {
        let k = take(&mut b)?;
        let v = take(&mut b)?;
        out.push((k, v));
    }
    Ok(out)
}

/// Applies committed entries: state-machine writes, member addresses and the
/// conf state go into one `WriteBatch` together with the new applied index.
/// Reads during apply see earlier writes of the same batch (overlay).
pub struct ApplyBatch<'a> {
    store: &'a NodeStorage,
    batch: WriteBatch,
    overlay: HashMap<String, String>,
    conf_state: Option<ConfState>,
}

impl ApplyBatch<'_> {
    /// Records a member's addresses.
    pub fn put_peer(&mut self, id: u64, p: &PeerInfo) {
        self.batch.put(peer_key(id), serde_json::to_vec(p).unwrap());
    }

    /// Records the conf state after a conf change.
    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = Some(cs);
    }

    /// Writes the batch with `applied` as the new applied index.
    pub fn commit(mut self, applied: u64) -> Result<(), String> {
        self.batch.put(K_APPLIED, applied.to_be_bytes());
        if let Some(cs) = &self.conf_state {
            self.batch.put(K_CONF_STATE, cs.write_to_bytes().map_err(|e| e.to_string())?);
        }
        let store = self.store;
        store.write(self.batch)?;
        let mut m = store.meta.write().unwrap();
        m.applied = m.applied.max(applied);
        if let Some(cs) = self.conf_state {
            m.conf_state = cs;
        }
        Ok(())
    }
}

impl KvView for ApplyBatch<'_> {
    fn get(&mut self, key: &str) -> Option<String> {
        if let Some(v) = self.overlay.get(key) {
            return Some(v.clone());
        }
        self.store.get(key).ok().flatten()
    }

    fn set(&mut self, key: &str, value: String) {
        self.batch.put(data_key(key), value.as_bytes());
        self.overlay.insert(key.to_string(), value);
    }
}

impl raft::Storage for NodeStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let m = self.meta.read().unwrap();
        Ok(RaftState { hard_state: m.hard_state.clone(), conf_state: m.conf_state.clone() })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _ctx: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let max_size = max_size.into().unwrap_or(u64::MAX);
        {
            let m = self.meta.read().unwrap();
            if low <= m.trunc_index {
                return Err(raft::Error::Store(StorageError::Compacted));
            }
            if high > m.last_index + 1 {
                return Err(raft::Error::Store(StorageError::Unavailable));
            }
        }
        let mut out = Vec::new();
        let mut size = 0u64;
        let start = log_key(low);
        for item in self.db.iterator(IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item.map_err(store_err)?;
            let Some(idx) = k.starts_with(P_LOG).then(|| read_u64(&k, P_LOG.len())).flatten() else {
                break;
            };
            if idx >= high {
                break;
            }
            if idx != low + out.len() as u64 {
                return Err(store_err(format!("log gap at {idx}")));
            }
            size += v.len() as u64;
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(Entry::parse_from_bytes(&v).map_err(store_err)?);
        }
        if out.is_empty() && low < high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let (ti, tt, last) = {
            let m = self.meta.read().unwrap();
            (m.trunc_index, m.trunc_term, m.last_index)
        };
        if idx == ti {
            return Ok(tt);
        }
        if idx < ti {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > last {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        match self.db.get(log_key(idx)).map_err(store_err)? {
            Some(v) => Ok(Entry::parse_from_bytes(&v).map_err(store_err)?.term),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.meta.read().unwrap().trunc_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.meta.read().unwrap().last_index)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.meta.read().unwrap().applied < request_index {
            return Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable));
        }
        self.build_snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage;

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("raftkv-st-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn entry(index: u64, term: u64, data: &str) -> Entry {
        let mut e = Entry::default();
        e.index = index;
        e.term = term;
        e.data = data.as_bytes().to_vec().into();
        e
    }

    #[test]
    fn log_round_trip_truncate_and_recover() {
        let dir = tmpdir("log");
        {
            let s = NodeStorage::open(&dir, true).unwrap();
            assert!(!s.is_initialized());
            let peers = BTreeMap::from([(1, PeerInfo { raft_addr: "a:1".into(), client_addr: "a:2".into() })]);
            s.bootstrap(&[1, 2, 3], &peers).unwrap();
            assert_eq!(s.first_index().unwrap(), INIT_INDEX + 1);
            assert_eq!(s.term(INIT_INDEX).unwrap(), INIT_INDEX);
            let ents: Vec<Entry> = (6..=10).map(|i| entry(i, 6, "x")).collect();
            let mut hs = HardState::default();
            hs.term = 6;
            hs.vote = 2;
            hs.commit = 8;
            s.append(&ents, Some(&hs)).unwrap();
            // A conflicting suffix from a new leader replaces entries 8..10.
            s.append(&[entry(8, 7, "y")], None).unwrap();
            assert_eq!(s.last_index().unwrap(), 8);
            assert_eq!(s.entries(6, 9, None, GetEntriesContext::empty(false)).unwrap().len(), 3);
            assert_eq!(s.entries(6, 9, Some(1), GetEntriesContext::empty(false)).unwrap().len(), 1);
            let mut ab = s.begin_apply();
            ab.set("k", "v1".into());
            assert_eq!(ab.get("k"), Some("v1".into()));
            ab.commit(7).unwrap();
        }
        let s = NodeStorage::open(&dir, true).unwrap();
        assert!(s.is_initialized());
        assert_eq!(s.last_index().unwrap(), 8);
        assert_eq!(s.term(8).unwrap(), 7);
        assert_eq!(s.applied(), 7);
        let st = s.initial_state().unwrap();
        assert_eq!(st.hard_state.vote, 2);
        assert_eq!(st.conf_state.voters, vec![1, 2, 3]);
        assert_eq!(s.get("k").unwrap(), Some("v1".into()));
        assert_eq!(s.peers()[&1].client_addr, "a:2");
        // Compaction keeps the term of the last compacted entry.
        s.compact(7).unwrap();
        assert_eq!(s.first_index().unwrap(), 8);
        assert_eq!(s.term(7).unwrap(), 6);
        assert!(s.entries(6, 8, None, GetEntriesContext::empty(false)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snapshot_round_trip() {
        let (d1, d2) = (tmpdir("snap1"), tmpdir("snap2"));
        let a = NodeStorage::open(&d1, false).unwrap();
        a.bootstrap(&[1], &BTreeMap::new()).unwrap();
        a.append(&[entry(6, 6, "")], None).unwrap();
        let mut ab = a.begin_apply();
        for i in 0..100 {
            ab.set(&format!("key{i}"), format!("val{i}"));
        }
        ab.put_peer(9, &PeerInfo { raft_addr: "h:9000".into(), client_addr: "h:8000".into() });
        ab.commit(6).unwrap();
        let snap = a.snapshot(0, 2).unwrap();
        assert_eq!(snap.get_metadata().index, 6);
        assert_eq!(snap.get_metadata().term, 6);
        let b = NodeStorage::open(&d2, false).unwrap();
        b.append(&[entry(1, 1, "junk")], None).unwrap();
        b.apply_snapshot(&snap).unwrap();
        assert_eq!(b.get("key42").unwrap(), Some("val42".into()));
        assert_eq!(b.peers()[&9].raft_addr, "h:9000");
        assert_eq!(b.first_index().unwrap(), 7);
        assert_eq!(b.last_index().unwrap(), 6);
        assert_eq!(b.conf_state().voters, vec![1]);
        drop(b);
        let b = NodeStorage::open(&d2, false).unwrap();
        assert_eq!(b.applied(), 6);
        assert_eq!(b.get_many(&["key1", "nope"]).unwrap(), vec![Some("val1".into()), None]);
        let _ = std::fs::remove_dir_all(&d1);
        let _ = std::fs::remove_dir_all(&d2);
    }
}

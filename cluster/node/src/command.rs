//! The replicated commands and their state-machine semantics.
//!
//! A client write becomes a [`Proposal`] (a unique id plus a [`Cmd`]) that is
//! JSON-encoded into a Raft log entry. Once the entry is committed, every node
//! applies it with [`apply`] against a [`KvView`] (the storage layer's write
//! batch with an overlay), producing the same [`CmdResult`] everywhere; the
//! proposing node hands that result to the waiting client.
//!
//! Semantics: keys and values are strings; a key never written reads as
//! `None`; `append` concatenates onto the current value (absent = empty
//! string); `cas` compares the whole current value (`None` = never written);
//! a `txn` applies its read/write/append micro-ops in order, atomically.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One micro-operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    Read(String),
    Write(String, String),
    Append(String, String),
}

/// A state-machine command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    Put { key: String, value: String },
    Append { key: String, value: String },
    Cas { key: String, from: Option<String>, to: String },
    Txn { ops: Vec<TxnOp> },
    /// A read through the log (`read=log`).
    Get { key: String },
}

impl Cmd {
    /// Whether the command can change state (used by `--unsafe-ack-before-commit`,
    /// which only acknowledges blind writes early).
    pub fn is_blind_write(&self) -> bool {
        match self {
            Cmd::Put { .. } | Cmd::Append { .. } => true,
            Cmd::Txn { ops } => ops.iter().all(|o| !matches!(o, TxnOp::Read(_))),
            _ => false,
        }
    }

    /// Whether the command only reads.
    pub fn is_read_only(&self) -> bool {
        match self {
            Cmd::Get { .. } => true,
            Cmd::Txn { ops } => ops.iter().all(|o| matches!(o, TxnOp::Read(_))),
            _ => false,
        }
    }
}

/// What a Raft log entry carries: the proposer's unique id and the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: u64,
    pub cmd: Cmd,
}

impl Proposal {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("proposal serializes")
    }

    pub fn decode(b: &[u8]) -> Option<Proposal> {
        serde_json::from_slice(b).ok()
    }
}

/// The result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdResult {
    Ok,
    Value(Option<String>),
    Cas { applied: bool, value: Option<String> },
    Txn(Vec<(TxnOp, Option<String>)>),
}

impl CmdResult {
    /// The JSON body returned to the client.
    pub fn to_json(&self) -> Value {
        match self {
            CmdResult::Ok => serde_json::json!({"ok": true}),
            CmdResult::Value(v) => serde_json::json!({ "value": v }),
            CmdResult::Cas { applied: true, .. } => serde_json::json!({"applied": true}),
            CmdResult::Cas { applied: false, value } => {
                serde_json::json!({"applied": false, "value": value})
            }
            CmdResult::Txn(ops) => {
                let ops: Vec<Value> = ops
                    .iter()
                    .map(|(op, read)| match op {
                        TxnOp::Read(k) => serde_json::json!(["read", k, read]),
                        TxnOp::Write(k, v) => serde_json::json!(["write", k, v]),
                        TxnOp::Append(k, v) => serde_json::json!(["append", k, v]),
                    })
                    .collect();
                serde_json::json!({ "ops": ops })
            }
        }
    }
}

/// Read/write access to the key-value state while applying.
pub trait KvView {
    fn get(&mut self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: String);
}

/// Applies a command to the state. Deterministic: every replica computes the
/// same result and the same writes.
pub fn apply(cmd: &Cmd, kv: &mut impl KvView) -> CmdResult {
    match cmd {
        Cmd::Put { key, value } => {
            kv.set(key, value.clone());
            CmdResult::Ok
        }
        Cmd::Append { key, value } => {
            let mut cur = kv.get(key).unwrap_or_default();
            cur.push_str(value);
            kv.set(key, cur);
            CmdResult::Ok
        }
        Cmd::Cas { key, from, to } => {
            let cur = kv.get(key);
            if &cur == from {
                kv.set(key, to.clone());
                CmdResult::Cas { applied: true, value: None }
            } else {
                CmdResult::Cas { applied: false, value: cur }
            }
        }
        Cmd::Get { key } => CmdResult::Value(kv.get(key)),
        Cmd::Txn { ops } => {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                match op {
                    TxnOp::Read(k) => {
                        let v = kv.get(k);
                        out.push((op.clone(), v));
                    }
                    TxnOp::Write(k, v) => {
                        kv.set(k, v.clone());
                        out.push((op.clone(), None));
                    }
                    TxnOp::Append(k, v) => {
                        let mut cur = kv.get(k).unwrap_or_default();
                        cur.push_str(v);
                        kv.set(k, cur);
                        out.push((op.clone(), None));
                    }
                }
            }
            CmdResult::Txn(out)
        }
    }
}

/// Parses the `ops` array of a `/txn` body: `[["read","k",null],["write","k","v"],...]`.
pub fn parse_txn_ops(v: &Value, max_key: usize) -> Result<Vec<TxnOp>, String> {
    let arr = v
        .get("ops")
        .and_then(Value::as_array)
        .ok_or("body must be {\"ops\": [[f, key, value], ...]}")?;
    if arr.is_empty() {
        return Err("ops must not be empty".into());
    }
    let mut ops = Vec::with_capacity(arr.len());
    for (i, op) in arr.iter().enumerate() {
        let t = op.as_array().filter(|t| t.len() == 3).ok_or(format!("op {i}: expected [f, key, value]"))?;
        let f = t[0].as_str().ok_or(format!("op {i}: f must be a string"))?;
        let k = t[1].as_str().ok_or(format!("op {i}: key must be a string"))?;
        if k.len() > max_key {
            return Err(format!("op {i}: key longer than {max_key} bytes"));
        }
        let val = || t[2].as_str().map(str::to_string).ok_or(format!("op {i}: value must be a string"));
        ops.push(match f {
            "read" | "r" => TxnOp::Read(k.to_string()),
            "write" | "w" => TxnOp::Write(k.to_string(), val()?),
            "append" => TxnOp::Append(k.to_string(), val()?),
            _ => return Err(format!("op {i}: unknown function {f:?}")),
        });
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl KvView for HashMap<String, String> {
        fn get(&mut self, key: &str) -> Option<String> {
            HashMap::get(self, key).cloned()
        }
        fn set(&mut self, key: &str, value: String) {
            self.insert(key.to_string(), value);
        }
    }

    #[test]
    fn semantics() {
        let mut kv = HashMap::new();
        assert_eq!(apply(&Cmd::Get { key: "a".into() }, &mut kv), CmdResult::Value(None));
        let cas = Cmd::Cas { key: "a".into(), from: None, to: "1".into() };
        assert_eq!(apply(&cas, &mut kv), CmdResult::Cas { applied: true, value: None });
        assert_eq!(apply(&cas, &mut kv), CmdResult::Cas { applied: false, value: Some("1".into()) });
        apply(&Cmd::Append { key: "a".into(), value: "2".into() }, &mut kv);
        let ops = parse_txn_ops(
            &serde_json::json!({"ops": [["read","a",null],["append","b","x"],["read","b",null]]}),
            1024,
        )
        .unwrap();
        let r = apply(&Cmd::Txn { ops }, &mut kv);
        assert_eq!(
            r.to_json(),
            serde_json::json!({"ops": [["read","a","12"],["append","b","x"],["read","b","x"]]})
        );
        let p = Proposal { id: 7, cmd: Cmd::Put { key: "k".into(), value: "v".into() } };
        assert_eq!(Proposal::decode(&p.encode()), Some(p));
        assert!(parse_txn_ops(&serde_json::json!({"ops": [["zap","a",null]]}), 1024).is_err());
    }
}

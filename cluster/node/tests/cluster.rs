//! End-to-end tests: real `raftkv` processes on localhost ports.
//!
//! Each test starts its own cluster of child processes of the built binary
//! (fast ticks: 20 ms, election timeout 200 ms), talks to it over HTTP with a
//! tiny blocking client, and kills the processes when done. Nodes are killed
//! with SIGKILL to simulate crashes and restarted on the same data directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_raftkv");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A blocking HTTP/1.1 request; returns the status and the JSON body.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no header end")?;
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("bad status")?;
    let v = serde_json::from_str(body).map_err(|e| format!("bad body {body:?}: {e}"))?;
    Ok((status, v))
}

struct Node {
    id: u64,
    client: String,
    raft: String,
    data: PathBuf,
    child: Option<Child>,
}

struct Cluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    peers: String,
    extra: Vec<String>,
}

impl Cluster {
    fn start(name: &str, n: u64, extra: &[&str]) -> Cluster {
        let dir = std::env::temp_dir().join(format!("raftkv-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let nodes: Vec<Node> = (1..=n)
            .map(|id| Node {
                id,
                client: format!("127.0.0.1:{}", free_port()),
                raft: format!("127.0.0.1:{}", free_port()),
                data: dir.join(format!("n{id}")),
                child: None,
            })
            .collect();
        let peers = nodes.iter().map(|n| format!("{}={}", n.id, n.raft)).collect::<Vec<_>>().join(",");
        let mut c = Cluster { dir, nodes, peers, extra: extra.iter().map(|s| s.to_string()).collect() };
        for id in 1..=n {
            c.spawn(id);
        }
        c
    }

    fn client_peers(&self) -> String {
        self.nodes.iter().map(|n| format!("{}={}", n.id, n.client)).collect::<Vec<_>>().join(",")
    }

    fn spawn(&mut self, id: u64) {
        let client_peers = self.client_peers();
        let peers = self.peers.clone();
        let extra = self.extra.clone();
        let log = self.dir.join(format!("n{id}.log"));
        let node = self.node_mut(id);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(BIN)
            .args(["--id", &id.to_string(), "--listen", &node.client, "--raft-listen", &node.raft])
            .args(["--peers", &peers, "--client-peers", &client_peers])
            .args(["--data", node.data.to_str().unwrap(), "--tick-ms", "20", "--election-ticks", "10"])
            .args(&extra)
            .env_remove("RAFTKV_UNSAFE")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn raftkv");
        node.child = Some(child);
    }

    fn node(&self, id: u64) -> &Node {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.id == id).unwrap()
    }

    fn addr(&self, id: u64) -> String {
        self.node(id).client.clone()
    }

    fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.node_mut(id).child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn running(&self) -> Vec<u64> {
        self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.id).collect()
    }

    fn status(&self, id: u64) -> Option<Value> {
        http(&self.addr(id), "GET", "/status", None).ok().map(|(_, v)| v)
    }

    /// Waits until exactly one running node says it is the leader and the
    /// others agree on it.
    fn wait_leader(&self) -> u64 {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            let st: Vec<Value> = self.running().iter().filter_map(|id| self.status(*id)).collect();
            let leaders: Vec<u64> =
                st.iter().filter(|s| s["role"] == "leader").map(|s| s["id"].as_u64().unwrap()).collect();
            if leaders.len() == 1 && st.len() == self.running().len() && st.iter().all(|s| s["leader"] == leaders[0]) {
                return leaders[0];
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no leader elected; logs in {}", self.dir.display());
    }

    fn put(&self, id: u64, key: &str, value: &str) -> (u16, Value) {
        http(&self.addr(id), "PUT", &format!("/kv/{key}"), Some(&json!({ "value": value }).to_string())).unwrap()
    }

    fn get(&self, id: u64, key: &str, mode: &str) -> (u16, Value) {
        http(&self.addr(id), "GET", &format!("/kv/{key}?read={mode}"), None).unwrap()
    }

    /// Polls a read until it returns `want` (for nodes catching up).
    fn eventually_reads(&self, id: u64, key: &str, mode: &str, want: &str) {
        let t0 = Instant::now();
        let mut last = None;
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok((200, v)) = http(&self.addr(id), "GET", &format!("/kv/{key}?read={mode}"), None) {
                if v["value"] == want {
                    return;
                }
                last = Some(v);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node {id} never read {key}={want} via {mode} (last {last:?}); logs in {}", self.dir.display());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.running() {
            self.kill(id);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn replication_read_paths_and_api_errors() {
    let c = Cluster::start("paths", 3, &[]);
    let leader = c.wait_leader();
    let followers: Vec<u64> = (1..=3).filter(|i| *i != leader).collect();
    assert_eq!(c.put(leader, "k", "v1"), (200, json!({"ok": true})));

    for mode in ["log", "index", "lease", "follower", "stale"] {
        assert_eq!(c.get(leader, "k", mode), (200, json!({"value": "v1"})), "leader {mode}");
    }
    for f in &followers {
        assert_eq!(c.get(*f, "k", "follower"), (200, json!({"value": "v1"})), "follower read on {f}");
    }
    assert_eq!(c.get(leader, "never", "index"), (200, json!({"value": null})));

    // cas, append, txn
    let a = c.addr(leader);
    let cas = |from: Value, to: &str| {
        http(&a, "POST", "/kv/k/cas", Some(&json!({"from": from, "to": to}).to_string())).unwrap()
    };
    assert_eq!(cas(json!("v1"), "v2"), (200, json!({"applied": true})));
    assert_eq!(cas(json!("v1"), "v3"), (200, json!({"applied": false, "value": "v2"})));
    assert_eq!(
        http(&a, "POST", "/kv/n/cas", Some(r#"{"from": null, "to": "x"}"#)).unwrap(),
        (200, json!({"applied": true}))
    );
    assert_eq!(http(&a, "POST", "/kv/l/append", Some(r#"{"value": "1 "}"#)).unwrap().0, 200);
    assert_eq!(http(&a, "POST", "/kv/l/append", Some(r#"{"value": "2 "}"#)).unwrap().0, 200);
    let (s, v) = http(
        &a,
        "POST",
        "/txn",
        Some(r#"{"ops": [["read","l",null],["append","l","3 "],["write","w","1"],["read","l",null],["read","zz",null]]}"#),
    )
    .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"ops": [["read","l","1 2 "],["append","l","3 "],["write","w","1"],["read","l","1 2 3 "],["read","zz",null]]})
    );
    for mode in ["lease", "index", "log"] {
        let (s, v) =
            http(&a, "POST", &format!("/txn?read={mode}"), Some(r#"{"ops": [["read","w",null],["read","k",null]]}"#))
                .unwrap();
        assert_eq!((s, v), (200, json!({"ops": [["read","w","1"],["read","k","v2"]]})), "read-only txn {mode}");
    }
    let f = followers[0];
    let (s, v) =
        http(&c.addr(f), "POST", "/txn?read=follower", Some(r#"{"ops": [["read","w",null]]}"#)).unwrap();
    assert_eq!((s, v), (200, json!({"ops": [["read","w","1"]]})));

    // Not the leader: 503 with a hint, for every leader-only request.
    let (s, v) = c.put(f, "k", "nope");
    assert_eq!(s, 503);
    assert_eq!(v["error"], "not_leader");
    assert_eq!(v["definite"], true);
    assert_eq!(v["leader"], leader);
    assert_eq!(v["leader_addr"], c.addr(leader));
    for mode in ["index", "lease", "log"] {
        let (s, v) = c.get(f, "k", mode);
        assert_eq!((s, v["error"].as_str()), (503, Some("not_leader")), "{mode} on a follower");
    }
    assert_eq!(http(&c.addr(f), "POST", "/admin/remove", Some(r#"{"id": 3}"#)).unwrap().0, 503);

    // Malformed requests: 400, definite.
    for (m, p, b) in [
        ("PUT", "/kv/k", "not json"),
        ("PUT", "/kv/k", r#"{"value": 1}"#),
        ("PUT", "/kv/k", r#"[1]"#),
        ("POST", "/kv/k/cas", r#"{"from": 5, "to": "x"}"#),
        ("POST", "/txn", r#"{"ops": [["frob","k",null]]}"#),
        ("POST", "/txn", r#"{"ops": []}"#),
        ("POST", "/admin/add", r#"{"id": "x"}"#),
        ("GET", "/kv/k?read=sideways", ""),
    ] {
        let (s, v) = http(&a, m, p, Some(b)).unwrap();
        assert_eq!((s, &v["error"], &v["definite"]), (400, &json!("bad_request"), &json!(true)), "{m} {p} {b}");
    }
    let long_key = "k".repeat(2000);
    assert_eq!(c.get(leader, &long_key, "index").0, 400);
    let big = json!({"value": "x".repeat(2 << 20)}).to_string();
    assert_eq!(http(&a, "PUT", "/kv/big", Some(&big)).unwrap().0, 413);
    // Encoded keys work.
    assert_eq!(c.put(leader, "a%2Fb%20c", "slash").0, 200);
    assert_eq!(c.get(leader, "a%2Fb%20c", "index").1, json!({"value": "slash"}));

    let st = c.status(leader).unwrap();
    assert_eq!(st["role"], "leader");
    assert_eq!(st["voters"], json!([1, 2, 3]));
    assert_eq!(st["members"], json!([1, 2, 3]));
    assert_eq!(st["read_mode"], "index");
    assert_eq!(st["unsafe"], json!([]));
    assert!(st["clock_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(st["applied"].as_u64().unwrap() >= st["snapshot_index"].as_u64().unwrap());
}

#[test]
fn leader_crash_failover_and_restart_from_disk() {
    let mut c = Cluster::start("failover", 3, &[]);
    let l1 = c.wait_leader();
    for i in 0..20 {
        assert_eq!(c.put(l1, &format!("k{i}"), &format!("v{i}")).0, 200);
    }
    c.kill(l1);
    let l2 = c.wait_leader();
    assert_ne!(l1, l2);
    assert_eq!(c.get(l2, "k19", "index").1, json!({"value": "v19"}));
    assert_eq!(c.put(l2, "after", "crash").0, 200);

    // The crashed node restarts from its data directory and catches up.
    c.spawn(l1);
    c.eventually_reads(l1, "after", "follower", "crash");
    c.eventually_reads(l1, "k7", "stale", "v7");

    // Kill everything and restart: all state recovers from disk.
    for id in 1..=3 {
        c.kill(id);
    }
    for id in 1..=3 {
        c.spawn(id);
    }
    let l3 = c.wait_leader();
    assert_eq!(c.get(l3, "after", "log").1, json!({"value": "crash"}));
    assert_eq!(c.get(l3, "k0", "lease").1, json!({"value": "v0"}));
}

#[test]
fn status_includes_every_acknowledged_write() {
    // Read-your-writes for /status: once a write is acknowledged, the leader's
    // commit and applied indexes already count it (callers compare indexes
    // across nodes right after a write, e.g. to prove a partitioned node
    // missed it).
    let c = Cluster::start("statusfresh", 3, &[]);
    let leader = c.wait_leader();
    let mut before = c.status(leader).unwrap();
    for i in 0..300 {
        assert_eq!(c.put(leader, "fresh", &i.to_string()).0, 200);
        let after = c.status(leader).unwrap();
        for field in ["commit", "applied"] {
            assert!(
                after[field].as_u64().unwrap() > before[field].as_u64().unwrap(),
                "write {i} was acknowledged but /{field} did not move: before {before}, after {after}"
            );
        }
        before = after;
    }
}

#[test]
fn lagging_follower_catches_up_by_snapshot() {
    let mut c = Cluster::start("snapshot", 3, &["--compact-threshold", "40", "--compact-keep", "5"]);
    let leader = c.wait_leader();
    let lagger = (1..=3).find(|i| *i != leader).unwrap();
    c.kill(lagger);
    for i in 0..150 {
        assert_eq!(c.put(leader, &format!("s{i}"), &format!("{i}")).0, 200);
    }
    let st = c.status(leader).unwrap();
    let snap = st["snapshot_index"].as_u64().unwrap();
    assert!(snap > 100, "leader compacted its log: {st}");
    c.spawn(lagger);
    c.eventually_reads(lagger, "s149", "follower", "149");
    assert_eq!(c.get(lagger, "s3", "stale").1, json!({"value": "3"}));
    let st = c.status(lagger).unwrap();
    assert!(st["snapshot_index"].as_u64().unwrap() > 100, "lagger installed a snapshot: {st}");
}

#[test]
fn membership_add_remove_and_transfer() {
    let mut c = Cluster::start("members", 3, &[]);
    let leader = c.wait_leader();
    assert_eq!(c.put(leader, "m", "1").0, 200);
    // Node 4 is not in --peers: it starts empty and waits to be added.
    let n4 = Node {
        id: 4,
        client: format!("127.0.0.1:{}", free_port()),
        raft: format!("127.0.0.1:{}", free_port()),
        data: c.dir.join("n4"),
        child: None,
    };
    let body = json!({"id": 4, "raft_addr": n4.raft, "client_addr": n4.client}).to_string();
    c.nodes.push(n4);
    c.spawn(4);
    let st = loop {
        if let Some(st) = c.status(4) {
            break st;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(st["voters"], json!([]));
    assert_eq!(http(&c.addr(leader), "POST", "/admin/add", Some(&body)).unwrap(), (200, json!({"ok": true})));
    c.eventually_reads(4, "m", "follower", "1");
    assert_eq!(c.status(leader).unwrap()["voters"], json!([1, 2, 3, 4]));

    // Transfer leadership to node 4.
    let (s, _) = http(&c.addr(leader), "POST", "/admin/transfer", Some(r#"{"to": 4}"#)).unwrap();
    assert_eq!(s, 200);
    let t0 = Instant::now();
    while c.status(4).unwrap()["role"] != "leader" {
        assert!(t0.elapsed() < Duration::from_secs(10), "transfer did not happen");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.wait_leader(), 4);
    assert_eq!(c.put(4, "m", "2").0, 200);

    // Remove node 4 again (through the new leader, itself): the rest elects a leader.
    let old = leader;
    let (s, v) = http(&c.addr(4), "POST", "/admin/remove", Some(r#"{"id": 4}"#)).unwrap();
    assert_eq!(s, 200, "{v}");
    c.kill(4);
    let l = c.wait_leader();
    assert!(l != 4);
    assert_eq!(c.status(l).unwrap()["voters"], json!([1, 2, 3]));
    c.eventually_reads(old, "m", "follower", "2");
}

#[test]
fn a_removed_leader_hands_over_and_rejoins_when_added() {
    // The removed leader keeps running (a membership nemesis adds it back
    // later): the remaining voters must still get a leader that takes writes.
    let c = Cluster::start("rmleader", 3, &[]);
    let old = c.wait_leader();
    assert_eq!(c.put(old, "r", "1").0, 200);
    let body = json!({ "id": old }).to_string();
    assert_eq!(http(&c.addr(old), "POST", "/admin/remove", Some(&body)).unwrap(), (200, json!({"ok": true})));
    let rest: Vec<u64> = (1..=3).filter(|i| *i != old).collect();
    let t0 = Instant::now();
    let new = loop {
        if let Some(l) = rest.iter().find(|i| c.status(**i).is_some_and(|s| s["role"] == "leader")) {
            break *l;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no leader among {rest:?} after leader {old} removed itself: {:?}; logs in {}",
            c.status(old),
            c.dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(c.status(new).unwrap()["voters"], json!(rest));
    assert_eq!(c.put(new, "r", "2").0, 200);
    let t0 = Instant::now();
    while c.status(old).unwrap()["role"] == "leader" {
        assert!(t0.elapsed() < Duration::from_secs(10), "the removed leader never stepped down");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.put(old, "r", "stray").0, 503, "the removed node takes no writes");
    let me = c.node(old);
    let add = json!({"id": old, "raft_addr": me.raft, "client_addr": me.client}).to_string();
    assert_eq!(http(&c.addr(new), "POST", "/admin/add", Some(&add)).unwrap(), (200, json!({"ok": true})));
    c.eventually_reads(old, "r", "follower", "2");
    assert_eq!(c.status(c.wait_leader()).unwrap()["voters"], json!([1, 2, 3]));
}

#[test]
fn unsafe_flags_are_reported_and_stale_mode_reads_locally() {
    let c = Cluster::start(
        "unsafe",
        1,
        &["--unsafe", "stale-reads,ack-before-commit", "--unsafe-no-fsync", "--read-mode", "lease"],
    );
    let l = c.wait_leader();
    let st = c.status(l).unwrap();
    assert_eq!(st["unsafe"], json!(["stale-reads", "ack-before-commit", "no-fsync"]));
    assert_eq!(st["read_mode"], "lease");
    assert_eq!(st["sync"], false);
    assert_eq!(c.put(l, "u", "1").0, 200);
    c.eventually_reads(l, "u", "stale", "1");
    c.eventually_reads(l, "u", "index", "1");
}

#[test]
fn health_subcommand_and_clean_sigterm() {
    let mut c = Cluster::start("health", 1, &[]);
    c.wait_leader();
    let ok = Command::new(BIN).args(["health", "--addr", &c.addr(1)]).status().unwrap();
    assert!(ok.success());
    let dead = format!("127.0.0.1:{}", free_port());
    let bad = Command::new(BIN).args(["health", "--addr", &dead]).stderr(Stdio::null()).status().unwrap();
    assert_eq!(bad.code(), Some(1));
    // SIGTERM: exits 0, quickly.
    let mut child = c.node_mut(1).child.take().unwrap();
    let t0 = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

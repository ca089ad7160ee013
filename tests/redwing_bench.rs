//! redwing-bench against real servers: its per-command counts equal the
//! server's INFO commandstats, --requests is exact, --rate holds its rate,
//! and --cluster spreads keys over a 3-node Redis cluster without errors.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

fn bench(port: u16, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_redwing-bench"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "--json",
            "-",
        ])
        .args(args)
        .output()
        .expect("redwing-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redwing-bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

/// Command name → requests, from a redwing-bench report.
fn counts(report: &serde_json::Value) -> HashMap<String, u64> {
    report["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_lowercase(),
                c["requests"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// cmdstat_<name> calls from INFO commandstats.
fn commandstats(s: &Server) -> HashMap<String, u64> {
    s.cli(&["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

fn matches_commandstats(s: &Server) {
    assert_eq!(s.cli(&["CONFIG", "RESETSTAT"]).trim(), "OK");
    let r = bench(
        s.port,
        &[
            "--threads",
            "2",
            "-c",
            "4",
            "-P",
            "4",
            "-n",
            "3001",
            "--ratio",
            "1:3",
            "-r",
            "500",
        ],
    );
    assert_eq!(r["total"]["requests"], 3001, "--requests is exact");
    assert_eq!(r["total"]["errors"], 0);
    let mine = counts(&r);
    let server = commandstats(s);
    assert_eq!(mine["set"], server["set"], "SET: {mine:?} vs {server:?}");
    assert_eq!(mine["get"], server["get"], "GET: {mine:?} vs {server:?}");
    assert!(mine["get"] > 2 * mine["set"], "ratio 1:3 {mine:?}");

    // Templates, weights and RESP3.
    assert_eq!(s.cli(&["CONFIG", "RESETSTAT"]).trim(), "OK");
    let r = bench(
        s.port,
        &[
            "-3",
            "--threads",
            "1",
            "-c",
            "3",
            "-n",
            "900",
            "--key-prefix",
            "h:",
            "--distribution",
            "zipfian",
            "--command",
            "HSET __key__ f __data__",
            "--command",
            "2:HGET __key__ f",
        ],
    );
    assert_eq!(r["total"]["requests"], 900);
    assert_eq!(r["total"]["errors"], 0);
    let mine = counts(&r);
    let server = commandstats(s);
    assert_eq!(mine["hset"], server["hset"]);
    assert_eq!(mine["hget"], server["hget"]);
    assert_eq!(mine["hset"], 300);
}

#[test]
fn counts_match_redwing_commandstats() {
    matches_commandstats(&Server::start(&[]));
}

#[test]
fn counts_match_redis_commandstats() {
    matches_commandstats(&Server::redis(&[]));
}

#[test]
fn rate_is_held_within_five_percent() {
    let s = Server::redis(&[]);
    let r = bench(
        s.port,
        &[
            "--threads",
            "2",
            "-c",
            "4",
            "--rate",
            "2000",
            "--duration",
            "5s",
        ],
    );
    let rate = r["total"]["ops_per_sec"].as_f64().unwrap();
    assert!(
        (rate - 2000.0).abs() <= 100.0,
        "achieved {rate} ops/s for --rate 2000"
    );
    let n = r["total"]["requests"].as_u64().unwrap();
    // 5 s, so that draining the last replies on a loaded machine stays
    // well inside the 5% (which allows 250 ms).
    assert!((9500..=10000).contains(&n), "{n} requests in 5 s at 2000/s");
}

#[test]
fn cluster_mode_spreads_keys_over_the_nodes() {
    let nodes = start_cluster();

    let r = bench(
        nodes[1].port,
        &[
            "--cluster",
            "--threads",
            "2",
            "-c",
            "3",
            "-P",
            "8",
            "-n",
            "3000",
            "--ratio",
            "1:1",
        ],
    );
    assert_eq!(r["total"]["errors"], 0);
    assert_eq!(r["total"]["requests"], 3000);
    let mut sets = 0;
    for n in &nodes {
        let stats = commandstats(n);
        let s = stats.get("set").copied().unwrap_or(0);
        assert!(s > 0, "no SET reached node {}", n.port);
        assert!(
            n.cli(&["DBSIZE"]).trim().parse::<u64>().unwrap() > 0,
            "no key on node {}",
            n.port
        );
        sets += s;
    }
    // Every SET ran exactly once, on the node that owns its key.
    assert_eq!(sets, counts(&r)["set"]);
}

/// The slot ranges a node serves, from its CLUSTER NODES "myself" line.
fn owns(n: &Server, slot: usize) -> bool {
    let nodes = n.cli(&["CLUSTER", "NODES"]);
    let me = nodes.lines().find(|l| l.contains("myself")).unwrap();
    me.split_whitespace().skip(8).any(|r| {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        match (a.parse::<usize>(), b.parse::<usize>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&slot),
            _ => false,
        }
    })
}

fn start_cluster() -> Vec<Server> {
    let nodes: Vec<Server> = (0..3)
        .map(|_| {
            Server::redis(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-yes"])
        .output()
        .expect("redis-cli --cluster create");
    assert!(
        out.status.success(),
        "cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !nodes
        .iter()
        .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    {
        assert!(Instant::now() < deadline, "cluster never became ok");
        std::thread::sleep(Duration::from_millis(100));
    }
    nodes
}

#[test]
fn cluster_mode_follows_ask_and_moved_during_a_slot_migration() {
    let nodes = start_cluster();
    // The slot of one of the benchmark's keys, and who has it.
    let slot = redwing::storage::slot::key_slot(b"key:000000000007");
    let src = nodes.iter().position(|n| owns(n, slot)).unwrap();
    let dst = (src + 1) % 3;
    let id = |i: usize| nodes[i].cli(&["CLUSTER", "MYID"]).trim().to_string();
    let (src_id, dst_id) = (id(src), id(dst));

    let child = Command::new(env!("CARGO_BIN_EXE_redwing-bench"))
        .args([
            "-p",
            &nodes[src].port.to_string(),
            "--cluster",
            "-q",
            "--json",
            "-",
        ])
        .args(["--threads", "1", "-c", "4", "-r", "50", "--ratio", "1:1"])
        .args(["--rate", "1000", "--duration", "3s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let slot = slot.to_string();
    let setslot = |i: usize, how: &[&str]| {
        let mut a = vec!["CLUSTER", "SETSLOT", slot.as_str()];
        a.extend_from_slice(how);
        assert_eq!(nodes[i].cli(&a).trim(), "OK", "SETSLOT {how:?}");
    };
    setslot(dst, &["IMPORTING", &src_id]);
    setslot(src, &["MIGRATING", &dst_id]);
    std::thread::sleep(Duration::from_millis(500));
    let keys = nodes[src].cli(&["CLUSTER", "GETKEYSINSLOT", &slot, "1000"]);
    let port = nodes[dst].port.to_string();
    for k in keys.split_whitespace() {
        nodes[src].cli(&["MIGRATE", "127.0.0.1", &port, k, "0", "5000"]);
    }
    // As redis-cli --cluster reshard does: the new owner first, then the old.
    for i in [dst, src, 3 - src - dst] {
        setslot(i, &["NODE", &dst_id]);
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["total"]["errors"],
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        r["redirects"].as_u64().unwrap() > 0,
        "no redirect seen: {r}"
    );
    assert!(
        nodes[dst]
            .cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot])
            .trim()
            != "0",
        "the slot's keys did not reach the new owner"
    );
}

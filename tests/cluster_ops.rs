//! Operating a cluster (issue 16): `redis-cli --cluster reshard`,
//! `rebalance`, `add-node` and `del-node` while a cluster-aware client
//! (redis-py `RedisCluster`) writes, with no key lost or duplicated; a
//! node's slots and keys stay spread over its cores after a reshard; the
//! loss of a master and its replica is CLUSTERDOWN as in Redis;
//! `redis-benchmark --cluster` and `redwing-bench --cluster` run against
//! Redwing nodes; slots move from a Redis node to a Redwing node and back
//! with their keys.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cluster::*;
use common::*;

/// redis-py `RedisCluster` writing `load:<i>` = i in order until the stop
/// file appears (a failed write is retried, so the acknowledged keys have
/// no gaps), then reading every acknowledged key back. Prints
/// "acked errors missing", then for each missing key its number and the
/// CLOCK_MONOTONIC second its write was acknowledged.
const WRITER: &str = r#"
import os, sys, time
from redis.cluster import RedisCluster
port, stop = int(sys.argv[1]), sys.argv[2]
rc = RedisCluster(host="127.0.0.1", port=port, socket_timeout=5,
                  cluster_error_retry_attempts=10)
i = errors = 0
acked_at = []
while not os.path.exists(stop):
    try:
        rc.set(f"load:{i}", i)
        acked_at.append(time.monotonic())
        i += 1
    except Exception as e:
        errors += 1
        print("write error:", repr(e), file=sys.stderr)
        time.sleep(0.05)
missing = [j for j in range(i) if rc.get(f"load:{j}") != str(j).encode()]
print(i, errors, len(missing))
for j in missing:
    print(j, acked_at[j])
"#;

struct Writer {
    child: Child,
    stop: std::path::PathBuf,
}

impl Writer {
    fn start(entry: &Server, dir: &Path) -> Writer {
        let stop = dir.join("stop-writer");
        let child = Command::new("timeout")
            .args(["120", "python3", "-c", WRITER])
            .arg(entry.port.to_string())
            .arg(&stop)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        Writer { child, stop }
    }

    /// Stops the writer; (acknowledged writes, errors, the keys missing
    /// after: each one's number and the CLOCK_MONOTONIC instant at which
    /// its write was acknowledged).
    fn finish_timed(self) -> (u64, u64, Vec<(u64, f64)>) {
        std::fs::write(&self.stop, b"").unwrap();
        let out = self.child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut lines = stdout.lines();
        let f: Vec<u64> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let missing: Vec<(u64, f64)> = lines
            .filter_map(|l| {
                let (j, t) = l.trim().split_once(' ')?;
                Some((j.parse().ok()?, t.parse().ok()?))
            })
            .collect();
        assert!(
            f.len() == 3 && missing.len() as u64 == f[2],
            "writer: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (f[0], f[1], missing)
    }
}

/// For a key the writer lost: its slot, and what each node says of that
/// slot (its owner in CLUSTER NODES, and how many of its keys the node
/// holds), so a failure shows where the key went.
fn whereabouts(nodes: &[&Server], key: &str) -> String {
    let slot = int(&mut nodes[0].conn(), &["CLUSTER", "KEYSLOT", key]);
    let mut out = format!("{key} (slot {slot}):");
    for s in nodes {
        let held = int(
            &mut s.conn(),
            &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()],
        );
        out += &format!(" node :{} holds {held} keys of the slot;", s.port);
    }
    out
}

/// CLOCK_MONOTONIC in seconds, the clock Python's `time.monotonic` reads.
fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Keys on all masters: each key lives on exactly one, so the sum is the
/// number of distinct keys.
fn total_keys(masters: &[&Server]) -> u64 {
    masters
        .iter()
        .map(|s| int(&mut s.conn(), &["DBSIZE"]) as u64)
        .sum()
}

/// A node's slots and keys are within `slack` of an even split over its cores.
fn assert_spread(s: &Server, slack: f64) {
    let cores = per_core(s);
    let slots: usize = cores.iter().map(|c| c.0).sum();
    let keys: usize = cores.iter().map(|c| c.1).sum();
    for &(sl, k) in &cores {
        let even_slots = slots as f64 / cores.len() as f64;
        let even_keys = keys as f64 / cores.len() as f64;
        assert!(
            (sl as f64 - even_slots).abs() / even_slots < 0.05,
            "slots per core {cores:?}"
        );
        assert!(
            (k as f64 - even_keys).abs() / even_keys < slack,
            "keys per core {cores:?}"
        );
    }
}

fn check_ok(entry: &Server) {
    let check = cluster_cli(&["check".into(), addr(entry)]);
    assert!(
        check.contains("[OK] All nodes agree about slots configuration."),
        "{check}"
    );
    assert!(check.contains("[OK] All 16384 slots covered."), "{check}");
    assert!(!check.contains("[ERR]"), "{check}");
    assert!(!check.contains("[WARNING]"), "{check}");
}

#[test]
fn reshard_and_rebalance_under_load_lose_no_keys() {
    let nodes: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    create(&all);
    let writer = Writer::start(all[0], nodes[0].dir.path());
    std::thread::sleep(Duration::from_millis(1000));

    // 1000 slots from the first master to the second, under writes.
    let started = std::time::Instant::now();
    let reshard_at = monotonic();
    let out = cluster_cli(&[
        "reshard".into(),
        addr(all[0]),
        "--cluster-from".into(),
        myid(all[0]),
        "--cluster-to".into(),
        myid(all[1]),
        "--cluster-slots".into(),
        "1000".into(),
        "--cluster-yes".into(),
    ]);
    assert!(!out.contains("ERR"), "{out}");
    eprintln!(
        "reshard of 1000 slots under writes: {:?}",
        started.elapsed()
    );
    wait_agree(&all);
    check_ok(all[0]);
    // The receiving node spreads its new slots (and their keys) over its
    // cores, and the giving node's cores stay even: the range it gave away
    // came from both.
    assert_spread(all[1], 0.15);
    assert_spread(all[0], 0.15);

    // Rebalance moves them back to an even share.
    let rebalance_at = monotonic();
    let out = cluster_cli(&[
        "rebalance".into(),
        addr(all[0]),
        "--cluster-threshold".into(),
        "1".into(),
    ]);
    assert!(out.contains("Moving"), "{out}");
    assert!(!out.contains("ERR"), "{out}");
    wait_agree(&all);
    check_ok(all[0]);
    for s in &all {
        let mine = text(s, &["CLUSTER", "NODES"])
            .lines()
            .find(|l| l.contains("myself"))
            .map(|l| {
                l.split(' ')
                    .skip(8)
                    .map(|r| match r.split_once('-') {
                        Some((a, b)) => b.parse::<i64>().unwrap() - a.parse::<i64>().unwrap() + 1,
                        None => 1,
                    })
                    .sum::<i64>()
            })
            .unwrap();
        assert!(
            (5400..=5520).contains(&mine),
            "{mine} slots after rebalance"
        );
        assert_spread(s, 0.15);
    }

    let (acked, errors, missing) = writer.finish_timed();
    eprintln!("writer: {acked} acknowledged, {errors} errors");
    assert!(acked > 500, "only {acked} writes in the test");
    let lost: Vec<String> = missing
        .iter()
        .map(|&(j, t)| {
            let at = format!(
                "acknowledged {:.3} s after the reshard began, {:.3} s after the rebalance began",
                t - reshard_at,
                t - rebalance_at
            );
            format!("{} {at}", whereabouts(&all, &format!("load:{j}")))
        })
        .collect();
    assert!(lost.is_empty(), "acknowledged keys lost: {lost:#?}");
    let keys = total_keys(&all);
    // The write cut off by the stop may have landed unacknowledged.
    assert!(
        keys == acked || keys == acked + 1,
        "{keys} keys for {acked} acknowledged writes (duplicated or lost keys)"
    );
}

#[test]
fn add_node_and_del_node() {
    let nodes: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    create(&all);
    for i in 0..300 {
        assert_eq!(
            cli_c(all[0], &["SET", &format!("k{i}"), &i.to_string()]),
            "OK"
        );
    }
    // A fourth master joins empty, then takes its share.
    let new = node(true, &[]);
    let out = cluster_cli(&["add-node".into(), addr(&new), addr(all[0])]);
    assert!(out.contains("[OK] New node added correctly."), "{out}");
    let with_new = [all[0], all[1], all[2], &new];
    wait_agree(&with_new);
    // As a Redis node, it refuses RESTORE-ASKING until its state is ok
    // (a rejoin delay of cluster-node-timeout after it was alone).
    wait_for("the new node's cluster_state:ok", TIMEOUT, || {
        text(&new, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
    });
    let out = cluster_cli(&[
        "reshard".into(),
        addr(all[0]),
        "--cluster-from".into(),
        "all".into(),
        "--cluster-to".into(),
        myid(&new),
        "--cluster-slots".into(),
        "300".into(),
        "--cluster-yes".into(),
    ]);
    assert!(!out.contains("ERR"), "{out}");
    wait_agree(&with_new);
    check_ok(&new);
    assert!(int(&mut new.conn(), &["DBSIZE"]) > 0);
    assert_spread(&new, 0.5);
    // A replica joins the new master.
    let replica = node(true, &[]);
    add_replica(&replica, &new);
    assert_eq!(role(&replica), "slave");

    // The new master gives its slots away and leaves; so does its replica.
    let out = cluster_cli(&[
        "rebalance".into(),
        addr(all[0]),
        "--cluster-weight".into(),
        format!("{}=0", myid(&new)),
    ]);
    assert!(out.contains("Moving"), "{out}");
    assert_eq!(int(&mut new.conn(), &["DBSIZE"]), 0);
    for gone in [&replica, &new] {
        let id = myid(gone);
        let out = cluster_cli(&["del-node".into(), addr(all[0]), id.clone()]);
        assert!(
            out.contains("CLUSTER RESET SOFT to the deleted node"),
            "{out}"
        );
        for s in &all {
            wait_for("the node forgotten", TIMEOUT, || {
                !text(s, &["CLUSTER", "NODES"]).contains(&id)
            });
        }
        // Reset, it knows only itself, as a master.
        let alone = text(gone, &["CLUSTER", "NODES"]);
        assert_eq!(alone.lines().count(), 1, "{alone}");
        assert!(alone.contains("myself,master"), "{alone}");
    }
    wait_agree(&all);
    check_ok(all[0]);
    for i in 0..300 {
        assert_eq!(cli_c(all[1], &["GET", &format!("k{i}")]), i.to_string());
    }
    assert_eq!(total_keys(&all), 300);
}

#[test]
fn a_master_and_its_replica_down_is_clusterdown() {
    let nodes: Vec<Option<Server>> = (0..4).map(|_| Some(node(true, &[]))).collect();
    let mut nodes = nodes;
    {
        let all: Vec<&Server> = nodes.iter().take(3).flatten().collect();
        create(&all);
        add_replica(nodes[3].as_ref().unwrap(), all[0]);
    }
    let key_of_first = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let slot = redwing::storage::key_slot(k.as_bytes());
            slot < 5461
        })
        .unwrap();
    drop(nodes[3].take());
    drop(nodes[0].take());
    let alive: Vec<&Server> = nodes.iter().flatten().collect();
    for s in &alive {
        wait_for("cluster_state:fail", Duration::from_secs(10), || {
            text(s, &["CLUSTER", "INFO"]).contains("cluster_state:fail")
        });
    }
    // As Redis: every key, also of the slots still served, is refused.
    let served = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| (5461..10923).contains(&redwing::storage::key_slot(k.as_bytes())))
        .unwrap();
    let mut c = RawClient::new(alive[0]);
    for k in [key_of_first.as_str(), served.as_str()] {
        assert_eq!(
            c.call(&["GET", k]),
            "-CLUSTERDOWN The cluster is down\r\n",
            "GET {k}"
        );
    }
    // With cluster-allow-reads-when-down, reads of served slots go on and
    // writes get Redis's read-only error.
    assert_eq!(
        c.call(&["CONFIG", "SET", "cluster-allow-reads-when-down", "yes"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["GET", &served]), "$-1\r\n");
    assert_eq!(
        c.call(&["SET", &served, "1"]),
        "-CLUSTERDOWN The cluster is down and only accepts read commands\r\n"
    );
}

#[test]
fn benchmark_clients_run_against_a_redwing_cluster() {
    let nodes: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    create(&all);
    let out = Command::new("timeout")
        .args(["60", "redis-benchmark", "--cluster", "-p"])
        .arg(all[0].port.to_string())
        .args(["-t", "set,get", "-n", "20000", "-r", "100000", "-q"])
        .output()
        .unwrap();
    let text_out = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text_out}");
    for t in ["SET:", "GET:"] {
        assert!(
            text_out
                .lines()
                .any(|l| l.contains(t) && l.contains("requests per second")),
            "{text_out}"
        );
    }
    // Every master got its share of the SETs.
    for s in &all {
        assert!(int(&mut s.conn(), &["DBSIZE"]) > 0, "node {}", s.port);
    }

    let out = Command::new("timeout")
        .arg("60")
        .arg(env!("CARGO_BIN_EXE_redwing-bench"))
        .args(["-h", "127.0.0.1", "-p"])
        .arg(all[1].port.to_string())
        .args([
            "-q",
            "--json",
            "-",
            "--cluster",
            "-c",
            "3",
            "-P",
            "8",
            "-n",
            "3000",
            "--ratio",
            "1:1",
        ])
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(r["total"]["errors"], 0, "{r}");
    assert_eq!(r["total"]["requests"], 3000, "{r}");
}

#[test]
fn slots_move_between_redis_and_redwing_nodes_with_their_keys() {
    let redis_node = node(false, &[]);
    let a = node(true, &[]);
    let b = node(true, &[]);
    let all = [&redis_node, &a, &b];
    create(&all);
    // Keys of the Redis node's slots (it got 0-5460 as the first node).
    let keys: Vec<String> = (0..)
        .map(|i| format!("key:{i}"))
        .filter(|k| redwing::storage::key_slot(k.as_bytes()) < 200)
        .take(200)
        .collect();
    let mut c = redis_node.conn();
    for (i, k) in keys.iter().enumerate() {
        match i % 4 {
            0 => cmd(&["SET", k, &format!("v{i}")]).query::<()>(&mut c),
            1 => cmd(&["RPUSH", k, "a", "b", &i.to_string()]).query::<()>(&mut c),
            2 => cmd(&["HSET", k, "f", &i.to_string()]).query::<()>(&mut c),
            _ => cmd(&["ZADD", k, &i.to_string(), "m"]).query::<()>(&mut c),
        }
        .unwrap();
    }
    let dump = |s: &Server| -> Vec<String> {
        keys.iter()
            .map(|k| {
                let t = cli_c(s, &["TYPE", k]);
                let v = match t.as_str() {
                    "string" => cli_c(s, &["GET", k]),
                    "list" => cli_c(s, &["LRANGE", k, "0", "-1"]),
                    "hash" => cli_c(s, &["HGETALL", k]),
                    "zset" => cli_c(s, &["ZRANGE", k, "0", "-1", "WITHSCORES"]),
                    other => other.to_string(),
                };
                format!("{k} {t} {v}")
            })
            .collect()
    };
    let before = dump(&a);
    // Slots 0-199 from Redis to Redwing, then back.
    for (from, to) in [(&redis_node, &a), (&a, &redis_node)] {
        let out = cluster_cli(&[
            "reshard".into(),
            addr(from),
            "--cluster-from".into(),
            myid(from),
            "--cluster-to".into(),
            myid(to),
            "--cluster-slots".into(),
            "200".into(),
            "--cluster-yes".into(),
        ]);
        assert!(!out.contains("ERR"), "{out}");
        wait_agree(&all);
        check_ok(&b);
        assert_eq!(
            int(&mut to.conn(), &["CLUSTER", "COUNTKEYSINSLOT", "0"])
                + int(&mut from.conn(), &["CLUSTER", "COUNTKEYSINSLOT", "0"]),
            int(&mut to.conn(), &["CLUSTER", "COUNTKEYSINSLOT", "0"]),
            "slot 0's keys all moved"
        );
        assert_eq!(dump(&b), before, "keys intact after moving to {}", to.port);
    }
}

/// The next message a RawClient subscriber receives, as its raw reply.
fn next_message(c: &mut RawClient) -> String {
    String::from_utf8_lossy(&c.next_reply().expect("a message")).into_owned()
}

#[test]
fn publish_reaches_every_node_and_spublish_its_shard() {
    // Two Redwing masters and a Redis one; a Redwing replica of the first.
    let a = node(true, &[]);
    let b = node(true, &[]);
    let r = node(false, &[]);
    create(&[&a, &b, &r]);
    let ra = node(true, &[]);
    add_replica(&ra, &a);
    wait_agree(&[&a, &b, &r, &ra]);

    // PUBLISH on any node reaches subscribers on all, Redis's included.
    let mut subs: Vec<RawClient> = [&b, &r, &ra]
        .iter()
        .map(|s| {
            let mut c = RawClient::new(s);
            c.send(&["SUBSCRIBE", "news"]);
            next_message(&mut c);
            c
        })
        .collect();
    assert_eq!(int(&mut a.conn(), &["PUBLISH", "news", "from-redwing"]), 0);
    for c in &mut subs {
        assert_eq!(
            next_message(c),
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$12\r\nfrom-redwing\r\n"
        );
    }
    let mut on_a = RawClient::new(&a);
    on_a.send(&["SUBSCRIBE", "news"]);
    next_message(&mut on_a);
    assert_eq!(int(&mut r.conn(), &["PUBLISH", "news", "from-redis"]), 1);
    assert_eq!(
        next_message(&mut on_a),
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$10\r\nfrom-redis\r\n"
    );

    // SPUBLISH runs on the channel's master and reaches its replica.
    let channel = (0..)
        .map(|i| format!("ch{i}"))
        .find(|c| redwing::storage::key_slot(c.as_bytes()) < 5461)
        .unwrap();
    let mut on_replica = RawClient::new(&ra);
    on_replica.send(&["READONLY"]);
    next_message(&mut on_replica);
    on_replica.send(&["SSUBSCRIBE", &channel]);
    next_message(&mut on_replica);
    let moved = RawClient::new(&b).call(&["SPUBLISH", &channel, "x"]);
    assert!(moved.starts_with("-MOVED "), "{moved}");
    assert_eq!(int(&mut a.conn(), &["SPUBLISH", &channel, "sharded"]), 0);
    assert_eq!(
        next_message(&mut on_replica),
        format!(
            "*3\r\n$8\r\nsmessage\r\n${}\r\n{channel}\r\n$7\r\nsharded\r\n",
            channel.len()
        )
    );
}

#[test]
fn a_master_deletes_the_keys_of_slots_it_lost() {
    let a = node(true, &[]);
    let b = node(true, &[]);
    let c = node(true, &[]);
    create(&[&a, &b, &c]);
    // Keys of one slot of the first master.
    let tag = (0..)
        .map(|i| format!("t{i}"))
        .find(|t| redwing::storage::key_slot(t.as_bytes()) < 5461)
        .unwrap();
    let slot = redwing::storage::key_slot(tag.as_bytes());
    let in_slot: Vec<String> = (0..3).map(|i| format!("{{{tag}}}{i}")).collect();
    for k in &in_slot {
        assert_eq!(cli_c(&a, &["SET", k, "1"]), "OK");
    }
    assert_eq!(cli_c(&a, &["SET", "other", "1"]), "OK");
    let before = int(&mut a.conn(), &["DBSIZE"]);
    // B takes the slot without a migration and wins it with a new epoch.
    let mut cb = b.conn();
    let _: () = cmd(&["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &myid(&b)])
        .query(&mut cb)
        .unwrap();
    let bumped: String = cmd(&["CLUSTER", "BUMPEPOCH"]).query(&mut cb).unwrap();
    assert!(bumped.starts_with("BUMPED"), "{bumped}");
    wait_agree(&[&a, &b, &c]);
    wait_for("the lost slot's keys deleted", TIMEOUT, || {
        int(
            &mut a.conn(),
            &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()],
        ) == 0
    });
    assert_eq!(
        int(&mut a.conn(), &["DBSIZE"]),
        before - in_slot.len() as i64
    );
    assert_eq!(
        RawClient::new(&a).call(&["GET", &in_slot[0]]),
        format!("-MOVED {slot} 127.0.0.1:{}\r\n", b.port)
    );
}

#[test]
fn a_replica_migrates_to_an_orphaned_master() {
    let masters: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let m: Vec<&Server> = masters.iter().collect();
    create(&m);
    // The first master gets two replicas, the second one.
    let a1 = node(true, &[]);
    let a2 = node(true, &[]);
    add_replica(&a1, m[0]);
    add_replica(&a2, m[0]);
    let mut b1 = Some(node(true, &[]));
    add_replica(b1.as_ref().unwrap(), m[1]);
    wait_agree(&[m[0], m[1], m[2], &a1, &a2, b1.as_ref().unwrap()]);
    // The second master loses its replica: after it is FAIL and 5 s more,
    // the replica of the first master with the smaller id moves over
    // (cluster-migration-barrier 1: the first master keeps one).
    drop(b1.take());
    let (id1, id2) = (myid(&a1), myid(&a2));
    let (mover, stayer) = if id1 < id2 { (&a1, &a2) } else { (&a2, &a1) };
    let b = myid(m[1]);
    let started = std::time::Instant::now();
    wait_for("a replica to migrate", Duration::from_secs(20), || {
        text(mover, &["CLUSTER", "NODES"])
            .lines()
            .any(|l| l.contains("myself,slave") && l.contains(&b))
    });
    eprintln!("migrated after {:?}", started.elapsed());
    wait_for("its link up", TIMEOUT, || {
        text(mover, &["INFO", "replication"]).contains(&format!("master_port:{}", m[1].port))
            && text(mover, &["INFO", "replication"]).contains("master_link_status:up")
    });
    // The other stays with the first master.
    let a = myid(m[0]);
    assert!(text(stayer, &["CLUSTER", "NODES"])
        .lines()
        .any(|l| l.contains("myself,slave") && l.contains(&a)));
    // Every node sees the second master with a replica again.
    for s in [m[0], m[1], m[2], stayer] {
        wait_for("the new replica seen", TIMEOUT, || {
            text(s, &["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.starts_with(&myid(mover)) && l.contains(&b))
        });
    }
}

#[test]
fn a_replica_with_old_data_does_not_fail_over() {
    let mut nodes: Vec<Option<Server>> = (0..3).map(|_| Some(node(true, &[]))).collect();
    let replica = node(
        true,
        &[
            "--cluster-replica-validity-factor",
            "1",
            "--repl-ping-replica-period",
            "1",
        ],
    );
    {
        let m: Vec<&Server> = nodes.iter().flatten().collect();
        create(&m);
        add_replica(&replica, m[0]);
        // The replica's link breaks and stays down: the master now wants
        // a password the replica does not have.
        let mut c = RawClient::new(m[0]);
        assert_eq!(
            c.call(&["CONFIG", "SET", "requirepass", "secret"]),
            "+OK\r\n"
        );
        c.call(&["AUTH", "secret"]);
        c.call(&["CLIENT", "KILL", "TYPE", "replica"]);
    }
    wait_for("the link down", TIMEOUT, || {
        text(&replica, &["INFO", "replication"]).contains("master_link_status:down")
    });
    // Older than node timeout + ping period + factor x node timeout (3 s).
    std::thread::sleep(Duration::from_millis(3500));
    drop(nodes[0].take());
    let others: Vec<&Server> = nodes.iter().flatten().collect();
    wait_for("cluster_state:fail", TIMEOUT, || {
        text(others[0], &["CLUSTER", "INFO"]).contains("cluster_state:fail")
    });
    std::thread::sleep(Duration::from_millis(4000));
    assert_eq!(
        role(&replica),
        "slave",
        "a replica with old data was promoted"
    );
    assert!(text(others[0], &["CLUSTER", "INFO"]).contains("cluster_state:fail"));
    // With the check off it takes over.
    let _: () = cmd(&["CONFIG", "SET", "cluster-replica-validity-factor", "0"])
        .query(&mut replica.conn())
        .unwrap();
    wait_for("the replica to take over", Duration::from_secs(15), || {
        role(&replica) == "master"
    });
    wait_for("cluster_state:ok", Duration::from_secs(15), || {
        text(others[0], &["CLUSTER", "INFO"]).contains("cluster_state:ok")
    });
}

#[test]
fn a_link_over_its_sendbuf_limit_is_closed() {
    let nodes: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    create(&all);
    let exceeded = |s: &Server| -> u64 {
        text(s, &["CLUSTER", "INFO"])
            .lines()
            .find_map(|l| l.strip_prefix("total_cluster_links_buffer_limit_exceeded:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(exceeded(all[0]), 0);
    // Smaller than one PING: every queued message passes it.
    let _: () = cmd(&["CONFIG", "SET", "cluster-link-sendbuf-limit", "100"])
        .query(&mut all[0].conn())
        .unwrap();
    wait_for("links closed for the limit", TIMEOUT, || {
        exceeded(all[0]) > 0
    });
    // Back to no limit: the links come back and the cluster agrees.
    let _: () = cmd(&["CONFIG", "SET", "cluster-link-sendbuf-limit", "0"])
        .query(&mut all[0].conn())
        .unwrap();
    wait_agree(&all);
}

#[test]
fn a_node_that_cannot_bind_its_bus_port_exits() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bus = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["10", redwing_bin(), "--port"])
        .arg(free_port().to_string())
        .args([
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &bus,
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "Failed listening on port {bus} (cluster), aborting."
        )),
        "{log}"
    );
}

#[test]
fn a_master_killed_under_writes_loses_no_acknowledged_key() {
    let mut nodes: Vec<Option<Server>> = (0..6)
        .map(|_| Some(node(true, &["--repl-diskless-sync-delay", "0"])))
        .collect();
    let victim_id = {
        let all: Vec<&Server> = nodes.iter().flatten().collect();
        create_with(&all, 1);
        myid(all.iter().find(|s| role(s) == "master").unwrap())
    };
    let entry = nodes
        .iter()
        .flatten()
        .find(|s| myid(s) != victim_id)
        .unwrap();
    let writer = Writer::start(entry, entry.dir.path());
    std::thread::sleep(Duration::from_millis(1500));
    let victim = nodes
        .iter()
        .position(|s| s.as_ref().is_some_and(|s| myid(s) == victim_id))
        .unwrap();
    // Replication is asynchronous, as Redis's: the master answers before
    // its replica has the write, so a write acknowledged in the instant
    // before the kill may be lost (Redis documents it; with a client
    // writing one key at a time it loses none in practice, and neither
    // does Redwing on a quiet machine: bench/cluster-ops). Redwing's
    // window is the control core's wake-up to send the stream (a few ms
    // when this 2-core machine is loaded). What must hold: nothing
    // acknowledged earlier than that is lost, nor anything after the kill
    // (the writer stamps an acknowledgement when it reads it, which can
    // be a little after the kill for a reply sent just before).
    let killed_at = monotonic();
    drop(nodes[victim].take());
    let alive: Vec<&Server> = nodes.iter().flatten().collect();
    for s in &alive {
        wait_for("cluster_state:ok again", Duration::from_secs(15), || {
            text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        });
    }
    std::thread::sleep(Duration::from_millis(500));
    let (acked, errors, missing) = writer.finish_timed();
    let ages: Vec<f64> = missing.iter().map(|(_, t)| killed_at - t).collect();
    eprintln!(
        "{acked} acknowledged, {errors} errors, {} missing, acknowledged {ages:?} s before the kill",
        missing.len()
    );
    assert!(acked > 500, "only {acked} writes");
    assert!(
        ages.iter().all(|&a| a.abs() < 0.05),
        "writes acknowledged more than 50 ms from the kill were lost: {ages:?} s"
    );
}

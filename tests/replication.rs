//! Replication, master side: Debian's `redis-server` 7.0 as a replica of a
//! Redwing master (`--threads 2`). Full sync of every type with keys on
//! both cores, the live stream (single-key, cross-core MSET, MULTI/EXEC,
//! EVAL), partial resync after the link is cut, WAIT, and INFO replication
//! / ROLE in the shape a redis-server master gives them.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::dataset::{fill_redis, redis_view};
use common::*;

const SYNC_LIMIT: Duration = Duration::from_secs(30);

/// Every key of every database and what it looks like from outside
/// (type, content, expiry time; encodings may differ between servers).
type Dataset = BTreeMap<(i64, Vec<u8>), (String, Vec<Vec<u8>>, i64)>;

fn dataset(c: &mut redis::Connection) -> Dataset {
    let mut all = BTreeMap::new();
    for db in 0..16 {
        q(c, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let v = redis_view(c, &k);
            all.insert((db, k), (v.ty, v.items, v.expire));
        }
    }
    q(c, &["SELECT", "0"]);
    all
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(c).unwrap()
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// A redis-server replica of `master`, waited for until its link is up.
fn redis_replica_of(master: &Server) -> Server {
    let port = master.port.to_string();
    let r = Server::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut c = r.conn();
    wait_for("the replica's link to come up", SYNC_LIMIT, || {
        field(&info(&mut c, "replication"), "master_link_status").as_deref() == Some("up")
    });
    r
}

fn wait_equal(master: &mut redis::Connection, replica: &mut redis::Connection, what: &str) {
    let mut last = (BTreeMap::new(), BTreeMap::new());
    let mut ok = false;
    for _ in 0..500 {
        let m = dataset(master);
        let r = dataset(replica);
        if m == r {
            ok = true;
            break;
        }
        last = (m, r);
        std::thread::sleep(Duration::from_millis(20));
    }
    if !ok {
        let (m, r) = last;
        let differ: Vec<_> = m
            .keys()
            .chain(r.keys())
            .filter(|k| m.get(*k) != r.get(*k))
            .take(5)
            .map(|k| {
                (
                    String::from_utf8_lossy(&k.1).into_owned(),
                    m.get(k),
                    r.get(k),
                )
            })
            .collect();
        panic!(
            "{what}: datasets differ (master {} keys, replica {}): {differ:?}",
            m.len(),
            r.len()
        );
    }
}

/// Writes of every kind the master journals: on each core, across cores
/// (split MSET, MULTI/EXEC, a script), in another database, with TTLs and
/// the commands rewritten for the stream (SPOP, INCRBYFLOAT, EXPIRE).
fn live_writes(master: &Server, tag: &str) {
    let (k0, k1) = keys_on_two_cores(&format!("{tag}:"));
    let mut c0 = master.conn_on_core(0);
    let mut c1 = master.conn_on_core(1);
    for (c, k) in [(&mut c0, &k0), (&mut c1, &k1)] {
        q(c, &["SET", k, "v"]);
        q(c, &["APPEND", k, "+more"]);
        q(c, &["RPUSH", &format!("{{{k}}}:l"), "a", "b", "c"]);
        q(c, &["INCRBYFLOAT", &format!("{{{k}}}:f"), "1.5"]);
        q(c, &["SADD", &format!("{{{k}}}:s"), "x", "y", "z"]);
        q(c, &["SPOP", &format!("{{{k}}}:s")]);
        q(c, &["HSET", &format!("{{{k}}}:h"), "f", "1"]);
        q(c, &["ZADD", &format!("{{{k}}}:z"), "1", "m"]);
        q(c, &["SET", &format!("{{{k}}}:ttl"), "t"]);
        q(c, &["EXPIRE", &format!("{{{k}}}:ttl"), "1000"]);
    }
    // Across cores, from each side.
    for c in [&mut c0, &mut c1] {
        q(c, &["MSET", &k0, "m0", &k1, "m1"]);
        let r: Vec<redis::Value> = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(format!("{k0}:n"))
            .cmd("INCR")
            .arg(format!("{k1}:n"))
            .cmd("RENAME")
            .arg(format!("{{{k0}}}:l"))
            .arg(format!("{{{k0}}}:l2"))
            .query(c)
            .unwrap();
        assert_eq!(r.len(), 3);
        q(
            c,
            &["RENAME", &format!("{{{k0}}}:l2"), &format!("{{{k0}}}:l")],
        );
        q(
            c,
            &[
                "EVAL",
                "redis.call('INCR', KEYS[1]); redis.call('INCR', KEYS[2]); return 1",
                "2",
                &format!("{k0}:e"),
                &format!("{k1}:e"),
            ],
        );
    }
    q(
        &mut c0,
        &["SMOVE", &format!("{{{k0}}}:s"), &format!("{{{k1}}}:s"), "x"],
    );
    q(
        &mut c0,
        &["DEL", &format!("{{{k1}}}:z"), &format!("{{{k0}}}:z")],
    );
    // Another database.
    q(&mut c1, &["SELECT", "3"]);
    q(&mut c1, &["SET", &k0, "db3"]);
    q(&mut c1, &["MSET", &k0, "db3a", &k1, "db3b"]);
}

#[test]
fn redis_replica_of_redwing_full_sync_stream_and_partial_resync() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    live_writes(&master, "before");
    let replica = redis_replica_of(&master);
    let mut r = replica.conn();
    wait_equal(&mut m, &mut r, "after the full sync");
    assert!(master
        .log_text()
        .contains("Full resync requested by replica"));
    assert!(master
        .log_text()
        .contains("Synchronization with replica 127.0.0.1:"));

    live_writes(&master, "live");
    wait_equal(&mut m, &mut r, "after live writes");
    assert_eq!(int(&mut m, &["WAIT", "1", "5000"]), 1);

    // Cut the link from the replica's side: it continues from the backlog.
    q(&mut r, &["CLIENT", "KILL", "TYPE", "master"]);
    live_writes(&master, "during-cut");
    wait_for("the partial resync", SYNC_LIMIT, || {
        field(&info(&mut m, "stats"), "sync_partial_ok").as_deref() == Some("1")
    });
    wait_equal(&mut m, &mut r, "after the partial resync");
    let stats = info(&mut m, "stats");
    assert_eq!(field(&stats, "sync_full").as_deref(), Some("1"));
    assert_eq!(field(&stats, "sync_partial_err").as_deref(), Some("0"));
    assert!(replica
        .log_text()
        .contains("Successful partial resynchronization with master"));
    assert!(master
        .log_text()
        .contains("Partial resynchronization request from 127.0.0.1:"));

    // The offsets agree once the replica has acknowledged everything.
    assert_eq!(int(&mut m, &["WAIT", "1", "5000"]), 1);
    let mi = info(&mut m, "replication");
    wait_for(
        "the replica's offset to reach the master's",
        SYNC_LIMIT,
        || {
            let mo = field(&info(&mut m, "replication"), "master_repl_offset");
            let ro = field(&info(&mut r, "replication"), "slave_repl_offset");
            mo.is_some() && mo == ro
        },
    );
    assert_eq!(field(&mi, "connected_slaves").as_deref(), Some("1"));
    assert_eq!(
        field(&mi, "master_replid"),
        field(&info(&mut r, "replication"), "master_replid")
    );
}

#[test]
fn full_sync_through_a_file_when_diskless_sync_is_off() {
    let master = Server::start(&["--repl-diskless-sync", "no"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    let replica = redis_replica_of(&master);
    let mut r = replica.conn();
    wait_equal(&mut m, &mut r, "after the disk sync");
    assert!(master
        .log_text()
        .contains("Starting BGSAVE for SYNC with target: disk"));
    live_writes(&master, "live");
    wait_equal(&mut m, &mut r, "after live writes");
}

#[test]
fn wait_counts_acknowledging_replicas_and_times_out_without_them() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    q(&mut m, &["SET", "k", "v"]);
    let t = std::time::Instant::now();
    assert_eq!(int(&mut m, &["WAIT", "1", "200"]), 0);
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(int(&mut m, &["WAIT", "0", "0"]), 0);
    assert_eq!(q(&mut m, &["WAIT", "1", "-1"]), "-ERR timeout is negative");
    let _replica = redis_replica_of(&master);
    for core in 0..2 {
        let mut c = master.conn_on_core(core);
        q(&mut c, &["SET", &format!("w{core}"), "v"]);
        assert_eq!(int(&mut c, &["WAIT", "1", "5000"]), 1);
    }
}

/// Field names of INFO replication, with a slave line's subfield names.
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            if k.starts_with("slave") && v.contains('=') {
                let subs: Vec<&str> = v.split(',').map(|p| p.split('=').next().unwrap()).collect();
                format!("{k}:{}", subs.join(","))
            } else {
                k.to_string()
            }
        })
        .collect()
}

#[test]
fn info_replication_and_role_as_a_redis_master_shows_them() {
    let ours = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let theirs = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    for s in [&ours, &theirs] {
        let mut c = s.conn();
        q(&mut c, &["SET", "k", "v"]);
    }
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    // Before any replica: same fields and values but the id.
    let (ia, ib) = (info(&mut a, "replication"), info(&mut b, "replication"));
    assert_eq!(shape(&ia), shape(&ib));
    for f in [
        "master_repl_offset",
        "repl_backlog_active",
        "repl_backlog_histlen",
        "second_repl_offset",
    ] {
        assert_eq!(field(&ia, f), field(&ib, f), "{f}");
    }
    let ra = redis_replica_of(&ours);
    let rb = redis_replica_of(&theirs);
    for (c, rc) in [(&mut a, ra.conn()), (&mut b, rb.conn())] {
        let mut rc = rc;
        q(c, &["SET", "k2", "v2"]);
        assert_eq!(int(c, &["WAIT", "1", "5000"]), 1);
        let _ = q(&mut rc, &["PING"]);
    }
    let (ia, ib) = (info(&mut a, "replication"), info(&mut b, "replication"));
    assert_eq!(shape(&ia), shape(&ib));
    for f in [
        "role",
        "connected_slaves",
        "repl_backlog_active",
        "repl_backlog_first_byte_offset",
    ] {
        assert_eq!(field(&ia, f), field(&ib, f), "{f}");
    }
    assert_eq!(field(&ia, "master_replid").unwrap().len(), 40);
    // ROLE: master, the offset as an integer, [ip, port, offset] as bulks:
    // the same RESP once numbers are blanked out.
    let role_shape = |s: &Server| -> String {
        let raw = RawClient::new(s).call_bytes(&["ROLE"]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut out = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                if !out.ends_with('N') {
                    out.push('N');
                }
            } else {
                out.push(ch);
            }
        }
        out
    };
    assert_eq!(role_shape(&ours), role_shape(&theirs));
    let sa = info(&mut a, "stats");
    let sb = info(&mut b, "stats");
    for f in ["sync_full", "sync_partial_ok", "sync_partial_err"] {
        assert_eq!(field(&sa, f), field(&sb, f), "{f}");
    }
}

#[test]
fn sync_commands_are_in_command_info() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    for name in ["sync", "psync", "replconf", "role", "wait"] {
        let v: redis::Value = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(name)
            .query(&mut c)
            .unwrap();
        assert!(
            matches!(&v, redis::Value::Array(items) if matches!(items.first(), Some(redis::Value::Array(_)))),
            "{name}: {v:?}"
        );
    }
}

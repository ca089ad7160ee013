//! Replication, master side: Debian's `redis-server` 7.0 as a replica of a
//! Redwing master (`--threads 2`). Full sync of every type with keys on
//! both cores, the live stream (single-key, cross-core MSET, MULTI/EXEC,
//! EVAL), partial resync after the link is cut, WAIT, and INFO replication
//! / ROLE in the shape a redis-server master gives them.

mod common;

use std::time::Duration;

use common::dataset::fill_redis;
use common::repl::*;
use common::*;

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

#[test]
fn min_replicas_to_write_refuses_writes_as_redis_does() {
    let ours = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let theirs = Server::redis(&[]);
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    for c in [&mut a, &mut b] {
        assert_eq!(q(c, &["CONFIG", "SET", "min-replicas-to-write", "1"]), "ok");
        assert_eq!(q(c, &["CONFIG", "SET", "min-replicas-max-lag", "10"]), "ok");
    }
    let refused = "-NOREPLICAS Not enough good replicas to write.";
    assert_eq!(q(&mut b, &["SET", "k", "v"]), refused);
    for core in 0..2 {
        let mut c = ours.conn_on_core(core);
        assert_eq!(q(&mut c, &["SET", "k", "v"]), refused);
        assert_eq!(q(&mut c, &["GET", "k"]), "nil");
    }
    for c in [&mut a, &mut b] {
        let i = info(c, "replication");
        assert_eq!(field(&i, "min_slaves_good_slaves").as_deref(), Some("0"));
        // The field follows connected_slaves, as in Redis.
        assert!(i.contains("connected_slaves:0\r\nmin_slaves_good_slaves:0\r\n"));
    }
    // A replica online: writes go through (on both cores).
    let replica = redis_replica_of(&ours);
    wait_for("writes accepted again", SYNC_LIMIT, || {
        q(&mut a, &["SET", "k", "v"]) == "ok"
    });
    for core in 0..2 {
        let mut c = ours.conn_on_core(core);
        assert_eq!(q(&mut c, &["SET", &format!("k{core}"), "v"]), "ok");
    }
    assert_eq!(
        field(&info(&mut a, "replication"), "min_slaves_good_slaves").as_deref(),
        Some("1")
    );
    // The replica gone: refused again.
    drop(replica);
    wait_for("writes refused again", SYNC_LIMIT, || {
        q(&mut a, &["SET", "k", "v"]) == refused
    });
    // Off: accepted, and the field is gone.
    q(&mut a, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    assert_eq!(q(&mut a, &["SET", "k", "v"]), "ok");
    assert_eq!(
        field(&info(&mut a, "replication"), "min_slaves_good_slaves"),
        None
    );
    q(&mut b, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    for name in ["min-slaves-to-write", "min-replicas-max-lag"] {
        assert_eq!(
            q(&mut a, &["CONFIG", "GET", name]),
            q(&mut b, &["CONFIG", "GET", name])
        );
    }
}

/// One writer's keys: a counter on each core and a list.
fn writer_keys(i: usize) -> (String, String, String) {
    let (k0, k1) = keys_on_two_cores(&format!("load{i}:"));
    let list = format!("{{{k1}}}:list");
    (k0, k1, list)
}

#[test]
fn a_replica_under_load_shows_only_states_the_master_passed_through() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let replica = redwing_replica_of(master.port, &[]);
    let mut r = replica.conn();
    let stop = Arc::new(AtomicBool::new(false));
    // Each writer, in order: INCR its core-0 counter, INCR its core-1
    // counter, RPUSH the step to its list. Any state the master passes
    // through has a >= b >= len >= a - 1, and the list holds 0..len.
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let stop = stop.clone();
            let mut c = master.conn_on_core(i % 2);
            std::thread::spawn(move || {
                let (a, b, l) = writer_keys(i);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    q(&mut c, &["INCR", &a]);
                    q(&mut c, &["INCR", &b]);
                    q(&mut c, &["RPUSH", &l, &n.to_string()]);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let mut checks = 0;
    let mut readers: Vec<redis::Connection> =
        (0..2).map(|core| replica.conn_on_core(core)).collect();
    while std::time::Instant::now() < deadline {
        for c in readers.iter_mut() {
            for i in 0..4 {
                let (a, b, l) = writer_keys(i);
                let (va, vb, len, last): (Option<i64>, Option<i64>, i64, Vec<i64>) = redis::pipe()
                    .atomic()
                    .cmd("GET")
                    .arg(&a)
                    .cmd("GET")
                    .arg(&b)
                    .cmd("LLEN")
                    .arg(&l)
                    .cmd("LRANGE")
                    .arg(&l)
                    .arg(-1)
                    .arg(-1)
                    .query(c)
                    .unwrap();
                let (va, vb) = (va.unwrap_or(0), vb.unwrap_or(0));
                assert!(
                    va >= vb && vb >= len && len >= va - 1,
                    "writer {i}: a={va} b={vb} len={len}: a state the master never had"
                );
                assert_eq!(last, if len > 0 { vec![len - 1] } else { vec![] });
                checks += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let steps: u64 = writers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(
        steps > 100 && checks > 100,
        "steps {steps}, checks {checks}"
    );
    let mut m = master.conn();
    wait_equal(&mut m, &mut r, "after the load");
}

fn role_of(c: &mut redis::Connection) -> String {
    field(&info(c, "replication"), "role").unwrap()
}

fn signal(s: &Server, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &s.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn failover_errors_are_redis_errors() {
    let ours = Server::start(&[]);
    let theirs = Server::redis(&[]);
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    for args in [
        &["FAILOVER", "ABORT"][..],
        &["FAILOVER"],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "x"],
        &["FAILOVER", "TO", "h", "p"],
        &["FAILOVER", "FORCE", "FORCE"],
        &["FAILOVER", "ABORT", "FORCE"],
        &["FAILOVER", "BOGUS"],
    ] {
        assert_eq!(q(&mut a, args), q(&mut b, args), "{args:?}");
    }
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let _replica = redis_replica_of(&master);
    let mut m = master.conn();
    for (args, err) in [
        (
            &["FAILOVER", "FORCE"][..],
            "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
        (
            &["FAILOVER", "TO", "127.0.0.1", "1"],
            "-ERR FAILOVER target HOST and PORT is not a replica.",
        ),
    ] {
        assert_eq!(q(&mut m, args), err);
    }
    assert_eq!(
        field(&info(&mut m, "replication"), "master_failover_state").as_deref(),
        Some("no-failover")
    );
}

#[test]
fn failover_hands_the_master_role_to_a_replica() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    let target = redwing_replica_of(master.port, &[]);
    let mut t = target.conn();
    let other = redis_replica_of(&master);
    let mut o = other.conn();
    live_writes(&master, "before");
    assert_eq!(
        q(
            &mut m,
            &["FAILOVER", "TO", "127.0.0.1", &target.port.to_string()]
        ),
        "ok"
    );
    wait_for("the handover", SYNC_LIMIT, || {
        role_of(&mut t) == "master"
            && field(&info(&mut m, "replication"), "master_link_status").as_deref() == Some("up")
    });
    assert_eq!(role_of(&mut m), "slave");
    assert_eq!(
        field(&info(&mut m, "replication"), "master_failover_state").as_deref(),
        Some("no-failover")
    );
    // The old master continued partially from the new one.
    let stats = info(&mut t, "stats");
    assert_eq!(field(&stats, "sync_full").as_deref(), Some("0"));
    assert_eq!(field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    for core in 0..2 {
        let mut c = master.conn_on_core(core);
        assert!(q(&mut c, &["SET", "k", "v"]).starts_with("-READONLY"));
    }
    // The new master's writes reach the old one, and through it its
    // redis-server replica (a chain now).
    live_writes(&target, "after");
    wait_equal(&mut t, &mut m, "the old master after the failover");
    wait_equal(&mut t, &mut o, "the chained replica after the failover");
    let log = master.log_text();
    assert!(log.contains("FAILOVER requested to 127.0.0.1:"));
    assert!(log.contains("is synced, failing over."));
    assert!(target
        .log_text()
        .contains("Failover request received for replid"));
}

#[test]
fn failover_pauses_writes_then_aborts_or_forces_at_its_timeout() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let target = redwing_replica_of(master.port, &[]);
    let mut m = master.conn();
    // A stopped replica never catches up.
    signal(&target, "-STOP");
    q(&mut m, &["SET", "k", "1"]);
    assert_eq!(q(&mut m, &["FAILOVER", "TIMEOUT", "500"]), "ok");
    assert_eq!(
        field(&info(&mut m, "replication"), "master_failover_state").as_deref(),
        Some("waiting-for-sync")
    );
    assert_eq!(
        q(&mut m, &["FAILOVER"]),
        "-ERR FAILOVER already in progress."
    );
    // Writes wait (on both cores) until the failover ends; reads do not.
    let started = std::time::Instant::now();
    let writers: Vec<_> = (0..2)
        .map(|core| {
            let mut c = master.conn_on_core(core);
            std::thread::spawn(move || q(&mut c, &["SET", &format!("w{core}"), "v"]))
        })
        .collect();
    let v: String = redis::cmd("GET").arg("k").query(&mut m).unwrap();
    assert_eq!(v, "1");
    for w in writers {
        assert_eq!(w.join().unwrap(), "ok");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert!(master
        .log_text()
        .contains("FAILOVER to any replica aborted: Replica never caught up before timeout"));
    assert_eq!(role_of(&mut m), "master");

    // ABORT while waiting.
    assert_eq!(q(&mut m, &["FAILOVER"]), "ok");
    assert_eq!(q(&mut m, &["FAILOVER", "ABORT"]), "ok");
    assert_eq!(q(&mut m, &["SET", "k", "2"]), "ok");

    // FORCE: at the timeout it hands over anyway.
    let port = target.port.to_string();
    assert_eq!(
        q(
            &mut m,
            &[
                "FAILOVER",
                "TO",
                "127.0.0.1",
                &port,
                "TIMEOUT",
                "300",
                "FORCE"
            ]
        ),
        "ok"
    );
    wait_for("the forced handover", SYNC_LIMIT, || {
        role_of(&mut m) == "slave"
    });
    signal(&target, "-CONT");
    let mut t = target.conn();
    wait_for("the new master", SYNC_LIMIT, || {
        role_of(&mut t) == "master"
            && field(&info(&mut m, "replication"), "master_link_status").as_deref() == Some("up")
    });
    assert!(master
        .log_text()
        .contains("time out exceeded, failing over."));
    q(&mut t, &["SET", "after", "x"]);
    wait_equal(&mut t, &mut m, "after the forced failover");
}

//! Replication, replica side: a Redwing replica (`--threads 2`) of a
//! Redwing master and of Debian's `redis-server` 7.0 master. Full sync of
//! every type, the live stream (keys on both of the replica's cores,
//! cross-core MSET, MULTI/EXEC, scripts, another database), partial resync
//! after `CLIENT KILL TYPE master`, READONLY and MASTERDOWN, INFO
//! replication and ROLE in the shape a redis-server replica gives them,
//! and REPLICAOF NO ONE continuing other replicas partially.

mod common;

use common::dataset::fill_redis;
use common::repl::*;
use common::*;

/// Waits until the replica has applied everything the master streamed.
fn wait_offsets(m: &mut redis::Connection, r: &mut redis::Connection) {
    wait_for(
        "the replica's offset to reach the master's",
        SYNC_LIMIT,
        || {
            let mo = field(&info(m, "replication"), "master_repl_offset");
            let ro = field(&info(r, "replication"), "slave_repl_offset");
            mo.is_some() && mo == ro
        },
    );
}

/// Writes of every kind through one connection of any server (for a
/// redis-server master): keys on both of a Redwing replica's cores, and
/// what Redis streams for cross-key work (MSET, MULTI/EXEC, a script).
fn writes(c: &mut redis::Connection, tag: &str) {
    let (k0, k1) = keys_on_two_cores(&format!("{tag}:"));
    for k in [&k0, &k1] {
        q(c, &["SET", k, "v"]);
        q(c, &["RPUSH", &format!("{k}:l"), "a", "b"]);
        q(c, &["INCRBYFLOAT", &format!("{k}:f"), "1.5"]);
        q(c, &["SADD", &format!("{k}:s"), "x", "y"]);
        q(c, &["SPOP", &format!("{k}:s")]);
        q(c, &["HSET", &format!("{k}:h"), "f", "1"]);
        q(c, &["ZADD", &format!("{k}:z"), "1", "m"]);
        q(c, &["SET", &format!("{k}:ttl"), "t", "EX", "1000"]);
    }
    q(c, &["MSET", &k0, "m0", &k1, "m1"]);
    let r: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg(format!("{k0}:n"))
        .cmd("INCR")
        .arg(format!("{k1}:n"))
        .cmd("DEL")
        .arg(format!("{k0}:z"))
        .query(c)
        .unwrap();
    assert_eq!(r.len(), 3);
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
    q(c, &["SELECT", "3"]);
    q(c, &["MSET", &k0, "db3a", &k1, "db3b"]);
    q(c, &["SELECT", "0"]);
}

#[test]
fn redwing_replica_of_redwing_master_every_type_and_cross_core_writes() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    live_writes(&master, "before");
    let replica = redwing_replica_of(master.port, &[]);
    let mut r = replica.conn();
    wait_equal(&mut m, &mut r, "after the full sync");
    live_writes(&master, "live");
    wait_equal(&mut m, &mut r, "after live writes");
    wait_offsets(&mut m, &mut r);
    let (mi, ri) = (info(&mut m, "replication"), info(&mut r, "replication"));
    assert_eq!(field(&mi, "master_replid"), field(&ri, "master_replid"));
    assert_eq!(field(&mi, "connected_slaves").as_deref(), Some("1"));
    let log = replica.log_text();
    for line in [
        "Connecting to MASTER 127.0.0.1:",
        "MASTER <-> REPLICA sync started",
        "Full resync from master:",
        "MASTER <-> REPLICA sync: Loading DB in memory",
        "MASTER <-> REPLICA sync: Finished with success",
    ] {
        assert!(log.contains(line), "{line}");
    }
    // As Redis, a replica's log lines carry the role letter S.
    let sync = log.lines().find(|l| l.contains("sync started")).unwrap();
    assert!(sync.contains(":S "), "{sync}");
    // Writes are refused on both cores, also queued in MULTI.
    for core in 0..2 {
        let mut c = replica.conn_on_core(core);
        assert_eq!(
            q(&mut c, &["SET", "k", "v"]),
            "-READONLY You can't write against a read only replica."
        );
        q(&mut c, &["MULTI"]);
        assert!(q(&mut c, &["INCR", "k"]).starts_with("-READONLY"));
        assert!(q(&mut c, &["EXEC"]).starts_with("-EXECABORT"));
        assert_eq!(q(&mut c, &["GET", "before:nothing"]), "nil");
    }
    assert!(q(&mut r, &["WAIT", "1", "10"]).starts_with("-ERR WAIT cannot be used with replica"));
}

#[test]
fn redwing_replica_of_redis_master_full_sync_stream_and_partial_resync() {
    let master = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    writes(&mut m, "before");
    let replica = Server::start(&[]);
    let mut r = replica.conn();
    assert_eq!(
        q(
            &mut r,
            &["REPLICAOF", "127.0.0.1", &master.port.to_string()]
        ),
        "ok"
    );
    // The sync may already be loading the snapshot: as in Redis, SLAVEOF
    // is not served while loading (-LOADING), so ask until it is served.
    let port = master.port.to_string();
    let mut again = String::new();
    wait_for("SLAVEOF served", std::time::Duration::from_secs(10), || {
        again = q(&mut r, &["SLAVEOF", "127.0.0.1", &port]);
        !again.starts_with("-LOADING")
    });
    assert_eq!(
        again,
        "simple-string(\"OK Already connected to specified master\")"
    );
    wait_link_up(&replica);
    wait_equal(&mut m, &mut r, "after the full sync");
    writes(&mut m, "live");
    wait_equal(&mut m, &mut r, "after live writes");
    assert_eq!(int(&mut m, &["WAIT", "1", "5000"]), 1);

    // Cut the link from the replica's side: it continues from the backlog.
    // (The first PSYNC offered the replica's own id, as a Redis master
    // turned replica does: that counted as a refused partial resync.)
    let refused = field(&info(&mut m, "stats"), "sync_partial_err");
    assert_eq!(int(&mut r, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    writes(&mut m, "during-cut");
    wait_for("the partial resync", SYNC_LIMIT, || {
        field(&info(&mut m, "stats"), "sync_partial_ok").as_deref() == Some("1")
    });
    wait_equal(&mut m, &mut r, "after the partial resync");
    let stats = info(&mut m, "stats");
    assert_eq!(field(&stats, "sync_full").as_deref(), Some("1"));
    assert_eq!(field(&stats, "sync_partial_err"), refused);
    assert!(replica
        .log_text()
        .contains("Successful partial resynchronization with master."));
    // WAIT on the master counts the replica's ACKs (GETACK answered).
    assert_eq!(int(&mut m, &["WAIT", "1", "5000"]), 1);
    wait_offsets(&mut m, &mut r);
}

/// Field names of INFO replication (values differ between two servers).
fn names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(':').unwrap().0.to_string())
        .collect()
}

/// A reply with every number blanked out (ports and offsets differ).
fn role_shape(s: &Server) -> String {
    let raw = RawClient::new(s).call_bytes(&["ROLE"]);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut out = String::new();
    for ch in text.chars() {
        if !ch.is_ascii_digit() {
            out.push(ch);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

#[test]
fn info_replication_role_and_stale_data_as_a_redis_replica_shows_them() {
    let master = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    let ours = Server::start(&[]);
    let theirs = Server::redis(&[]);
    let dead = free_port().to_string();
    for s in [&ours, &theirs] {
        let mut c = s.conn();
        q(&mut c, &["SET", "k", "v"]);
        q(&mut c, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
        q(&mut c, &["REPLICAOF", "127.0.0.1", &dead]);
    }
    // A master that cannot be reached: the link is down, data is stale.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    let (ia, ib) = (info(&mut a, "replication"), info(&mut b, "replication"));
    assert_eq!(names(&ia), names(&ib), "{ia}\n{ib}");
    for f in [
        "role",
        "master_link_status",
        "slave_repl_offset",
        "slave_read_only",
    ] {
        assert_eq!(field(&ia, f), field(&ib, f), "{f}");
    }
    assert_eq!(q(&mut a, &["GET", "k"]), q(&mut b, &["GET", "k"]));
    assert!(q(&mut a, &["GET", "k"]).starts_with("-MASTERDOWN"));
    for opt in [
        "replicaof",
        "replica-serve-stale-data",
        "replica-read-only",
        "masterauth",
        "masteruser",
        "replica-priority",
        "replica-announce-ip",
        "replica-announce-port",
        "repl-timeout",
    ] {
        assert_eq!(
            q(&mut a, &["CONFIG", "GET", opt]).replace(&dead, "P"),
            q(&mut b, &["CONFIG", "GET", opt]).replace(&dead, "P"),
            "{opt}"
        );
    }
    // Linked to a live master: the same fields again, and ROLE.
    let port = master.port.to_string();
    for (s, c) in [(&ours, &mut a), (&theirs, &mut b)] {
        q(c, &["REPLICAOF", "127.0.0.1", &port]);
        wait_link_up(s);
    }
    let mut mc = master.conn();
    q(&mut mc, &["SET", "k2", "v2"]);
    assert_eq!(int(&mut mc, &["WAIT", "2", "5000"]), 2);
    let (ia, ib) = (info(&mut a, "replication"), info(&mut b, "replication"));
    assert_eq!(names(&ia), names(&ib), "{ia}\n{ib}");
    for f in [
        "master_link_status",
        "master_sync_in_progress",
        "slave_repl_offset",
        "master_replid",
        "master_repl_offset",
    ] {
        assert_eq!(field(&ia, f), field(&ib, f), "{f}");
    }
    assert_eq!(role_shape(&ours), role_shape(&theirs));
    assert_eq!(q(&mut a, &["GET", "k2"]), q(&mut b, &["GET", "k2"]));
    // The master goes away: both count the seconds since the link went
    // down (-1 means never connected), also after REPLICAOF elsewhere.
    drop(mc);
    drop(master);
    let down_since = |c: &mut redis::Connection| -> i64 {
        let i = info(c, "replication");
        field(&i, "master_link_down_since_seconds").map_or(-2, |v| v.parse().unwrap())
    };
    for c in [&mut a, &mut b] {
        wait_for(
            "the link to go down",
            std::time::Duration::from_secs(10),
            || down_since(c) >= 0,
        );
        q(c, &["REPLICAOF", "127.0.0.1", &dead]);
        assert!(down_since(c) >= 0, "still counting after REPLICAOF");
    }
}

#[test]
fn replicaof_no_one_promotes_and_other_replicas_continue_partially() {
    let master = Server::redis(&[
        "--repl-diskless-sync-delay",
        "0",
        "--repl-ping-replica-period",
        "60",
    ]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    let ours = redwing_replica_of(master.port, &[]);
    let theirs = redis_replica_of(&master);
    writes(&mut m, "live");
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    wait_offsets(&mut m, &mut a);
    wait_offsets(&mut m, &mut b);
    let old = field(&info(&mut m, "replication"), "master_replid").unwrap();
    let off: i64 = field(&info(&mut a, "replication"), "slave_repl_offset")
        .unwrap()
        .parse()
        .unwrap();

    assert_eq!(q(&mut a, &["REPLICAOF", "NO", "ONE"]), "ok");
    let ia = info(&mut a, "replication");
    assert_eq!(field(&ia, "role").as_deref(), Some("master"));
    assert_eq!(field(&ia, "master_replid2"), Some(old));
    assert_eq!(
        field(&ia, "second_repl_offset"),
        Some((off + 1).to_string())
    );
    assert_eq!(q(&mut a, &["SET", "promoted", "yes"]), "ok");

    // The old master's other replica follows the promoted one from where
    // it was: a partial resync.
    q(&mut b, &["REPLICAOF", "127.0.0.1", &ours.port.to_string()]);
    wait_for("the partial resync", SYNC_LIMIT, || {
        field(&info(&mut a, "stats"), "sync_partial_ok").as_deref() == Some("1")
    });
    assert_eq!(
        field(&info(&mut a, "stats"), "sync_full").as_deref(),
        Some("0")
    );
    wait_equal(&mut a, &mut b, "after the promotion");
}

/// master_repl_offset of a server (a replica's follows its master's).
fn repl_offset(c: &mut redis::Connection) -> i64 {
    field(&info(c, "replication"), "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits until `sub` (a replica of a replica) has applied and relays
/// everything the top master streamed.
fn wait_chain_offsets(m: &mut redis::Connection, sub: &mut redis::Connection) {
    wait_for("the chain to reach the master's offset", SYNC_LIMIT, || {
        let mo = field(&info(m, "replication"), "master_repl_offset");
        let so = field(&info(sub, "replication"), "slave_repl_offset");
        mo.is_some() && mo == so
    });
}

#[test]
fn chained_replicas_relay_the_masters_stream_and_resync_partially() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    live_writes(&master, "before");
    let mid = redwing_replica_of(master.port, &["--repl-diskless-sync-delay", "0"]);
    let sub = redwing_replica_of(mid.port, &[]);
    let (mut a, mut b) = (mid.conn(), sub.conn());
    wait_equal(&mut m, &mut b, "after the chain's full syncs");
    live_writes(&master, "live");
    wait_equal(&mut m, &mut b, "after live writes");
    wait_chain_offsets(&mut m, &mut b);
    // One history down the chain: the master's replid and offsets.
    let id = field(&info(&mut m, "replication"), "master_replid");
    for c in [&mut a, &mut b] {
        let i = info(c, "replication");
        assert_eq!(field(&i, "master_replid"), id);
        assert_eq!(
            field(&i, "master_repl_offset"),
            Some(repl_offset(&mut m).to_string())
        );
    }
    assert_eq!(
        field(&info(&mut a, "replication"), "connected_slaves").as_deref(),
        Some("1")
    );
    assert!(info(&mut a, "replication").contains("slave0:ip=127.0.0.1,port="));
    assert!(q(&mut b, &["SET", "k", "v"]).starts_with("-READONLY"));

    // The sub-replica's link cut: it continues from the middle one's backlog.
    assert_eq!(int(&mut b, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    live_writes(&master, "cut-low");
    wait_for("the sub-replica's partial resync", SYNC_LIMIT, || {
        field(&info(&mut a, "stats"), "sync_partial_ok").as_deref() == Some("1")
    });
    wait_equal(&mut m, &mut b, "after the sub-replica's partial resync");

    // The middle link cut: it continues from the master, and so does the
    // sub-replica, still attached.
    assert_eq!(int(&mut a, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    live_writes(&master, "cut-mid");
    wait_for("the middle replica's partial resync", SYNC_LIMIT, || {
        field(&info(&mut m, "stats"), "sync_partial_ok").as_deref() == Some("1")
    });
    wait_equal(&mut m, &mut b, "after the middle replica's partial resync");
    wait_chain_offsets(&mut m, &mut b);
    for c in [&mut m, &mut a] {
        assert_eq!(field(&info(c, "stats"), "sync_full").as_deref(), Some("1"));
    }
    assert_eq!(int(&mut m, &["WAIT", "1", "5000"]), 1);
}

#[test]
fn chains_mixing_redis_server_both_ways() {
    // Redwing master -> redis-server replica -> Redwing sub-replica.
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    let theirs = redis_replica_of(&master);
    let sub = redwing_replica_of(theirs.port, &[]);
    let mut b = sub.conn();
    live_writes(&master, "live");
    wait_equal(&mut m, &mut b, "Redwing -> redis -> Redwing");
    wait_chain_offsets(&mut m, &mut b);

    // redis-server master -> Redwing replica -> redis-server sub-replica.
    let rmaster = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    let mut rm = rmaster.conn();
    fill_redis(&mut rm, false);
    let ours = redwing_replica_of(rmaster.port, &["--repl-diskless-sync-delay", "0"]);
    let rsub = redis_replica_of(&ours);
    let (mut a, mut rb) = (ours.conn(), rsub.conn());
    writes(&mut rm, "live");
    wait_equal(&mut rm, &mut rb, "redis -> Redwing -> redis");
    wait_chain_offsets(&mut rm, &mut rb);
    // The redis-server sub-replica continues partially from ours.
    q(&mut rb, &["CLIENT", "KILL", "TYPE", "master"]);
    writes(&mut rm, "cut");
    wait_for("the partial resync", SYNC_LIMIT, || {
        field(&info(&mut a, "stats"), "sync_partial_ok").as_deref() == Some("1")
    });
    wait_equal(&mut rm, &mut rb, "after the partial resync");
    assert_eq!(
        field(&info(&mut a, "stats"), "sync_full").as_deref(),
        Some("1")
    );
}

#[test]
fn restarted_replica_resyncs_partially_from_its_dump() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let port = master.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port, "--dir", &d];
    {
        let mut replica = Server::start(&args);
        wait_link_up(&replica);
        let mut r = replica.conn();
        live_writes(&master, "before");
        wait_equal(&mut m, &mut r, "before the restart");
        wait_offsets(&mut m, &mut r);
        let _ = cmd(&["SHUTDOWN"]).query::<redis::Value>(&mut r);
        wait_for("exit", SYNC_LIMIT, || {
            replica.child.try_wait().unwrap().is_some()
        });
    }
    live_writes(&master, "while-down");
    let replica = Server::start(&args);
    wait_link_up(&replica);
    let mut r = replica.conn();
    wait_equal(&mut m, &mut r, "after the restart");
    let stats = info(&mut m, "stats");
    assert_eq!(field(&stats, "sync_full").as_deref(), Some("1"));
    assert_eq!(field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    assert!(replica
        .log_text()
        .contains("Successful partial resynchronization with master."));
}

#[test]
fn a_replica_hides_expired_keys_until_its_master_deletes_them() {
    // The master expires lazily only (no active expiry for the test's keys
    // while nobody touches them): hz 1 keeps its active cycle rare.
    let master = Server::start(&["--repl-diskless-sync-delay", "0", "--hz", "1"]);
    let replica = redwing_replica_of(master.port, &[]);
    let (k0, k1) = keys_on_two_cores("exp:");
    let mut m = master.conn();
    for k in [&k0, &k1] {
        q(&mut m, &["SET", k, "v", "PX", "300"]);
    }
    let mut r = replica.conn();
    wait_offsets(&mut m, &mut r);
    std::thread::sleep(std::time::Duration::from_millis(400));
    for core in 0..2 {
        let mut c = replica.conn_on_core(core);
        for k in [&k0, &k1] {
            assert_eq!(q(&mut c, &["GET", k]), "nil");
            assert_eq!(int(&mut c, &["EXISTS", k]), 0);
            assert_eq!(int(&mut c, &["TTL", k]), -2);
        }
        // Still there, as in Redis: DBSIZE counts them.
        assert_eq!(int(&mut c, &["DBSIZE"]), 2);
    }
    assert_eq!(
        field(&info(&mut r, "stats"), "expired_keys").as_deref(),
        Some("0")
    );
    // The master's lookup expires them and streams DELs.
    for k in [&k0, &k1] {
        assert_eq!(q(&mut m, &["GET", k]), "nil");
    }
    wait_for("the master's DELs", SYNC_LIMIT, || {
        int(&mut r, &["DBSIZE"]) == 0
    });
}
